/// Scalar conversions between `Float` and the 8-bit float formats, bit-exact with `ml_dtypes`
/// (`float8_e4m3fn`, `float8_e5m2`, `float8_e8m0fnu`).
///
/// - E4M3 ("fn"): sign, 4 exponent bits (bias 7), 3 mantissa bits. No infinities; `0x7F`/`0xFF`
///   are NaN; the largest finite value is 448. Encoding rounds to nearest even; a value that
///   rounds beyond 448 (|x| > 464), an infinity or a NaN becomes NaN (sign kept).
/// - E5M2: sign, 5 exponent bits (bias 15), 2 mantissa bits, IEEE-like: `0x7C` is +inf,
///   `0x7D...0x7F` NaN; largest finite value 57344. Encoding rounds to nearest even; values
///   that round beyond 57344 become inf; NaN becomes `0x7E` (sign kept).
/// - E8M0 (`fnu`): an unsigned power of two 2^(bits-127); `0xFF` is NaN; no zero. Encoding
///   rounds to the nearest power of two by value, ties to the larger (see ``e8m0(_:)``); zero,
///   negatives, inf and NaN become NaN.
///
/// The encoders are branch-free integer bit manipulation so that loops over them vectorise.
public enum FP8 {
    /// Rounds `x` to the nearest E4M3 ("fn") value (ties to even) and returns its bits.
    @inlinable @inline(__always)
    public static func e4m3(_ x: Float) -> UInt8 {
        let bits = x.bitPattern
        let sign = (bits >> 24) & 0x80
        let abs = bits & 0x7FFF_FFFF
        // Normal range (|x| >= 2^-6): rebias the exponent from 127 to 7, round the 20 dropped
        // mantissa bits to nearest even, saturate to 0x7F (NaN) — which also maps inf and NaN.
        let rebased = abs &- (120 << 23)
        let normal = min((rebased &+ 0x7FFFF &+ ((abs >> 20) & 1)) >> 20, 0x7F)
        // Subnormal range: adding 2^14 leaves a float whose last mantissa bit weighs 2^-9 (the
        // E4M3 subnormal step), so the FPU's round-to-nearest-even does the rounding.
        let subnormal = (Float(bitPattern: abs) + 16384).bitPattern &- 0x4680_0000
        let magnitude = abs < 0x3C80_0000 ? subnormal : normal
        return UInt8(truncatingIfNeeded: sign | magnitude)
    }

    /// Rounds `x` to the nearest E5M2 value (ties to even) and returns its bits.
    @inlinable @inline(__always)
    public static func e5m2(_ x: Float) -> UInt8 {
        let bits = x.bitPattern
        let sign = (bits >> 24) & 0x80
        let abs = bits & 0x7FFF_FFFF
        // Normal range (|x| >= 2^-14): rebias 127 -> 15, round 21 bits to nearest even,
        // saturate at 0x7C (inf).
        let rebased = abs &- (112 << 23)
        let normal = min((rebased &+ 0xFFFFF &+ ((abs >> 21) & 1)) >> 21, 0x7C)
        // Subnormal step 2^-16: add 2^7 and let the FPU round.
        let subnormal = (Float(bitPattern: abs) + 128).bitPattern &- 0x4300_0000
        let finite = abs < 0x3880_0000 ? subnormal : normal
        let magnitude = abs > 0x7F80_0000 ? 0x7E : finite
        return UInt8(truncatingIfNeeded: sign | magnitude)
    }

    /// Rounds `x` to an E8M0 power of two and returns its bits.
    ///
    /// Lowbit's rule: the power of two nearest to `x` by value (linear distance), a tie going
    /// to the larger one. E8M0 has no mantissa, so "ties to even" has no even to go to; a scale
    /// that multiplies a whole block should err on the larger side, where elements saturate
    /// less. The midpoint between 2^e and 2^(e+1) is 1.5 x 2^e, so for a normal F32 the
    /// exponent goes up when the top mantissa bit is set. F32 subnormals follow the same rule:
    /// they lie between 2^-149 and 2^-126, the E8M0 values there are 2^-127 (`0x00`) and 2^-126
    /// (`0x01`), and the midpoint 1.5 x 2^-127 has mantissa field `0x60_0000`; anything below
    /// 2^-127 rounds up to `0x00`, the smallest value. Zero, negatives, inf and NaN have no
    /// E8M0 value and become NaN (`0xFF`), as does anything at or above 1.5 x 2^127.
    ///
    /// The OCP MX specification derives a block's shared scale from the block's largest
    /// exponent; it does not define a cast of an arbitrary float to E8M0, so this rule is
    /// Lowbit's own (formats/quantized-blocks.md, section 1), fixed by hand-computed boundary
    /// tests. ml_dtypes 0.7 casts the same way; 0.6 rounded every subnormal above 2^-127 up.
    @inlinable @inline(__always)
    public static func e8m0(_ x: Float) -> UInt8 {
        let bits = x.bitPattern
        let exponent = bits >> 23          // includes the sign bit: negatives land >= 256
        let mantissa = bits & 0x7F_FFFF
        let normal = exponent &+ (mantissa >= 0x40_0000 ? 1 : 0)
        let subnormal: UInt32 = mantissa >= 0x60_0000 ? 1 : 0
        let rounded = exponent == 0 ? subnormal : normal
        let invalid = bits == 0 || rounded >= 255
        return invalid ? 0xFF : UInt8(truncatingIfNeeded: rounded)
    }

    /// The value of E4M3 ("fn") bits. Branch-free: the 7 magnitude bits placed at the top of
    /// an F32 exponent/mantissa field give `2^(e-127) (1 + m/8)` (or the F32 subnormal
    /// `m/8 2^-126`), and multiplying by 2^120 rebiases both cases exactly.
    @inlinable @inline(__always)
    public static func float(e4m3 bits: UInt8) -> Float {
        let magnitude = UInt32(bits & 0x7F)
        let value = Float(bitPattern: magnitude << 20) * 0x1p120
        let signed = Float(bitPattern: value.bitPattern | UInt32(bits & 0x80) << 24)
        return magnitude == 0x7F ? .nan : signed
    }

    /// The value of E5M2 bits (the Float16 whose upper byte they are), computed like
    /// ``float(e4m3:)`` with 2^112; exponent field 31 gives inf (mantissa 0) or NaN.
    @inlinable @inline(__always)
    public static func float(e5m2 bits: UInt8) -> Float {
        let magnitude = UInt32(bits & 0x7F)
        let finite = Float(bitPattern: magnitude << 21) * 0x1p112
        let special: Float = magnitude == 0x7C ? .infinity : .nan
        let value = magnitude >= 0x7C ? special : finite
        return Float(bitPattern: value.bitPattern | UInt32(bits & 0x80) << 24)
    }

    /// The value of E8M0 bits: 2^(bits-127), NaN for `0xFF`.
    @inlinable @inline(__always)
    public static func float(e8m0 bits: UInt8) -> Float {
        if bits == 0xFF { return .nan }
        return Float(bitPattern: bits == 0 ? 0x40_0000 : UInt32(bits) << 23)
    }

    /// All 256 E4M3 values, indexed by bits (table for bulk decoding).
    public static let e4m3Table: [Float] = (0...255).map { float(e4m3: UInt8($0)) }
    /// All 256 E5M2 values, indexed by bits.
    public static let e5m2Table: [Float] = (0...255).map { float(e5m2: UInt8($0)) }
}
