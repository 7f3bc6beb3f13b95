/// Scalar conversions between `Float` and bfloat16 bit patterns, bit-exact with `ml_dtypes.bfloat16`.
///
/// bfloat16 is the upper half of an IEEE binary32: sign, 8 exponent bits, 7 mantissa bits.
public enum BFloat16Bits {
    /// Rounds `x` to the nearest bfloat16 (ties to even). Infinities stay infinite, values that
    /// round past the largest finite bfloat16 become infinite, and every NaN becomes the quiet
    /// NaN `0x7FC0` with the sign of the input (as ml_dtypes does).
    @inlinable @inline(__always)
    public static func fromFloat(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16
        let nan = ((bits >> 16) & 0x8000) | 0x7FC0
        return UInt16(truncatingIfNeeded: (bits & 0x7FFF_FFFF) > 0x7F80_0000 ? nan : rounded)
    }

    /// The exact `Float` value of bfloat16 `bits`.
    @inlinable @inline(__always)
    public static func toFloat(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }
}
