/// Tensor names of the Llama family in Hugging Face checkpoints and in GGUF files, both ways.
public enum LlamaTensorNames {
    private static let global: [(hf: String, gguf: String)] = [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
    ]

    private static let perLayer: [(hf: String, gguf: String)] = [
        ("self_attn.q_proj", "attn_q"),
        ("self_attn.k_proj", "attn_k"),
        ("self_attn.v_proj", "attn_v"),
        ("self_attn.o_proj", "attn_output"),
        ("input_layernorm", "attn_norm"),
        ("post_attention_layernorm", "ffn_norm"),
        ("mlp.gate_proj", "ffn_gate"),
        ("mlp.up_proj", "ffn_up"),
        ("mlp.down_proj", "ffn_down"),
    ]

    /// The GGUF name of a Hugging Face tensor, or nil for tensors GGUF does not keep
    /// (`rotary_emb.inv_freq`) or does not know.
    public static func ggufName(forHF name: String) -> String? {
        if let pair = global.first(where: { $0.hf == name }) { return pair.gguf }
        guard name.hasPrefix("model.layers.") else { return nil }
        let rest = name.dropFirst("model.layers.".count)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]) else { return nil }
        let tail = rest[rest.index(after: dot)...]
        for (hf, gguf) in perLayer {
            for suffix in ["weight", "bias"] where tail == "\(hf).\(suffix)" {
                return "blk.\(layer).\(gguf).\(suffix)"
            }
        }
        return nil
    }

    /// The Hugging Face name of a GGUF tensor, or nil for tensors the checkpoint does not hold
    /// (`rope_freqs.weight`, which `config.json` describes instead).
    public static func hfName(forGGUF name: String) -> String? {
        if let pair = global.first(where: { $0.gguf == name }) { return pair.hf }
        guard name.hasPrefix("blk.") else { return nil }
        let rest = name.dropFirst("blk.".count)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]) else { return nil }
        let tail = rest[rest.index(after: dot)...]
        for (hf, gguf) in perLayer {
            for suffix in ["weight", "bias"] where tail == "\(gguf).\(suffix)" {
                return "model.layers.\(layer).\(hf).\(suffix)"
            }
        }
        return nil
    }

    /// Whether a GGUF tensor is a query or key projection, whose rows GGUF stores in its own
    /// rotary order; returns the head count to permute with (heads for Q, KV heads for K).
    public static func rotaryHeads(ggufName name: String, heads: Int, kvHeads: Int) -> Int? {
        if name.hasSuffix(".attn_q.weight") || name.hasSuffix(".attn_q.bias") { return heads }
        if name.hasSuffix(".attn_k.weight") || name.hasSuffix(".attn_k.bias") { return kvHeads }
        return nil
    }
}

/// The row order of query and key projections.
///
/// Hugging Face Llama checkpoints rotate the pairs (x[i], x[i + d/2]) of each head of size d;
/// GGUF files (and llama.cpp) rotate adjacent pairs (x[2i], x[2i+1]). Converting between them
/// permutes the rows of `q_proj` / `k_proj` within each head: GGUF row `2i + j` of a head is
/// Hugging Face row `j * d/2 + i` of the same head.
public struct RotaryPermutation: Sendable {
    /// Rows per head.
    public let headDimension: Int

    public init(rows: Int, heads: Int) throws {
        guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0 else {
            throw ConvertError.badOption("cannot permute \(rows) rows over \(heads) rotary heads")
        }
        headDimension = rows / heads
    }

    /// The Hugging Face row that becomes GGUF row `row`.
    @inlinable public func hfRow(forGGUFRow row: Int) -> Int {
        let head = row / headDimension, inHead = row % headDimension
        return head * headDimension + (inHead % 2) * (headDimension / 2) + inHead / 2
    }

    /// The GGUF row that becomes Hugging Face row `row`.
    @inlinable public func ggufRow(forHFRow row: Int) -> Int {
        let head = row / headDimension, inHead = row % headDimension
        let half = headDimension / 2
        return head * headDimension + (inHead % half) * 2 + inHead / half
    }
}
