/// How a file names its tensors, and so which rotary row order its query and key rows use:
/// the one answer the converter (`ModelInput.naming`) and the evaluator (`LlamaModel.naming`)
/// share. Each architecture maps names between the two (``TensorNameTable``).
public enum TensorNameLayout: Sendable, Equatable {
    /// Hugging Face transformers names (`model.layers.N.self_attn.q_proj.weight`), half-split
    /// rotary pairs.
    case huggingFace
    /// llama.cpp's GGUF names (`blk.N.attn_q.weight`), adjacent rotary pairs.
    case gguf
}
