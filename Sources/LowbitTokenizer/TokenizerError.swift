/// An error raised while building a tokenizer from GGUF metadata or `tokenizer.json`.
///
/// Every case names the metadata key or JSON field involved, so a user sees at once what in the
/// model file is missing or unsupported.
public struct TokenizerError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of problem this is; tests match on it.
    public enum Kind: String, Sendable {
        /// A required key or field is absent.
        case missingField
        /// A key or field has the wrong type or an impossible value.
        case badValue
        /// The tokenizer uses a model, normalizer, pre-tokenizer or pattern Lowbit does not implement.
        case unsupported
        /// A tokenizer.json configuration matches no llama.cpp pre-tokenizer name (see ``PreTokenizerTable``).
        case unknownPreTokenizer
    }

    public var kind: Kind
    /// The GGUF key or JSON path involved, e.g. `tokenizer.ggml.merges` or `pre_tokenizer.pretokenizers[0]`.
    public var field: String
    /// What is wrong, in words a user understands.
    public var reason: String

    public init(_ kind: Kind, field: String, _ reason: String) {
        self.kind = kind
        self.field = field
        self.reason = reason
    }

    public var description: String { "tokenizer: '\(field)': \(reason)" }
}
