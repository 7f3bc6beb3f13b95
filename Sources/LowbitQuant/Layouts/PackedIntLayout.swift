import LowbitFormats

/// compressed-tensors `pack-quantized`: `X.weight_packed`, `X.weight_scale`, `X.weight_shape`
/// and, for asymmetric quantizers, `X.weight_zero_point` (see ``CompressedTensorsLayout``).
public struct PackedIntLayout: WeightLayout {
    /// The quantizer (with the compressed-tensors convention) that writes codes and scales.
    public let quantizer: IntGroupQuantizer

    /// The layout of `quantizer`'s weights.
    public init(_ quantizer: IntGroupQuantizer) {
        self.quantizer = quantizer
    }

    /// The name plans and summaries print.
    public var name: String { "INT\(quantizer.bits)_G\(quantizer.groupSize)" }
    /// Whether values are quantized (lossy beyond a float cast).
    public var isQuantized: Bool { true }

    /// What the layout adds to `config.json`.
    public var configEntry: LayoutConfigEntry? {
        .compressedTensors(weights: CompressedTensorsLayout.weightsArguments(quantizer),
                           format: CompressedTensorsLayout.packedFormat)
    }

    /// This layout, or one with a smaller group size when the requested one does not divide
    /// the rows (nil when no standard size does).
    public func fitted(toRowLength rowLength: Int) -> LayoutFit {
        let (fitted, note) = quantizer.fitted(toRowLength: rowLength)
        guard let fitted else { return .doesNotFit(reason: note) }
        return .fits(PackedIntLayout(fitted), note: fitted.groupSize == quantizer.groupSize ? nil : note)
    }

    /// The output tensors of the weight `name`, in the order they are written.
    public func plan(name: String, rows: Int, columns: Int, shape: [Int]) -> [PlannedTensor] {
        CompressedTensorsLayout.plan(prefix: CompressedTensorsLayout.prefix(of: name), rows: rows, columns: columns,
                                     quantizer: quantizer)
    }

    /// Encodes a strip of whole rows into the bytes of the first planned tensor.
    public func encode(_ values: [Float], rowLength: Int, tensorAbsmax: Float?, importance: [Float]?, name: String,
                       trailer: inout LayoutTrailer) throws -> EncodedStrip {
        IntGroupStrip.encode(values, rowLength: rowLength, quantizer: quantizer, importance: importance,
                             trailer: &trailer)
    }

    /// The trailing tensors' bytes (scales, shape, zero points or biases).
    public func finish(_ trailer: LayoutTrailer, rows: Int, columns: Int) -> [[UInt8]] {
        let q = quantizer
        var parts = [q.scaleFormat.encode(trailer.scales), CompressedTensorsLayout.shapeBytes(rows: rows, columns: columns)]
        if q.hasOffsets {
            let words = CompressedTensorsLayout.packZeroPoints(trailer.offsets, rows: rows,
                                                               groups: q.groupsPerRow(rowLength: columns), bits: q.bits)
            parts.append(CompressedTensorsLayout.littleEndianBytes(words))
        }
        return parts
    }

    /// `X.weight_packed` (I32) with `X.weight_scale`, `X.weight_shape` and, when present,
    /// `X.weight_zero_point` beside it; bits and group size follow from the parts' shapes.
    public static func recognise(_ tensor: TensorInfo, in checkpoint: StoredCheckpoint) throws -> StoredWeight? {
        guard tensor.name.hasSuffix(".weight_packed") else { return nil }
        let prefix = String(tensor.name.dropLast(".weight_packed".count))
        let scale = checkpoint.part(prefix + ".weight_scale"), shapeInfo = checkpoint.part(prefix + ".weight_shape")
        guard let scale, let shapeInfo else {
            let missing = [(scale, "weight_scale"), (shapeInfo, "weight_shape")].compactMap { $0.0 == nil ? "\(prefix).\($0.1)" : nil }
            throw checkpoint.badParts(tensor.name, "has no \(missing.joined(separator: " and "))")
        }
        guard tensor.type == .safetensors(.I32) else {
            throw checkpoint.badParts(tensor.name, "packed words must be I32, not \(tensor.type.name)")
        }
        guard shapeInfo.type == .safetensors(.I64), shapeInfo.elementCount == 2 else {
            throw checkpoint.badParts(shapeInfo.name, "weight_shape must hold two int64 values")
        }
        let shape: [Int] = try checkpoint.source.withBytes(of: shapeInfo) { raw in
            guard raw.count == 16 else { throw checkpoint.badParts(shapeInfo.name, "weight_shape must hold two int64 values") }
            return (0..<2).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))) }
        }
        let (rows, columns) = (shape[0], shape[1])
        guard rows > 0, columns > 0, tensor.rowCount == rows, scale.rowCount == rows,
              scale.rowLength > 0, columns % scale.rowLength == 0 else {
            throw checkpoint.badParts(tensor.name, "packed words, scales and weight_shape \(shape) disagree")
        }
        let bits = tensor.rowLength * 32 / columns
        guard (2...8).contains(bits), BitPacking.wordCount(codes: columns, bits: bits) == tensor.rowLength else {
            throw checkpoint.badParts(tensor.name, "\(tensor.rowLength) words per row do not pack \(columns) values of 2 to 8 bits")
        }
        guard let scaleFormat = scale.type.floatFormat else {
            throw checkpoint.badParts(scale.name, "scales must be floats, not \(scale.type.name)")
        }
        let groups = scale.rowLength
        let zeroPoint = checkpoint.part(prefix + ".weight_zero_point")
        if let zeroPoint, zeroPoint.type != .safetensors(.I32)
            || zeroPoint.rowMajorShape != [BitPacking.wordCount(codes: rows, bits: bits), groups] {
            throw checkpoint.badParts(zeroPoint.name, "\(zeroPoint.type.name) \(zeroPoint.rowMajorShape) does not pack the zero points of \(groups) groups of \(rows) rows")
        }
        let q = IntGroupQuantizer(bits: bits, groupSize: columns / groups,
                                  convention: .compressedTensors(symmetric: zeroPoint == nil), scaleFormat: scaleFormat)
        return StoredWeight(name: prefix + ".weight", rows: rows, columns: columns,
                            parts: [tensor, scale, shapeInfo] + (zeroPoint.map { [$0] } ?? []), layout: PackedIntLayout(q))
    }

    /// Unpacks the codes and applies the scales (and zero points).
    public func dequantize(_ weight: StoredWeight, from source: any TensorSource) throws -> [Float] {
        let q = quantizer, (rows, columns) = (weight.rows, weight.columns)
        let packed = try StoredParts.words(weight.parts[0], from: source)
        let scales = try StoredParts.floats(weight.parts[1], from: source)
        let offsets = try weight.parts.count > 3 ? CompressedTensorsLayout.unpackZeroPoints(
            try StoredParts.words(weight.parts[3], from: source), rows: rows,
            groups: q.groupsPerRow(rowLength: columns), bits: q.bits) : nil
        var out = [Float](repeating: 0, count: rows * columns)
        packed.withUnsafeBufferPointer { p in
            scales.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { d in
                    if let offsets {
                        offsets.withUnsafeBufferPointer { q.dequantize(packed: p, scales: s, offsets: $0, rowLength: columns, into: d) }
                    } else {
                        q.dequantize(packed: p, scales: s, offsets: nil, rowLength: columns, into: d)
                    }
                }
            }
        }
        return out
    }
}
