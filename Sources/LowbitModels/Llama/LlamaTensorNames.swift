/// Tensor names of the Llama family in Hugging Face checkpoints and in GGUF files, both ways:
/// the one table the converter (renaming) and the evaluator (finding weights) share.
public enum LlamaTensorNames {
    /// The weights of one decoder layer.
    public enum Role: CaseIterable, Sendable {
        case attentionNorm, query, key, value, attentionOutput, feedForwardNorm, gate, up, down

        /// The name inside a layer: (Hugging Face, GGUF).
        var names: (hf: String, gguf: String) {
            switch self {
            case .attentionNorm: ("input_layernorm", "attn_norm")
            case .query: ("self_attn.q_proj", "attn_q")
            case .key: ("self_attn.k_proj", "attn_k")
            case .value: ("self_attn.v_proj", "attn_v")
            case .attentionOutput: ("self_attn.o_proj", "attn_output")
            case .feedForwardNorm: ("post_attention_layernorm", "ffn_norm")
            case .gate: ("mlp.gate_proj", "ffn_gate")
            case .up: ("mlp.up_proj", "ffn_up")
            case .down: ("mlp.down_proj", "ffn_down")
            }
        }
    }

    /// The tensors outside the layers.
    public enum Global: CaseIterable, Sendable {
        case tokenEmbedding, outputNorm, output

        var names: (hf: String, gguf: String) {
            switch self {
            case .tokenEmbedding: ("model.embed_tokens.weight", "token_embd.weight")
            case .outputNorm: ("model.norm.weight", "output_norm.weight")
            case .output: ("lm_head.weight", "output.weight")
            }
        }
    }

    /// The name of a global tensor in either layout.
    public static func name(_ tensor: Global, gguf: Bool) -> String {
        gguf ? tensor.names.gguf : tensor.names.hf
    }

    /// The name of a layer weight in either layout.
    public static func name(layer: Int, _ role: Role, gguf: Bool, suffix: String = "weight") -> String {
        gguf ? "blk.\(layer).\(role.names.gguf).\(suffix)" : "model.layers.\(layer).\(role.names.hf).\(suffix)"
    }

    /// The GGUF name of a Hugging Face tensor, or nil for tensors GGUF does not keep
    /// (`rotary_emb.inv_freq`) or does not know.
    public static func ggufName(forHF name: String) -> String? {
        translate(name, from: false)
    }

    /// The Hugging Face name of a GGUF tensor, or nil for tensors the checkpoint does not hold
    /// (`rope_freqs.weight`, which `config.json` describes instead).
    public static func hfName(forGGUF name: String) -> String? {
        translate(name, from: true)
    }

    private static func translate(_ name: String, from gguf: Bool) -> String? {
        if let global = Global.allCases.first(where: { Self.name($0, gguf: gguf) == name }) {
            return Self.name(global, gguf: !gguf)
        }
        let prefix = gguf ? "blk." : "model.layers."
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]) else { return nil }
        let tail = rest[rest.index(after: dot)...]
        for role in Role.allCases {
            for suffix in ["weight", "bias"] where tail == "\(gguf ? role.names.gguf : role.names.hf).\(suffix)" {
                return Self.name(layer: layer, role, gguf: !gguf, suffix: suffix)
            }
        }
        return nil
    }

    /// The name of a global tensor in `layout`.
    public static func name(_ tensor: Global, in layout: TensorNameLayout) -> String {
        name(tensor, gguf: layout == .gguf)
    }

    /// The name of a layer weight in `layout`.
    public static func name(layer: Int, _ role: Role, in layout: TensorNameLayout) -> String {
        name(layer: layer, role, gguf: layout == .gguf)
    }

    /// Whether a Hugging Face tensor is a decoder linear weight
    /// (`model.layers.N.(self_attn|mlp).X_proj.weight`), the weights a checkpoint layout quantizes.
    public static func isDecoderLinear(hfName name: String) -> Bool {
        name.hasPrefix("model.layers.") && name.hasSuffix("_proj.weight")
            && (name.contains(".self_attn.") || name.contains(".mlp."))
    }

    /// Whether a GGUF tensor is a query or key projection, whose rows GGUF stores in its own
    /// rotary order; returns the head count to permute with (heads for Q, KV heads for K).
    public static func rotaryHeads(ggufName name: String, heads: Int, kvHeads: Int) -> Int? {
        if name.hasSuffix(".attn_q.weight") || name.hasSuffix(".attn_q.bias") { return heads }
        if name.hasSuffix(".attn_k.weight") || name.hasSuffix(".attn_k.bias") { return kvHeads }
        return nil
    }
}
