import LowbitFormats

/// The kinds of problem building a tokenizer can meet; tests match on them.
public enum TokenizerErrorKind: String, Sendable, LocatedErrorSubject {
    /// A required key or field is absent.
    case missingField
    /// A key or field has the wrong type or an impossible value.
    case badValue
    /// The tokenizer uses a model, normalizer, pre-tokenizer or pattern Lowbit does not implement.
    case unsupported
    /// A tokenizer.json configuration matches no llama.cpp pre-tokenizer name (see ``PreTokenizerTable``).
    case unknownPreTokenizer

    /// Tokenizer errors start with `tokenizer`.
    public static var subject: String { "tokenizer" }
}

/// An error raised while building a tokenizer from GGUF metadata or `tokenizer.json`.
///
/// Every error names the metadata key or JSON path involved as its `item` (e.g.
/// `tokenizer.ggml.merges` or `pre_tokenizer.pretokenizers[0]`), so a user sees at once what in
/// the model file is missing or unsupported; the caller that read the file adds its path with
/// `located(in:)`.
public typealias TokenizerError = LocatedError<TokenizerErrorKind>
