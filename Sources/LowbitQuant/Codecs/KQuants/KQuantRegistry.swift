import LowbitFormats

/// The codec for a K-quant or IQ4 block type (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS), or
/// `nil` for any other type. ``GGUFCodecs`` consults it for the types it does not handle itself.
package func kQuantCodec(for type: GGMLType) -> (any RowCodec)? {
    switch type {
    case .q2_K: Q2KCodec()
    case .q3_K: Q3KCodec()
    case .q4_K: Q4KCodec()
    case .q5_K: Q5KCodec()
    case .q6_K: Q6KCodec()
    case .iq4_nl: IQ4NLCodec()
    case .iq4_xs: IQ4XSCodec()
    default: nil
    }
}
