import LowbitFormats

/// A view of a safetensors checkpoint whose linear weights are stored in several parts —
/// compressed-tensors `pack-quantized` or FP8, MLX affine, or any other layout in
/// ``WeightLayouts/registered`` — that presents each such weight as the plain F32 tensor `X.weight`
/// it stands for, dequantized on demand by the layout that stored it.
///
/// Everything downstream (the evaluator, statistics, comparisons) then reads any of these layouts
/// through the ordinary ``TensorSource`` API. Weights are decoded whole when their bytes are asked
/// for, so memory grows by one F32 weight at a time.
public final class QuantizedCheckpointView: TensorSource, @unchecked Sendable {
    /// The checkpoint as stored.
    public let base: any TensorSource
    /// The path of ``base``.
    public var path: String { base.path }
    /// The format of ``base``.
    public var format: ModelFormat { base.format }
    /// The metadata of ``base``.
    public var metadata: [(key: String, value: MetadataValue)] { base.metadata }
    /// ``base``'s tensors with each multi-part weight replaced by one F32 tensor in the place of
    /// its first part.
    public let tensors: [TensorInfo]
    /// The stored weights the view rebuilds, by the name of the F32 tensor.
    private let weights: [String: StoredWeight]

    /// Whether `source` holds any weight this view would rebuild (or whose parts disagree, which
    /// ``init(_:mlxBits:)`` reports).
    public static func isQuantized(_ source: any TensorSource) -> Bool {
        let checkpoint = StoredCheckpoint(source)
        return source.tensors.contains { t in
            do { return try WeightLayouts.recognise(t, in: checkpoint)?.isMultiPart ?? false } catch { return true }
        }
    }

    /// Wraps `base`. `mlxBits` is the `quantization.bits` of an MLX `config.json` (needed to unpack
    /// MLX weights; it defaults to 4).
    /// - Throws: `FormatError` naming the part of a weight whose parts are missing or disagree.
    public init(_ base: any TensorSource, mlxBits: Int = 4) throws {
        self.base = base
        let checkpoint = StoredCheckpoint(base, mlxBits: mlxBits)
        var hidden = Set<String>()
        var weights: [String: StoredWeight] = [:]
        var virtual: [String: TensorInfo] = [:]
        for t in base.tensors {
            guard let weight = try WeightLayouts.recognise(t, in: checkpoint), weight.isMultiPart else { continue }
            hidden.formUnion(weight.parts.map(\.name))
            weights[weight.name] = weight
            virtual[t.name] = TensorInfo(name: weight.name, type: .safetensors(.F32), shape: [weight.rows, weight.columns],
                                         offset: 0, byteCount: weight.rows * weight.columns * 4, file: t.file)
        }
        // Keep file order: a virtual weight takes the place of its first stored part.
        tensors = base.tensors.compactMap { t in virtual[t.name] ?? (hidden.contains(t.name) ? nil : t) }
        self.weights = weights
    }

    /// The stored bytes of a plain tensor, or the F32 values of a rebuilt weight.
    public func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let weight = weights[tensor.name] else { return try base.withBytes(of: tensor, body) }
        return try weight.dequantize(from: base).withUnsafeBytes(body)
    }

    /// Releases a plain tensor, or every stored part of a rebuilt weight.
    public func release(_ tensor: TensorInfo) {
        guard let weight = weights[tensor.name] else { return base.release(tensor) }
        weight.parts.forEach(base.release)
    }
}
