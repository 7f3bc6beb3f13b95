import LowbitFormats

/// The kinds of problem evaluation can meet.
public enum EvalErrorKind: String, Sendable {
    case unsupportedModel, missingTensor, badShape, badConfig, notEnoughTokens, badLogitFile
    case mismatch, io, badText
}

/// An error raised while evaluating a model: a model Lowbit cannot run, text that is too short,
/// or base logits that do not belong to the run. It names the file (model, text or logit file)
/// and the tensor or key involved.
public typealias EvalError = LocatedError<EvalErrorKind>
