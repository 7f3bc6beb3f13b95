/// An error raised while evaluating a model: a model Lowbit cannot run, text that is too short,
/// or base logits that do not belong to the run.
public struct EvalError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case unsupportedModel, missingTensor, badShape, badConfig, notEnoughTokens, badLogitFile
        case mismatch, io, badText
    }

    public var kind: Kind
    /// The file (model, text or logit file) the problem is in.
    public var file: String
    /// The tensor or key involved, if any.
    public var item: String?
    public var reason: String

    public init(_ kind: Kind, file: String, item: String? = nil, _ reason: String) {
        self.kind = kind
        self.file = file
        self.item = item
        self.reason = reason
    }

    public var description: String {
        if let item { return "\(file): '\(item)': \(reason)" }
        return "\(file): \(reason)"
    }
}
