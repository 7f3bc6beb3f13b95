import LowbitFormats

/// The two 8-bit float formats used for weights.
public enum FP8Variant: String, Hashable, Sendable, CaseIterable {
    /// E4M3 "fn": 4 exponent bits, 3 mantissa bits, no infinities, largest finite 448.
    case e4m3
    /// E5M2: 5 exponent bits, 2 mantissa bits, largest finite 57344.
    case e5m2

    /// The largest finite magnitude; quantizers clamp to it before the cast.
    public var maxFinite: Float { self == .e4m3 ? 448 : 57344 }

    /// The safetensors dtype that stores it.
    public var dtype: SafetensorsDType { self == .e4m3 ? .F8_E4M3 : .F8_E5M2 }

    /// The variant a safetensors dtype stores, nil for any other dtype.
    public init?(dtype: SafetensorsDType) {
        switch dtype {
        case .F8_E4M3: self = .e4m3
        case .F8_E5M2: self = .e5m2
        default: return nil
        }
    }
}
