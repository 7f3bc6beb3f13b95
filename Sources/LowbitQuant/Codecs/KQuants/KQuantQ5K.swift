import LowbitFormats

/// Q5_K: 256 elements in 176 bytes (5.5 bits per weight).
///
/// Layout: `d` (f16), `dmin` (f16), 12 bytes of packed 6-bit sub-block scales and mins, 32 bytes of
/// high bits (`qh`), 128 bytes of low nibbles (`qs`). Element `64*g + l` (l < 32): low nibble of
/// `qs[32*g + l]`, high bit = bit `2g` of `qh[l]`; element `64*g + 32 + l`: high nibble of the same
/// byte, high bit = bit `2g+1` of `qh[l]`. Value = `d*sc[j] * q - dmin*m[j]`.
/// Quantization reproduces llama.cpp's reference quantizer bit for bit.
public struct Q5KCodec: RowCodec {
    /// The block type, `.q5_K`.
    public var type: GGMLType { .q5_K }

    /// A Q5_K codec (it holds no state).
    public init() {}

    /// Quantizes `count` floats (a multiple of 256) into Q5_K blocks, as llama.cpp does;
    /// with `importance`, the scale search weights each element's squared error by it.
    public func quantize(_ source: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer,
                         count: Int, importance: UnsafePointer<Float>?) {
        precondition(count % 256 == 0, "Q5_K rows must be a multiple of 256 elements")
        KQuantAffineGrid.q5.quantizeRow(source, count: count, importance: importance, into: destination,
                                        blockBytes: 176) { levels, block in
            let qh = block + 16, qs = block + 48
            for l in 0..<32 { qh[l] = 0 }
            for g in 0..<4 {
                let lowBit = UInt8(1) << (2 * g), highBit = UInt8(2) << (2 * g)
                for l in 0..<32 {
                    var l1 = levels[64 * g + l], l2 = levels[64 * g + 32 + l]
                    if l1 > 15 { l1 -= 16; qh[l] |= lowBit }
                    if l2 > 15 { l2 -= 16; qh[l] |= highBit }
                    qs[32 * g + l] = l1 | (l2 << 4)
                }
            }
        }
    }

    /// Decodes `count` floats (a multiple of 256) from Q5_K blocks.
    public func dequantize(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count % 256 == 0, "Q5_K rows must be a multiple of 256 elements")
        for b in 0..<(count / 256) {
            let block = source + 176 * b
            let bytes = block.assumingMemoryBound(to: UInt8.self)
            let d = KQuantMath.loadHalf(block, 0), dmin = KQuantMath.loadHalf(block, 2)
            let qh = bytes + 16, qs = bytes + 48
            let y = destination + 256 * b
            for g in 0..<4 {
                let (d1, m1) = KQuantAffineGrid.subBlockScaleMin(2 * g, d: d, dmin: dmin, scaleBytes: bytes + 4)
                let (d2, m2) = KQuantAffineGrid.subBlockScaleMin(2 * g + 1, d: d, dmin: dmin, scaleBytes: bytes + 4)
                let q = qs + 32 * g, out = y + 64 * g
                let lowBit = UInt8(1) << (2 * g), highBit = UInt8(2) << (2 * g)
                for l in 0..<32 {
                    let v = (q[l] & 0xF) | (qh[l] & lowBit != 0 ? 16 : 0)
                    out[l] = d1 * Float(v) - m1
                }
                for l in 0..<32 {
                    let v = (q[l] >> 4) | (qh[l] & highBit != 0 ? 16 : 0)
                    out[32 + l] = d2 * Float(v) - m2
                }
            }
        }
    }
}
