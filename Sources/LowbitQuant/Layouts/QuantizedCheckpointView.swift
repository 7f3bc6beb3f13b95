import LowbitFormats

/// A view of a safetensors checkpoint whose linear weights are stored quantized — compressed-tensors
/// `pack-quantized` (`X.weight_packed`, `X.weight_scale`, `X.weight_shape`, `X.weight_zero_point`),
/// compressed-tensors FP8 (`X.weight` in F8 + `X.weight_scale`) or MLX affine (`X.weight` in U32 +
/// `X.scales` + `X.biases`) — that presents each such weight as the plain F32 tensor `X.weight`
/// it stands for, dequantized on demand.
///
/// Everything downstream (the evaluator, statistics, comparisons) then reads any of these layouts
/// through the ordinary ``TensorSource`` API. Weights are decoded whole when their bytes are asked
/// for, so memory grows by one F32 weight at a time.
public final class QuantizedCheckpointView: TensorSource, @unchecked Sendable {
    public let base: any TensorSource
    public var path: String { base.path }
    public var format: ModelFormat { base.format }
    public var metadata: [(key: String, value: MetadataValue)] { base.metadata }
    public let tensors: [TensorInfo]
    /// How each virtual weight is rebuilt, by name.
    private let recipes: [String: Recipe]

    private enum Recipe {
        case packed(packed: TensorInfo, scale: TensorInfo, zeroPoint: TensorInfo?, bits: Int)
        case fp8(weight: TensorInfo, scale: TensorInfo)
        case mlx(weight: TensorInfo, scales: TensorInfo, biases: TensorInfo, bits: Int)
    }

    /// Whether `source` holds any weight this view would rebuild.
    public static func isQuantized(_ source: any TensorSource) -> Bool {
        source.tensors.contains {
            $0.name.hasSuffix(".weight_packed") || $0.name.hasSuffix(".scales")
                || ($0.name.hasSuffix(".weight") && [.safetensors(.F8_E4M3), .safetensors(.F8_E5M2)].contains($0.type))
        }
    }

    /// Wraps `base`. `mlxBits` is the `quantization.bits` of an MLX `config.json` (needed to unpack
    /// MLX weights; it defaults to 4).
    public init(_ base: any TensorSource, mlxBits: Int = 4) throws {
        self.base = base
        var byName: [String: TensorInfo] = [:]
        for t in base.tensors { byName[t.name] = t }
        var hidden = Set<String>()
        var recipes: [String: Recipe] = [:]
        var virtual: [String: TensorInfo] = [:]
        func fail(_ item: String, _ reason: String) -> FormatError {
            FormatError(.badShape, file: base.path, item: item, reason)
        }
        for t in base.tensors {
            if let parts = CompressedTensorsLayout.packedParts(of: t, lookup: { byName[$0] }) {
                let prefix = parts.prefix
                guard let scale = parts.scale, let shapeInfo = parts.shape else {
                    throw fail(t.name, "a packed weight needs \(prefix).weight_scale and \(prefix).weight_shape")
                }
                let shape: [Int] = try base.withBytes(of: shapeInfo) { raw in
                    guard raw.count == 16 else { throw fail(shapeInfo.name, "weight_shape must hold two int64 values") }
                    return (0..<2).map { Int(raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
                }
                guard shape[0] > 0, shape[1] > 0, t.rowCount == shape[0], scale.rowCount == shape[0],
                      scale.rowLength > 0, shape[1] % scale.rowLength == 0 else {
                    throw fail(t.name, "packed words, scales and weight_shape \(shape) disagree")
                }
                let bits = t.rowLength * 32 / shape[1]
                guard (2...8).contains(bits), (shape[1] * bits + 31) / 32 == t.rowLength else {
                    throw fail(t.name, "\(t.rowLength) words per row do not pack \(shape[1]) values of 2 to 8 bits")
                }
                let zp = parts.zeroPoint
                hidden.formUnion(parts.present.map(\.name))
                let name = prefix + ".weight"
                recipes[name] = .packed(packed: t, scale: scale, zeroPoint: zp, bits: bits)
                virtual[t.name] = Self.floatTensor(name, rows: shape[0], columns: shape[1], file: t.file)
            } else if t.name.hasSuffix(".weight"), [.safetensors(.F8_E4M3), .safetensors(.F8_E5M2)].contains(t.type),
                      let scale = byName[String(t.name.dropLast(".weight".count)) + ".weight_scale"] {
                hidden.formUnion([t.name, scale.name])
                recipes[t.name] = .fp8(weight: t, scale: scale)
                virtual[t.name] = Self.floatTensor(t.name, rows: t.rowCount, columns: t.rowLength, file: t.file)
            } else if t.name.hasSuffix(".weight"), t.type == .safetensors(.U32),
                      let scales = byName[String(t.name.dropLast(".weight".count)) + ".scales"],
                      let biases = byName[String(t.name.dropLast(".weight".count)) + ".biases"] {
                let columns = t.rowLength * 32 / mlxBits
                guard scales.rowCount == t.rowCount, scales.rowLength > 0, columns % scales.rowLength == 0 else {
                    throw fail(t.name, "MLX words and scales disagree for \(mlxBits)-bit weights")
                }
                hidden.formUnion([t.name, scales.name, biases.name])
                recipes[t.name] = .mlx(weight: t, scales: scales, biases: biases, bits: mlxBits)
                virtual[t.name] = Self.floatTensor(t.name, rows: t.rowCount, columns: columns, file: t.file)
            }
        }
        // Keep file order: a virtual weight takes the place of its first stored part.
        tensors = base.tensors.compactMap { t in virtual[t.name] ?? (hidden.contains(t.name) ? nil : t) }
        self.recipes = recipes
    }

    private static func floatTensor(_ name: String, rows: Int, columns: Int, file: String) -> TensorInfo {
        TensorInfo(name: name, type: .safetensors(.F32), shape: [rows, columns], offset: 0,
                   byteCount: rows * columns * 4, file: file)
    }

    public func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let recipe = recipes[tensor.name] else { return try base.withBytes(of: tensor, body) }
        let values = try dequantize(recipe, rows: tensor.rowCount, columns: tensor.rowLength)
        return try values.withUnsafeBytes(body)
    }

    public func release(_ tensor: TensorInfo) {
        guard let recipe = recipes[tensor.name] else { return base.release(tensor) }
        switch recipe {
        case .packed(let p, let s, let z, _): [p, s].forEach(base.release); z.map(base.release)
        case .fp8(let w, let s): [w, s].forEach(base.release)
        case .mlx(let w, let s, let b, _): [w, s, b].forEach(base.release)
        }
    }

    private func floats(_ t: TensorInfo) throws -> [Float] {
        try TensorDecoder.decode(t, from: base)
    }

    private func words(_ t: TensorInfo) throws -> [UInt32] {
        try base.withBytes(of: t) { raw in
            (0..<(raw.count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self) }
        }
    }

    private func dequantize(_ recipe: Recipe, rows: Int, columns: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: rows * columns)
        switch recipe {
        case .packed(let packedInfo, let scaleInfo, let zpInfo, let bits):
            let packed = try words(packedInfo)
            let groupSize = columns / scaleInfo.rowLength
            let q = IntGroupQuantizer(bits: bits, groupSize: groupSize, convention: .compressedTensors(symmetric: zpInfo == nil))
            let scales = try floats(scaleInfo)
            let offsets = try zpInfo.map {
                CompressedTensorsLayout.unpackZeroPoints(try words($0), rows: rows, groups: scaleInfo.rowLength, bits: bits)
            }
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
        case .fp8(let weight, let scaleInfo):
            let scales = try floats(scaleInfo)
            let granularity: FP8Quantizer.Granularity
            if scales.count == 1 {
                granularity = .tensor
            } else if scales.count == rows {
                granularity = .row
            } else {
                let shape = scaleInfo.rowMajorShape
                guard shape.count == 2, shape[0] > 0, shape[1] > 0 else {
                    throw FormatError(.badShape, file: base.path, item: scaleInfo.name, "unrecognised FP8 scale shape \(shape)")
                }
                granularity = .block(rows: (rows + shape[0] - 1) / shape[0], columns: (columns + shape[1] - 1) / shape[1])
            }
            let q = FP8Quantizer(variant: weight.type == .safetensors(.F8_E5M2) ? .e5m2 : .e4m3, granularity: granularity)
            try base.withBytes(of: weight) { raw in
                let codes = raw.bindMemory(to: UInt8.self)
                scales.withUnsafeBufferPointer { s in
                    out.withUnsafeMutableBufferPointer { q.dequantize(codes: codes, scales: s, rowLength: columns, into: $0) }
                }
            }
        case .mlx(let weightInfo, let scaleInfo, let biasInfo, let bits):
            let q = IntGroupQuantizer(bits: bits, groupSize: columns / scaleInfo.rowLength, convention: .mlxAffine)
            let packed = try words(weightInfo)
            let scales = try floats(scaleInfo), biases = try floats(biasInfo)
            packed.withUnsafeBufferPointer { p in
                scales.withUnsafeBufferPointer { s in
                    biases.withUnsafeBufferPointer { b in
                        out.withUnsafeMutableBufferPointer { q.dequantize(packed: p, scales: s, offsets: b, rowLength: columns, into: $0) }
                    }
                }
            }
        }
        return out
    }
}
