import LowbitFormats

/// An error raised while planning or running a conversion.
public enum ConvertError: Error, CustomStringConvertible, Sendable {
    /// A command-line option that cannot be honoured.
    case badOption(String)
    /// The model's architecture is not one Lowbit converts.
    case unsupportedArchitecture(String)
    /// A tensor holds NaN or Inf values; quantizing them would produce garbage.
    case nonFiniteWeights(tensor: String, file: String, nan: Int, inf: Int)
    /// The input is missing something the output needs.
    case missingInput(String)
    /// A tensor's type cannot be decoded or encoded by Lowbit.
    case unsupportedTensor(tensor: String, reason: String)
    /// `--resume` found an unfinished output it must not continue.
    case resumeRefused(String)

    public var description: String {
        switch self {
        case .badOption(let m): m
        case .unsupportedArchitecture(let a): "unsupported architecture '\(a)' (Lowbit converts LlamaForCausalLM and MistralForCausalLM)"
        case .nonFiniteWeights(let t, let f, let nan, let inf): "\(f): '\(t)': \(nan) NaN and \(inf) Inf values; refusing to convert"
        case .missingInput(let m): m
        case .unsupportedTensor(let t, let r): "'\(t)': \(r)"
        case .resumeRefused(let m): m
        }
    }
}
