import LowbitFormats

/// compressed-tensors `float-quantized`: `X.weight` in FP8 and `X.weight_scale` (per tensor, row
/// or block; see ``CompressedTensorsLayout``).
public struct FP8Layout: WeightLayout {
    /// The quantizer that writes the codes and scales.
    public let quantizer: FP8Quantizer

    /// The layout of `quantizer`'s weights.
    public init(_ quantizer: FP8Quantizer) {
        self.quantizer = quantizer
    }

    /// The name plans and summaries print.
    public var name: String { "FP8_\(quantizer.variant == .e4m3 ? "E4M3" : "E5M2")" }
    /// Whether values are quantized (lossy beyond a float cast).
    public var isQuantized: Bool { true }

    /// Whole blocks of rows per strip (per-block scales must not straddle strips).
    public var stripRowMultiple: Int {
        if case .block(let r, _) = quantizer.granularity { return r }
        return 1
    }

    /// Whether a first pass finds the weight's absolute maximum (one scale per tensor).
    public var needsTensorAbsmax: Bool { quantizer.granularity == .tensor }

    /// What the layout adds to `config.json`.
    public var configEntry: LayoutConfigEntry? {
        .compressedTensors(weights: CompressedTensorsLayout.weightsArguments(quantizer),
                           format: CompressedTensorsLayout.floatFormat)
    }

    /// The output tensors of the weight `name`, in the order they are written.
    public func plan(name: String, rows: Int, columns: Int, shape: [Int]) -> [PlannedTensor] {
        CompressedTensorsLayout.plan(prefix: CompressedTensorsLayout.prefix(of: name), rows: rows, columns: columns,
                                     quantizer: quantizer)
    }

    /// Encodes a strip of whole rows into the bytes of the first planned tensor.
    public func encode(_ values: [Float], rowLength width: Int, tensorAbsmax: Float?, importance: [Float]?, name: String,
                       trailer: inout LayoutTrailer) throws -> EncodedStrip {
        let q = quantizer
        let count = values.count
        let scaleCount = q.scaleShape(rows: count / width, columns: width).reduce(1, *)
        var codes = [UInt8](repeating: 0, count: count)
        var stripScales = [Float](repeating: 0, count: scaleCount)
        values.withUnsafeBufferPointer { src in
            (importance ?? []).withUnsafeBufferPointer { imp in
                codes.withUnsafeMutableBufferPointer { c in
                    stripScales.withUnsafeMutableBufferPointer { s in
                        q.quantize(src, rowLength: width, tensorAbsmax: tensorAbsmax, importance: importance == nil ? nil : imp,
                                   codes: c, scales: s)
                    }
                }
            }
        }
        if q.granularity == .tensor {
            trailer.scales = [stripScales[0]]
        } else {
            trailer.scales += stripScales
        }
        return EncodedStrip(bytes: codes) { [codes, stripScales] d in
            codes.withUnsafeBufferPointer { c in
                stripScales.withUnsafeBufferPointer { q.dequantize(codes: c, scales: $0, rowLength: width, into: d) }
            }
        }
    }

    /// The trailing tensors' bytes (scales, shape, zero points or biases).
    public func finish(_ trailer: LayoutTrailer, rows: Int, columns: Int) -> [[UInt8]] {
        [quantizer.scaleFormat.encode(trailer.scales)]
    }

    /// `X.weight` in F8_E4M3 or F8_E5M2 with `X.weight_scale` beside it; the granularity follows
    /// from the scale's shape (one value, one per row, or a block grid: 128 x 128 blocks when the
    /// grid is theirs, the standard size, else the smallest blocks that give the grid).
    public static func recognise(_ tensor: TensorInfo, in checkpoint: StoredCheckpoint) throws -> StoredWeight? {
        guard tensor.name.hasSuffix(".weight"), case .safetensors(let dtype) = tensor.type,
              let variant = FP8Variant(dtype: dtype),
              let scale = checkpoint.part(CompressedTensorsLayout.prefix(of: tensor.name) + ".weight_scale") else { return nil }
        let rows = tensor.rowCount, columns = tensor.rowLength
        guard let scaleFormat = scale.type.floatFormat else {
            throw checkpoint.badParts(scale.name, "scales must be floats, not \(scale.type.name)")
        }
        let granularity: FP8Quantizer.Granularity
        if scale.elementCount == 1 {
            granularity = .tensor
        } else if scale.elementCount == rows {
            granularity = .row
        } else {
            let grid = scale.rowMajorShape
            guard grid.count == 2, grid[0] > 0, grid[1] > 0, rows > 0, columns > 0 else {
                throw checkpoint.badParts(scale.name, "unrecognised FP8 scale shape \(grid)")
            }
            let standard = FP8Quantizer(granularity: .block128).scaleShape(rows: rows, columns: columns)
            granularity = standard == grid ? .block128
                : .block(rows: (rows + grid[0] - 1) / grid[0], columns: (columns + grid[1] - 1) / grid[1])
        }
        let q = FP8Quantizer(variant: variant, granularity: granularity, scaleFormat: scaleFormat)
        guard q.scaleShape(rows: rows, columns: columns).reduce(1, *) == scale.elementCount else {
            throw checkpoint.badParts(scale.name, "unrecognised FP8 scale shape \(scale.rowMajorShape)")
        }
        return StoredWeight(name: tensor.name, rows: rows, columns: columns, parts: [tensor, scale], layout: FP8Layout(q))
    }

    /// Multiplies the FP8 codes by their scales.
    public func dequantize(_ weight: StoredWeight, from source: any TensorSource) throws -> [Float] {
        let q = quantizer
        let scales = try StoredParts.floats(weight.parts[1], from: source)
        var out = [Float](repeating: 0, count: weight.rows * weight.columns)
        try source.withBytes(of: weight.parts[0]) { raw in
            let codes = raw.bindMemory(to: UInt8.self)
            scales.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { q.dequantize(codes: codes, scales: s, rowLength: weight.columns, into: $0) }
            }
        }
        return out
    }
}
