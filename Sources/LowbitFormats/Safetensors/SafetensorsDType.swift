/// An element type as the safetensors header spells it (`"dtype": "BF16"`).
public enum SafetensorsDType: String, CaseIterable, Sendable {
    case BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, C64
    case F8_E4M3, F8_E5M2, F8_E8M0, F4, F6_E2M3, F6_E3M2
    /// The "FNUZ" FP8 variants (finite, no negative zero; 0x80 is NaN), as AMD hardware uses
    /// them; the `safetensors` package (0.8) reads and writes them.
    case F8_E4M3FNUZ, F8_E5M2FNUZ

    /// The spelling in the header.
    public var name: String { rawValue }

    /// Bits per element: 4 for F4, 6 for the F6 types, a multiple of 8 for the rest.
    public var bitsPerElement: Int {
        switch self {
        case .BOOL, .U8, .I8, .F8_E4M3, .F8_E5M2, .F8_E8M0, .F8_E4M3FNUZ, .F8_E5M2FNUZ: 8
        case .I16, .U16, .F16, .BF16: 16
        case .I32, .U32, .F32: 32
        case .F64, .I64, .U64, .C64: 64
        case .F4: 4
        case .F6_E2M3, .F6_E3M2: 6
        }
    }
}
