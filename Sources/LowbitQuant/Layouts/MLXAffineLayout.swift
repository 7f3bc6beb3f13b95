import LowbitFormats

/// MLX affine: `X.weight` (packed U32 codes), `X.scales`, `X.biases` (see ``MLXLayout``).
public struct MLXAffineLayout: WeightLayout {
    /// The quantizer (with MLX's convention) that writes codes, scales and biases.
    public let quantizer: IntGroupQuantizer

    /// The layout of `quantizer`'s weights.
    public init(_ quantizer: IntGroupQuantizer) {
        self.quantizer = quantizer
    }

    /// The name plans and summaries print.
    public var name: String { "MLX_INT\(quantizer.bits)_G\(quantizer.groupSize)" }
    /// Whether values are quantized (lossy beyond a float cast).
    public var isQuantized: Bool { true }
    /// What the layout adds to `config.json`.
    public var configEntry: LayoutConfigEntry? { .mlx(MLXLayout.quantizationConfig(quantizer)) }

    /// This layout, or one with a smaller group size when the requested one does not divide
    /// the rows (nil when no standard size does).
    public func fitted(toRowLength rowLength: Int) -> LayoutFit {
        let (fitted, note) = quantizer.fitted(toRowLength: rowLength)
        guard let fitted else { return .doesNotFit(reason: note) }
        return .fits(MLXAffineLayout(fitted), note: fitted.groupSize == quantizer.groupSize ? nil : note)
    }

    /// The output tensors of the weight `name`, in the order they are written.
    public func plan(name: String, rows: Int, columns: Int, shape: [Int]) -> [PlannedTensor] {
        MLXLayout.plan(prefix: CompressedTensorsLayout.prefix(of: name), rows: rows, columns: columns, quantizer: quantizer)
    }

    /// Encodes a strip of whole rows into the bytes of the first planned tensor.
    public func encode(_ values: [Float], rowLength: Int, tensorAbsmax: Float?, importance: [Float]?, name: String,
                       trailer: inout LayoutTrailer) throws -> EncodedStrip {
        IntGroupStrip.encode(values, rowLength: rowLength, quantizer: quantizer, importance: importance,
                             trailer: &trailer)
    }

    /// The trailing tensors' bytes (scales, shape, zero points or biases).
    public func finish(_ trailer: LayoutTrailer, rows: Int, columns: Int) -> [[UInt8]] {
        [quantizer.scaleFormat.encode(trailer.scales), quantizer.scaleFormat.encode(trailer.offsets)]
    }

    /// `X.weight` in U32 with `X.scales` and `X.biases` beside it; the bit width is the
    /// checkpoint's ``StoredCheckpoint/mlxBits`` (the words do not record it), the group size
    /// follows from the scales' shape.
    public static func recognise(_ tensor: TensorInfo, in checkpoint: StoredCheckpoint) throws -> StoredWeight? {
        guard tensor.name.hasSuffix(".weight"), tensor.type == .safetensors(.U32) else { return nil }
        let prefix = CompressedTensorsLayout.prefix(of: tensor.name)
        guard let scales = checkpoint.part(prefix + ".scales"), let biases = checkpoint.part(prefix + ".biases") else { return nil }
        let bits = checkpoint.mlxBits ?? 4
        guard (2...8).contains(bits) else {
            throw checkpoint.badParts(tensor.name, "MLX weights of \(bits) bits cannot be read")
        }
        let rows = tensor.rowCount, columns = tensor.rowLength * 32 / bits
        guard scales.rowCount == rows, scales.rowLength > 0, columns % scales.rowLength == 0,
              BitPacking.wordCount(codes: columns, bits: bits) == tensor.rowLength,
              biases.rowMajorShape == scales.rowMajorShape else {
            throw checkpoint.badParts(tensor.name, "MLX words and scales disagree for \(bits)-bit weights")
        }
        guard let scaleFormat = scales.type.floatFormat, biases.type.floatFormat != nil else {
            throw checkpoint.badParts(scales.name, "scales and biases must be floats")
        }
        let q = IntGroupQuantizer(bits: bits, groupSize: columns / scales.rowLength, convention: .mlxAffine,
                                  scaleFormat: scaleFormat)
        return StoredWeight(name: tensor.name, rows: rows, columns: columns, parts: [tensor, scales, biases],
                            layout: MLXAffineLayout(q))
    }

    /// Unpacks the codes: `code * scale + bias`.
    public func dequantize(_ weight: StoredWeight, from source: any TensorSource) throws -> [Float] {
        let q = quantizer
        let packed = try StoredParts.words(weight.parts[0], from: source)
        let scales = try StoredParts.floats(weight.parts[1], from: source)
        let biases = try StoredParts.floats(weight.parts[2], from: source)
        var out = [Float](repeating: 0, count: weight.rows * weight.columns)
        packed.withUnsafeBufferPointer { p in
            scales.withUnsafeBufferPointer { s in
                biases.withUnsafeBufferPointer { b in
                    out.withUnsafeMutableBufferPointer {
                        q.dequantize(packed: p, scales: s, offsets: b, rowLength: weight.columns, into: $0)
                    }
                }
            }
        }
        return out
    }
}
