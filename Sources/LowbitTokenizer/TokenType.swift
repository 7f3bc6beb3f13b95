/// The type of a vocabulary entry, numbered as llama.cpp stores it in `tokenizer.ggml.token_type`.
public enum TokenType: Int32, Sendable, CaseIterable {
    case normal = 1
    case unknown = 2
    /// A special token such as `<|im_start|>`: matched in text only when asked (`parseSpecial`).
    case control = 3
    /// An added token that is always matched in text before the model runs.
    case userDefined = 4
    case unused = 5
    /// A byte token `<0xAB>` (SentencePiece byte fallback).
    case byte = 6

    /// Whether text is searched for this token before BPE (llama.cpp's special-token cache).
    var isMatchedInText: Bool { self == .control || self == .userDefined || self == .unknown }
}
