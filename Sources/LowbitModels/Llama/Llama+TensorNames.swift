extension Llama {
    /// Tensor names of the Llama family (`model.layers.N.self_attn.q_proj.weight` ↔
    /// `blk.N.attn_q.weight`), which most decoder families share.
    public static let tensorNames = TensorNameTable(
        layer: [
            .attentionNorm: .init(hf: "input_layernorm", gguf: "attn_norm"),
            .query: .init(hf: "self_attn.q_proj", gguf: "attn_q"),
            .key: .init(hf: "self_attn.k_proj", gguf: "attn_k"),
            .value: .init(hf: "self_attn.v_proj", gguf: "attn_v"),
            .attentionOutput: .init(hf: "self_attn.o_proj", gguf: "attn_output"),
            .feedForwardNorm: .init(hf: "post_attention_layernorm", gguf: "ffn_norm"),
            .gate: .init(hf: "mlp.gate_proj", gguf: "ffn_gate"),
            .up: .init(hf: "mlp.up_proj", gguf: "ffn_up"),
            .down: .init(hf: "mlp.down_proj", gguf: "ffn_down"),
        ],
        global: [
            .tokenEmbedding: .init(hf: "model.embed_tokens.weight", gguf: "token_embd.weight"),
            .outputNorm: .init(hf: "model.norm.weight", gguf: "output_norm.weight"),
            .output: .init(hf: "lm_head.weight", gguf: "output.weight"),
        ])
}
