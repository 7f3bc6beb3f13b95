import LowbitFormats
import LowbitModels
import LowbitQuant

/// The error of each quantized tensor against the base model's tensor of the same role: the
/// `--tensors` table of `lowbit compare`.
public struct TensorError: Sendable {
    /// The tensor's name in the quantized model.
    public var name: String
    /// The base tensor's stored type (`bf16`, `q8_0`, ...).
    public var baseType: String
    /// The quantized tensor's stored type.
    public var quantType: String
    /// Elements in the tensor.
    public var elements: Int
    /// The error of the decoded quantized tensor against the decoded base tensor.
    public var metrics: ErrorMetrics
}

/// Tensor-by-tensor comparison of two models of the same architecture.
public enum TensorComparison {
    /// Compares every weight both models hold (matched by role, so a GGUF model can be compared
    /// with a Hugging Face one; GGUF's permuted Q/K rows are put back in Hugging Face order).
    /// Tensors are decoded one pair at a time.
    public static func compare(base: LlamaModel, quant: LlamaModel) throws -> [TensorError] {
        let pairs = matchingNames(base: base, quant: quant)
        var out: [TensorError] = []
        for (baseName, quantName, role) in pairs {
            guard let b = base.source.tensor(named: baseName), let q = quant.source.tensor(named: quantName),
                  b.elementCount == q.elementCount, b.rowLength == q.rowLength,
                  TensorDecoder.canDecode(b.type), TensorDecoder.canDecode(q.type) else { continue }
            var original = try TensorDecoder.decode(b, from: base.source)
            var reconstructed = try TensorDecoder.decode(q, from: quant.source)
            base.source.release(b)
            quant.source.release(q)
            if base.naming.layout != quant.naming.layout, let role, role == .query || role == .key {
                let heads = role == .query ? base.config.headCount : base.config.kvHeadCount
                if base.naming.layout == .gguf { original = try unpermute(original, heads: heads, rowLength: b.rowLength) }
                if quant.naming.layout == .gguf { reconstructed = try unpermute(reconstructed, heads: heads, rowLength: q.rowLength) }
            }
            out.append(TensorError(name: quantName, baseType: b.type.name, quantType: q.type.name,
                                   elements: q.elementCount,
                                   metrics: ErrorMetrics.measure(original: original, reconstructed: reconstructed)))
        }
        return out
    }

    /// (base name, quant name, layer role) for every weight of the architecture.
    static func matchingNames(base: LlamaModel, quant: LlamaModel) -> [(String, String, TensorNaming.Role?)] {
        var names: [(String, String, TensorNaming.Role?)] = [
            (base.naming.tokenEmbedding, quant.naming.tokenEmbedding, nil),
        ]
        for i in 0..<min(base.config.layerCount, quant.config.layerCount) {
            for role in base.naming.table.roles where quant.naming.table.layer[role] != nil {
                names.append((base.naming.layer(i, role), quant.naming.layer(i, role), role))
            }
        }
        names.append((base.naming.outputNorm, quant.naming.outputNorm, nil))
        names.append((base.naming.output, quant.naming.output, nil))
        return names
    }

    /// Reorders the rows of a GGUF Q or K matrix (rotary pairs interleaved) into the Hugging Face
    /// order (pairs split into halves), head by head.
    static func unpermute(_ values: [Float], heads: Int, rowLength: Int) throws -> [Float] {
        try RotaryPermutation(rows: values.count / rowLength, heads: heads)
            .huggingFaceOrder(ofGGUF: values, rowLength: rowLength)
    }
}
