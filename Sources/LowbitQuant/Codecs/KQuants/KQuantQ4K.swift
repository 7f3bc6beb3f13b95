import LowbitFormats

/// Q4_K: 256 elements in 144 bytes (4.5 bits per weight).
///
/// Layout: `d` (f16), `dmin` (f16), 12 bytes of packed 6-bit sub-block scales and mins, then 128
/// bytes of 4-bit levels; element `64*g + l` (l < 32) is the low nibble of byte `16 + 32*g + l`,
/// element `64*g + 32 + l` its high nibble. Value = `d*sc[j] * q - dmin*m[j]`.
/// Quantization reproduces llama.cpp's reference quantizer bit for bit.
public struct Q4KCodec: RowCodec {
    /// The block type, `.q4_K`.
    public var type: GGMLType { .q4_K }

    /// A Q4_K codec (it holds no state).
    public init() {}

    /// Quantizes `count` floats (a multiple of 256) into Q4_K blocks, as llama.cpp does;
    /// with `importance`, the scale search weights each element's squared error by it.
    public func quantize(_ source: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer,
                         count: Int, importance: UnsafePointer<Float>?) {
        precondition(count % 256 == 0, "Q4_K rows must be a multiple of 256 elements")
        KQuantAffineGrid.q4.quantizeRow(source, count: count, importance: importance, into: destination,
                                        blockBytes: 144) { levels, block in
            let qs = block + 16
            for g in 0..<4 {
                for l in 0..<32 {
                    qs[32 * g + l] = levels[64 * g + l] | (levels[64 * g + 32 + l] << 4)
                }
            }
        }
    }

    /// Decodes `count` floats (a multiple of 256) from Q4_K blocks.
    public func dequantize(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count % 256 == 0, "Q4_K rows must be a multiple of 256 elements")
        for b in 0..<(count / 256) {
            let block = source + 144 * b
            let bytes = block.assumingMemoryBound(to: UInt8.self)
            let d = KQuantMath.loadHalf(block, 0), dmin = KQuantMath.loadHalf(block, 2)
            let qs = bytes + 16
            let y = destination + 256 * b
            for g in 0..<4 {
                let (d1, m1) = KQuantAffineGrid.subBlockScaleMin(2 * g, d: d, dmin: dmin, scaleBytes: bytes + 4)
                let (d2, m2) = KQuantAffineGrid.subBlockScaleMin(2 * g + 1, d: d, dmin: dmin, scaleBytes: bytes + 4)
                let q = qs + 32 * g, out = y + 64 * g
                for l in 0..<32 { out[l] = d1 * Float(q[l] & 0xF) - m1 }
                for l in 0..<32 { out[32 + l] = d2 * Float(q[l] >> 4) - m2 }
            }
        }
    }
}
