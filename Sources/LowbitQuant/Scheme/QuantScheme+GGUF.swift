import LowbitFormats

extension QuantScheme {
    /// The scheme a GGUF block type implements, or nil for plain float/integer element types,
    /// the lattice (IQ1/IQ2/IQ3) and ternary types, which are not scale-times-grid schemes, and
    /// the dot-product activation formats Q8_1 and Q8_K, which carry derived sums.
    ///
    /// Rounding follows gguf-py's reference quantizer (`gguf.quants`): Q8_0 rounds half away
    /// from zero (`np_roundf`), Q4_0/Q4_1/Q5_0/Q5_1 compute `trunc(v + 0.5)` on non-negative
    /// values (half up); K-quants search their scales and round to nearest even.
    public static func gguf(_ type: GGMLType) -> QuantScheme? {
        switch type {
        case .q8_0:
            return QuantScheme(element: .integer(bits: 8), granularity: .perGroup(32),
                               scaleFormat: .f16, rounding: .nearestAwayFromZero)
        case .q4_0:
            return QuantScheme(element: .integer(bits: 4), granularity: .perGroup(32),
                               scaleFormat: .f16, rounding: .nearestUp)
        case .q4_1:
            return QuantScheme(element: .integer(bits: 4), granularity: .perGroup(32),
                               offset: .minimum, scaleFormat: .f16, rounding: .nearestUp)
        case .q5_0:
            return QuantScheme(element: .integer(bits: 5), granularity: .perGroup(32),
                               scaleFormat: .f16, rounding: .nearestUp)
        case .q5_1:
            return QuantScheme(element: .integer(bits: 5), granularity: .perGroup(32),
                               offset: .minimum, scaleFormat: .f16, rounding: .nearestUp)
        case .q2_K:
            return kQuant(bits: 2, subBlock: 16, subScaleBits: 4, offset: .minimum)
        case .q3_K:
            return kQuant(bits: 3, subBlock: 16, subScaleBits: 6, offset: .symmetric)
        case .q4_K:
            return kQuant(bits: 4, subBlock: 32, subScaleBits: 6, offset: .minimum)
        case .q5_K:
            return kQuant(bits: 5, subBlock: 32, subScaleBits: 6, offset: .minimum)
        case .q6_K:
            return kQuant(bits: 6, subBlock: 16, subScaleBits: 8, offset: .symmetric)
        case .iq4_nl:
            return QuantScheme(element: .codebook(.iq4nl), granularity: .perGroup(32),
                               scaleFormat: .f16, rounding: .nearestEven, searchesScale: true)
        case .iq4_xs:
            return QuantScheme(element: .codebook(.iq4nl),
                               granularity: .superBlock(size: 256, subBlock: 32, subScaleBits: 6),
                               scaleFormat: .f16, rounding: .nearestEven, searchesScale: true)
        case .mxfp4:
            return QuantScheme(element: .codebook(.e2m1), granularity: .perGroup(32),
                               scaleFormat: .f8e8m0, rounding: .nearestEven)
        default:
            return nil
        }
    }

    private static func kQuant(bits: Int, subBlock: Int, subScaleBits: Int, offset: Offset) -> QuantScheme {
        QuantScheme(element: .integer(bits: bits),
                    granularity: .superBlock(size: 256, subBlock: subBlock, subScaleBits: subScaleBits),
                    offset: offset, scaleFormat: .f16, rounding: .nearestEven, searchesScale: true)
    }
}
