import LowbitFormats

/// The tensor names of a Llama-family model in each file layout (a view of
/// ``LowbitFormats/LlamaTensorNames``, the table the converter uses too).
public enum TensorNaming: Sendable {
    /// llama.cpp's GGUF names (`blk.N.attn_q.weight`).
    case gguf
    /// Hugging Face transformers names (`model.layers.N.self_attn.q_proj.weight`).
    case huggingFace

    /// The weights of one decoder layer.
    public typealias Role = LlamaTensorNames.Role

    private var isGGUF: Bool { self == .gguf }

    public var tokenEmbedding: String { LlamaTensorNames.name(.tokenEmbedding, gguf: isGGUF) }

    public var outputNorm: String { LlamaTensorNames.name(.outputNorm, gguf: isGGUF) }

    /// The output head; when the file lacks it, the head is tied to the token embedding.
    public var output: String { LlamaTensorNames.name(.output, gguf: isGGUF) }

    public func layer(_ index: Int, _ role: Role) -> String {
        LlamaTensorNames.name(layer: index, role, gguf: isGGUF)
    }
}
