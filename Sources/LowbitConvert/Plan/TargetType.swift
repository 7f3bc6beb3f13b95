import LowbitFormats
import LowbitQuant

/// The types a conversion can aim for, as `--type` names them: every GGUF target (whose float
/// types also name plain-float safetensors outputs) and the compressed-tensors / MLX types.
///
/// This is the one table of supported types: help texts and error messages list ``allCases``.
public enum TargetType: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// A GGUF block type, float type or mix (a float type written to safetensors is plain floats).
    case gguf(GGUFTarget)
    /// FP8 (`float-quantized`) for the decoder's linear weights.
    case fp8
    /// Meta's Llama 3.1 405B FP8 recipe.
    case fp8Llama405B
    /// INT8 with per-group scales.
    case int8
    /// INT4 with per-group scales.
    case int4

    /// Every type, GGUF targets first.
    public static var allCases: [TargetType] {
        GGUFTarget.allCases.map { .gguf($0) } + [.fp8, .fp8Llama405B, .int8, .int4]
    }

    /// The name `--type` takes (`q4_k_m`, `fp8-405b`, `int4`).
    public var name: String {
        switch self {
        case .gguf(let target): target.name
        case .fp8: "fp8"
        case .fp8Llama405B: "fp8-405b"
        case .int8: "int8"
        case .int4: "int4"
        }
    }

    public var description: String { name }

    /// Looks a type up by its name, case-insensitively; nil for a name not in ``allCases``.
    public init?(name: String) {
        let key = name.lowercased()
        guard let found = Self.allCases.first(where: { $0.name == key }) else { return nil }
        self = found
    }

    /// Whether the type is written with integer groups (and so takes a group size and a layout).
    public var isInteger: Bool { self == .int8 || self == .int4 }

    /// Whether the type is FP8 (and so takes an element format and a scale granularity).
    public var isFP8: Bool { self == .fp8 || self == .fp8Llama405B }
}
