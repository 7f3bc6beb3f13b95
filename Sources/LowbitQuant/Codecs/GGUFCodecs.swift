import LowbitFormats

/// The one place that maps a GGUF block type to the codec that reads and writes it.
public enum GGUFCodecs {
    /// The codec for `type`: F32/F16/BF16, the legacy blocks Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, and
    /// the K-quant / IQ4 types (``kQuantCodec(for:)``); nil for types Lowbit cannot convert.
    public static func codec(for type: GGMLType) -> (any RowCodec)? {
        switch type {
        case .f32, .f16, .bf16: FloatRowCodec(type)
        case .q8_0: Q8_0Codec()
        case .q4_0, .q5_0: SymmetricLegacyCodec(type)
        case .q4_1, .q5_1: AffineLegacyCodec(type)
        default: kQuantCodec(for: type)
        }
    }

    /// Whether ``codec(for:)`` has a codec for `type`.
    public static func canCode(_ type: GGMLType) -> Bool { codec(for: type) != nil }

    /// Every type with a codec.
    public static var supportedTypes: [GGMLType] { GGMLType.allCases.filter(canCode) }
}
