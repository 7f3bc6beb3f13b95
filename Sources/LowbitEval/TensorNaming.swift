/// The tensor names of a Llama-family model in each file layout.
public enum TensorNaming: Sendable {
    /// llama.cpp's GGUF names (`blk.N.attn_q.weight`).
    case gguf
    /// Hugging Face transformers names (`model.layers.N.self_attn.q_proj.weight`).
    case huggingFace

    /// The weights of one decoder layer.
    public enum Role: CaseIterable, Sendable {
        case attentionNorm, query, key, value, attentionOutput, feedForwardNorm, gate, up, down
    }

    public var tokenEmbedding: String {
        self == .gguf ? "token_embd.weight" : "model.embed_tokens.weight"
    }

    public var outputNorm: String { self == .gguf ? "output_norm.weight" : "model.norm.weight" }

    /// The output head; when the file lacks it, the head is tied to the token embedding.
    public var output: String { self == .gguf ? "output.weight" : "lm_head.weight" }

    public func layer(_ index: Int, _ role: Role) -> String {
        switch self {
        case .gguf:
            let suffix: String
            switch role {
            case .attentionNorm: suffix = "attn_norm"
            case .query: suffix = "attn_q"
            case .key: suffix = "attn_k"
            case .value: suffix = "attn_v"
            case .attentionOutput: suffix = "attn_output"
            case .feedForwardNorm: suffix = "ffn_norm"
            case .gate: suffix = "ffn_gate"
            case .up: suffix = "ffn_up"
            case .down: suffix = "ffn_down"
            }
            return "blk.\(index).\(suffix).weight"
        case .huggingFace:
            let suffix: String
            switch role {
            case .attentionNorm: suffix = "input_layernorm"
            case .query: suffix = "self_attn.q_proj"
            case .key: suffix = "self_attn.k_proj"
            case .value: suffix = "self_attn.v_proj"
            case .attentionOutput: suffix = "self_attn.o_proj"
            case .feedForwardNorm: suffix = "post_attention_layernorm"
            case .gate: suffix = "mlp.gate_proj"
            case .up: suffix = "mlp.up_proj"
            case .down: suffix = "mlp.down_proj"
            }
            return "model.layers.\(index).\(suffix).weight"
        }
    }
}
