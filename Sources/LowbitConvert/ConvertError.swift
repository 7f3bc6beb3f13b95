import LowbitFormats

/// The kinds of problem a conversion can meet; tests match on them.
public enum ConvertErrorKind: String, Sendable {
    /// A command-line option that cannot be honoured.
    case badOption
    /// The model's architecture is not one Lowbit converts.
    case unsupportedArchitecture
    /// A tensor holds NaN or Inf values; quantizing them would produce garbage.
    case nonFiniteWeights
    /// The input is missing something the output needs.
    case missingInput
    /// A tensor's type cannot be decoded or encoded by Lowbit.
    case unsupportedTensor
    /// `--resume` found an unfinished output it must not continue.
    case resumeRefused
    /// The importance matrix cannot be used: a non-finite value, or a vector whose length does
    /// not fit its tensor.
    case badImportance
}

/// An error raised while planning or running a conversion: the file it concerns (empty when
/// none does, as for a bad option), the tensor where one is involved, and the reason.
public typealias ConvertError = LocatedError<ConvertErrorKind>

extension LocatedError where Kind == ConvertErrorKind {
    /// A command-line option that cannot be honoured (`message` names the option).
    public static func badOption(_ message: String, file: String = "") -> ConvertError {
        ConvertError(.badOption, file: file, message)
    }

    /// An architecture Lowbit does not convert.
    public static func unsupportedArchitecture(_ architecture: String, file: String = "") -> ConvertError {
        ConvertError(.unsupportedArchitecture, file: file,
                     "unsupported architecture '\(architecture)' (Lowbit converts LlamaForCausalLM and MistralForCausalLM)")
    }

    /// `tensor` of `file` holds `nan` NaN and `inf` Inf values.
    public static func nonFiniteWeights(tensor: String, file: String, nan: Int, inf: Int) -> ConvertError {
        ConvertError(.nonFiniteWeights, file: file, item: tensor, "\(nan) NaN and \(inf) Inf values; refusing to convert")
    }

    /// The input lacks something the output needs.
    public static func missingInput(_ message: String, file: String = "") -> ConvertError {
        ConvertError(.missingInput, file: file, message)
    }

    /// `tensor` (of `file`, where known) cannot be decoded or encoded.
    public static func unsupportedTensor(tensor: String, file: String = "", reason: String) -> ConvertError {
        ConvertError(.unsupportedTensor, file: file, item: tensor, reason)
    }

    /// `--resume` must not continue the unfinished output at `file`.
    public static func resumeRefused(_ message: String, file: String) -> ConvertError {
        ConvertError(.resumeRefused, file: file, message)
    }
}
