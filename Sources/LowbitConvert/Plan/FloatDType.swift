import LowbitFormats

/// The float dtypes Lowbit writes unquantized tensors in: `--dtype`, and `--type f32|f16|bf16`
/// for a safetensors output.
public enum FloatDType: String, Sendable, CaseIterable {
    /// IEEE single precision.
    case f32
    /// IEEE half precision.
    case f16
    /// bfloat16 (the top half of an F32).
    case bf16

    /// The safetensors dtype that stores it.
    public var safetensors: SafetensorsDType {
        switch self {
        case .f32: .F32
        case .f16: .F16
        case .bf16: .BF16
        }
    }

    /// The dtype of a GGUF float type, nil for any other type.
    public init?(_ type: GGMLType) {
        switch type {
        case .f32: self = .f32
        case .f16: self = .f16
        case .bf16: self = .bf16
        default: return nil
        }
    }
}
