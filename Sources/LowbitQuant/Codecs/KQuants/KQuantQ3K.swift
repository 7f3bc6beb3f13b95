import LowbitFormats

/// Q3_K: 256 elements in 110 bytes (3.4375 bits per weight).
///
/// Layout: 32 bytes `hmask` (bit `k` of byte `m` is the high bit of element `32k + m`; set means
/// "no -4 offset"), 64 bytes of 2-bit low levels (packed like Q2_K), 12 bytes of sixteen 6-bit
/// scales (low nibbles in bytes 0-7, scale `j` and `j+8` sharing byte `j`; high 2-bit pairs in bytes
/// 8-11, scale `j` at bits `2*(j/4)` of byte `8 + j%4`), then `d` (f16).
/// Value = `d * (sc - 32) * (low + 4*high - 4)`. Quantization reproduces llama.cpp bit for bit.
public struct Q3KCodec: RowCodec {
    /// The block type, `.q3_K`.
    public var type: GGMLType { .q3_K }

    /// A Q3_K codec (it holds no state).
    public init() {}

    /// Quantizes `count` floats (a multiple of 256) into Q3_K blocks, as llama.cpp does;
    /// with `importance`, the scale search weights each element's squared error by it.
    public func quantize(_ source: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer,
                         count: Int, importance: UnsafePointer<Float>?) {
        precondition(count % 256 == 0, "Q3_K rows must be a multiple of 256 elements")
        KQuantScratch.with { s in
            let levels = s.signedLevels
            let packed = s.scaleLevels  // 16 six-bit scales (offset by 32) before packing
            for b in 0..<(count / 256) {
                let block = destination + 110 * b
                let bytes = block.assumingMemoryBound(to: UInt8.self)
                let x = source + 256 * b
                let scaleBytes = bytes + 96
                let d: UInt16
                if let importance {
                    d = Self.searchScalesWeighted(x, importance + 256 * b, levels, packed, s)
                } else {
                    d = Self.searchScales(x, levels, packed, s)
                }
                Self.packScales(packed, into: scaleBytes)
                block.storeBytes(of: d.littleEndian, toByteOffset: 108, as: UInt16.self)

                // Requantize against the stored scales.
                let dAll = KQuantMath.float(halfBits: d)
                for j in 0..<16 {
                    let dj = dAll * Float(Self.scale(j, scaleBytes))
                    if dj == 0 { continue }
                    for i in 0..<16 {
                        let l = KQuantMath.clamp(KQuantMath.nearestInt(x[16 * j + i] / dj), -4, 3)
                        levels[16 * j + i] = Int8(truncatingIfNeeded: l + 4)
                    }
                }
                let hmask = bytes
                for m in 0..<32 { hmask[m] = 0 }
                for j in 0..<256 where levels[j] > 3 {
                    hmask[j % 32] |= UInt8(1) << (j / 32)
                    levels[j] -= 4
                }
                KQuantMath.packTwoBit(s.levels, into: bytes + 32)
            }
        }
    }

    /// Signed 6-bit scale `j` (-32...31) from the packed 12-byte field.
    @inline(__always)
    static func scale(_ j: Int, _ q: UnsafePointer<UInt8>) -> Int32 {
        let low = j < 8 ? q[j] & 0xF : q[j - 8] >> 4
        let high = (q[8 + j % 4] >> (2 * (j / 4))) & 3
        return Int32(low | (high << 4)) - 32
    }

    /// Packs sixteen 6-bit values (0...63) into the 12-byte scale field.
    private static func packScales(_ l: UnsafePointer<UInt8>, into q: UnsafeMutablePointer<UInt8>) {
        for i in 0..<12 { q[i] = 0 }
        for j in 0..<16 {
            if j < 8 { q[j] = l[j] & 0xF } else { q[j - 8] |= (l[j] & 0xF) << 4 }
            q[8 + j % 4] |= (l[j] >> 4) << (2 * (j / 4))
        }
    }

    /// The reference search without importance; returns `d`'s half bits and leaves the offset
    /// scales in `packed`.
    private static func searchScales(_ x: UnsafePointer<Float>, _ levels: UnsafeMutablePointer<Int8>,
                                     _ packed: UnsafeMutablePointer<UInt8>, _ s: KQuantScratch) -> UInt16 {
        // Scalar on purpose: the refinement's early exit makes one group at a time faster here
        // than 16 lanes that all run to the slowest lane's iteration count.
        var maxScale: Float = 0, amax: Float = 0
        for j in 0..<16 {
            let scale = KQuantMath.refinedSymmetricScale(16, nmax: 4, x + 16 * j, levels + 16 * j)
            s.scales[j] = scale
            if abs(scale) > amax { amax = abs(scale); maxScale = scale }
        }
        guard maxScale != 0 else {
            for j in 0..<16 { packed[j] = 0 }
            return KQuantMath.halfBits(0)
        }
        let iscale = -32 / maxScale
        for j in 0..<16 {
            let l = Int8(truncatingIfNeeded: KQuantMath.nearestInt(iscale * s.scales[j]))
            packed[j] = UInt8(truncatingIfNeeded: max(-32, min(31, l)) + 32)
        }
        return KQuantMath.halfBits(1 / iscale)
    }

    /// The reference search with an importance vector (`quantize_row_q3_K_impl`).
    private static func searchScalesWeighted(_ x: UnsafePointer<Float>, _ qw: UnsafePointer<Float>,
                                             _ levels: UnsafeMutablePointer<Int8>,
                                             _ packed: UnsafeMutablePointer<UInt8>, _ s: KQuantScratch) -> UInt16 {
        var sumX2: Float = 0
        for j in 0..<256 { sumX2 += x[j] * x[j] }
        let sigma2 = 2 * sumX2 / 256
        for j in 0..<16 {
            let xb = x + 16 * j, wb = qw + 16 * j
            for l in 0..<16 { s.weights[l] = wb[l] * (sigma2 + xb[l] * xb[l]).squareRoot() }
            var sumW: Float = 0
            for l in 0..<16 { sumW += s.weights[l] }
            s.weightSums[j] = sumW
            s.scales[j] = KQuantMath.symmetricScale(16, nmax: 4, xb, levels + 16 * j, weights: s.weights)
        }
        let signedPacked = UnsafeMutableRawPointer(packed).assumingMemoryBound(to: Int8.self)
        let dBlock = KQuantMath.symmetricScale(16, nmax: 32, s.scales, signedPacked, weights: s.weightSums)
        return KQuantMath.halfBits(dBlock)
    }

    /// Decodes `count` floats (a multiple of 256) from Q3_K blocks.
    public func dequantize(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count % 256 == 0, "Q3_K rows must be a multiple of 256 elements")
        for b in 0..<(count / 256) {
            let block = source + 110 * b
            let bytes = block.assumingMemoryBound(to: UInt8.self)
            let dAll = KQuantMath.loadHalf(block, 108)
            let y = destination + 256 * b
            for j in 0..<16 {
                let h = j / 8, k = (j % 8) / 2, o = (j % 2) * 16
                let q = bytes + 32 + 32 * h + o, hm = bytes + o
                let bit = UInt8(1) << (4 * h + k)
                let dl = dAll * Float(Self.scale(j, bytes + 96))
                let shift = UInt8(2 * k)
                for l in 0..<16 {
                    let low = Int32((q[l] >> shift) & 3)
                    y[16 * j + l] = dl * Float(low - (hm[l] & bit != 0 ? 0 : 4))
                }
            }
        }
    }
}
