import LowbitFormats

/// Shared arithmetic of the GGUF legacy block types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1).
///
/// Every step mirrors gguf-py's numpy reference (`gguf.quants`), which is normative: all
/// arithmetic in float32, one rounding per operation (no fused multiply-add), scales computed
/// from the float32 extremes and stored as float16 afterwards, `id = d == 0 ? 0 : 1 / d`.
/// The helpers are branch-free over the 32 elements of a block so that the loops vectorise.
@usableFromInline
enum LegacyBlock {
    /// Elements per block of every legacy type.
    @usableFromInline static let size = 32

    /// 4 or 5: the code width of `type` when it is `fourBit` or `fiveBit` (the two widths of one
    /// legacy algorithm, Q4_0/Q5_0 or Q4_1/Q5_1), nil for any other type.
    static func width(of type: GGMLType, fourBit: GGMLType, fiveBit: GGMLType) -> Int? {
        type == fourBit ? 4 : type == fiveBit ? 5 : nil
    }

    /// Calls `body` with `bits` (4 or 5) as a literal, so that the inlined block loop is compiled
    /// once per width with its sizes and branches folded.
    @inline(__always)
    static func withConstantWidth(_ bits: Int, _ body: (Int) -> Void) {
        if bits == 4 { body(4) } else { body(5) }
    }

    /// The element whose magnitude is largest, the first one if several tie (numpy `argmax`
    /// of `abs`). It is the block's maximum or its minimum, found by the branch-free
    /// ``keyRange(_:)``; only when both have the same magnitude (both signs present, an all-zero
    /// block, NaN) does a scan pick the first. (Any data-dependent branch here costs a
    /// misprediction per block, more than the whole kernel.)
    @inlinable @inline(__always)
    static func signedAbsMax(_ x: UnsafePointer<Float>) -> Float {
        let (mn, mx) = keyRange(x)
        guard mx.magnitude != mn.magnitude else { return firstOfLargestMagnitude(x) }
        return mx.magnitude > mn.magnitude ? mx : mn      // a select, not a branch
    }

    @usableFromInline
    static func firstOfLargestMagnitude(_ x: UnsafePointer<Float>) -> Float {
        let top = absMax(x).bitPattern
        var j = 0
        while j < 31, x[j].bitPattern & 0x7FFF_FFFF != top { j += 1 }
        return x[j]
    }

    /// The largest magnitude of the block.
    @inlinable @inline(__always)
    static func absMax(_ x: UnsafePointer<Float>) -> Float {
        var top: UInt32 = 0
        for j in 0..<32 { top = max(top, x[j].bitPattern & 0x7FFF_FFFF) }
        return Float(bitPattern: top)
    }

    /// The smallest and largest element, compared as integer keys that order like the floats
    /// (`-0.0` below `+0.0`, NaN outside the infinities), so that the loop vectorises.
    @inlinable @inline(__always)
    static func keyRange(_ x: UnsafePointer<Float>) -> (min: Float, max: Float) {
        var lo = Int32.max, hi = Int32.min
        for j in 0..<32 {
            let b = Int32(bitPattern: x[j].bitPattern)
            let key = b ^ ((b >> 31) & 0x7FFF_FFFF)
            lo = min(lo, key)
            hi = max(hi, key)
        }
        return (Float(bitPattern: UInt32(bitPattern: lo ^ ((lo >> 31) & 0x7FFF_FFFF))),
                Float(bitPattern: UInt32(bitPattern: hi ^ ((hi >> 31) & 0x7FFF_FFFF))))
    }

    /// The smallest and largest element, as a sequential `if v < min` scan finds them: a zero
    /// result takes the sign of the block's first zero.
    @inlinable @inline(__always)
    static func minMax(_ x: UnsafePointer<Float>) -> (min: Float, max: Float) {
        var (mn, mx) = keyRange(x)
        if mn == 0 { mn = firstZero(x) }
        if mx == 0 { mx = firstZero(x) }
        return (mn, mx)
    }

    @usableFromInline
    static func firstZero(_ x: UnsafePointer<Float>) -> Float {
        for j in 0..<32 where x[j] == 0 { return x[j] }
        return 0
    }

    /// The reciprocal numpy computes: `np.where(d == 0, 0, 1 / d)`.
    @inlinable @inline(__always)
    static func inverse(_ d: Float) -> Float { d == 0 ? 0 : 1 / d }

    /// `clip(trunc(v), 0, top)` as an integer, for the `trunc(v + 0.5)` rounding of Q4/Q5.
    /// Non-finite values become 0, as numpy's float-to-uint8 cast makes them (they arise only
    /// when `1/d` overflows, for blocks of subnormal weights). No trapping conversion, so loops
    /// over it vectorise.
    @inlinable @inline(__always)
    static func truncClamped(_ v: Float, top: Float) -> UInt32 {
        let c = v > 0 ? (v < top ? v : (v < 256 ? top : 0)) : 0
        return exactInteger(c.rounded(.towardZero))
    }

    /// The integer value of a float that holds a whole number in 0 ..< 2^23.
    @inlinable @inline(__always)
    static func exactInteger(_ whole: Float) -> UInt32 {
        (whole + 8_388_608).bitPattern &- 0x4B00_0000
    }

    /// gguf-py's `np_roundf`: rounds half away from zero, every step exact
    /// (`floor(a) + floor(2 * (a - floor(a)))` on the magnitude). Results above `top` (only
    /// NaN, from non-finite `v`, in practice) become 0 as numpy's cast to int8 makes them.
    @inlinable @inline(__always)
    static func roundHalfAway(_ v: Float, top: Float) -> Int32 {
        let a = v.magnitude
        let f = a.rounded(.down)
        let b = f + (2 * (a - f)).rounded(.down)
        let c = b <= top ? b : 0
        let q = Int32(bitPattern: exactInteger(c))
        return v < 0 ? 0 &- q : q
    }

    @inlinable @inline(__always)
    static func storeHalf(_ value: Float, _ block: UnsafeMutableRawPointer, at offset: Int) {
        block.storeBytes(of: Float16(value).bitPattern, toByteOffset: offset, as: UInt16.self)
    }

    @inlinable @inline(__always)
    static func loadHalf(_ block: UnsafeRawPointer, at offset: Int) -> Float {
        Float(Float16(bitPattern: block.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    /// Computes the 32 codes `clip(trunc((x[j] - shift) * id + offset), 0, top)` of a block and
    /// packs them as GGUF does: byte j of `qs` holds the low 4 bits of code j in its low nibble
    /// and of code j + 16 in its high nibble. Returns the fifth bits as one word (bit j = bit 4
    /// of code j) when `fiveBits`, else 0. `shift` is the block minimum (Q4_1/Q5_1) or +0.0,
    /// for which `x - shift` is exactly `x`.
    @inlinable @inline(__always)
    static func encodeCodes(_ x: UnsafePointer<Float>, shift: Float, scale id: Float, offset: Float,
                            top: Float, fiveBits: Bool, into qs: UnsafeMutableRawPointer) -> UInt32 {
        var high: UInt32 = 0
        for j in 0..<16 {
            let lo = truncClamped((x[j] - shift) * id + offset, top: top)
            let hi = truncClamped((x[j + 16] - shift) * id + offset, top: top)
            qs.storeBytes(of: UInt8(truncatingIfNeeded: (lo & 0xF) | (hi & 0xF) << 4), toByteOffset: j, as: UInt8.self)
            if fiveBits { high |= ((lo >> 4) & 1) << UInt32(j) | ((hi >> 4) & 1) << UInt32(j + 16) }
        }
        return high
    }

    /// Decodes a block of 32 codes as `scale * code + offset`: 4-bit codes from the nibbles at
    /// `qs` (`high == nil`) or 5-bit codes whose fifth bits are the bits of `high`.
    /// `scale * code + offset` is two float32 operations (no fused multiply-add), as in numpy;
    /// the symmetric types pass `offset` -0.0 (the exact identity of addition, unlike +0.0)
    /// and subtract their centre from the codes.
    @inlinable @inline(__always)
    static func decode(_ qs: UnsafeRawPointer, high: UInt32?, centre: Int32, scale: Float, offset: Float,
                       into y: UnsafeMutablePointer<Float>) {
        let bytes = qs.assumingMemoryBound(to: UInt8.self)
        if let high {
            for j in 0..<16 {
                let b = Int32(bytes[j])
                let lo = (b & 0xF) | Int32(bitPattern: (high >> UInt32(j)) & 1) << 4
                let hi = (b >> 4) | Int32(bitPattern: (high >> UInt32(j + 16)) & 1) << 4
                y[j] = scale * Float(lo - centre) + offset
                y[j + 16] = scale * Float(hi - centre) + offset
            }
        } else {
            for j in 0..<16 {
                let b = Int32(bytes[j])
                y[j] = scale * Float((b & 0xF) - centre) + offset
                y[j + 16] = scale * Float((b >> 4) - centre) + offset
            }
        }
    }
}
