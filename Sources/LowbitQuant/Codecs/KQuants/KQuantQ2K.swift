import LowbitFormats

/// Q2_K: 256 elements in 84 bytes (2.625 bits per weight).
///
/// Layout: 16 bytes of sub-block scales (low nibble: scale, high nibble: min, one byte per 16
/// elements), 64 bytes of 2-bit levels (byte `32*h + l` of each 128-element half `h` holds elements
/// `128h + l + 32k` at bits `2k`), then `d` (f16) and `dmin` (f16). Value = `d*sc * q - dmin*m`.
/// Quantization reproduces llama.cpp's reference quantizer bit for bit.
public struct Q2KCodec: RowCodec {
    /// The block type, `.q2_K`.
    public var type: GGMLType { .q2_K }

    /// A Q2_K codec (it holds no state).
    public init() {}

    /// Quantizes `count` floats (a multiple of 256) into Q2_K blocks, as llama.cpp does;
    /// with `importance`, the scale search weights each element's squared error by it.
    public func quantize(_ source: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer,
                         count: Int, importance: UnsafePointer<Float>?) {
        precondition(count % 256 == 0, "Q2_K rows must be a multiple of 256 elements")
        KQuantScratch.with { s in
            KQuantLanes.Scratch.with { lanes in
                for b in 0..<(count / 256) {
                    let block = destination + 84 * b
                    let bytes = block.assumingMemoryBound(to: UInt8.self)
                    let x = source + 256 * b
                    let (d, dmin): (UInt16, UInt16)
                    if let importance {
                        (d, dmin) = Self.searchScalesWeighted(x, importance + 256 * b, scaleBytes: bytes, s)
                    } else {
                        (d, dmin) = Self.searchScales(x, scaleBytes: bytes, s, lanes)
                    }
                    block.storeBytes(of: d.littleEndian, toByteOffset: 80, as: UInt16.self)
                    block.storeBytes(of: dmin.littleEndian, toByteOffset: 82, as: UInt16.self)
                    // Requantize against the stored scales.
                    let dF = KQuantMath.float(halfBits: d), mF = KQuantMath.float(halfBits: dmin)
                    for j in 0..<16 {
                        let dj = dF * Float(bytes[j] & 0xF)
                        if dj == 0 { continue }
                        let mj = mF * Float(bytes[j] >> 4)
                        for i in 0..<16 {
                            let l = KQuantMath.clamp(KQuantMath.nearestInt((x[16 * j + i] + mj) / dj), 0, 3)
                            s.levels[16 * j + i] = UInt8(truncatingIfNeeded: l)
                        }
                    }
                    KQuantMath.packTwoBit(s.levels, into: bytes + 16)
                }
            }
        }
    }

    /// The reference search without importance: per-16 affine search with |x| weights (all 16
    /// sub-blocks side by side), then 4-bit scales and mins relative to their maxima.
    private static func searchScales(_ x: UnsafePointer<Float>, scaleBytes: UnsafeMutablePointer<UInt8>,
                                     _ s: KQuantScratch, _ lanes: KQuantLanes.Scratch) -> (UInt16, UInt16) {
        for i in 0..<16 {
            for j in 0..<16 {
                let v = x[16 * j + i]
                lanes.x[16 * i + j] = v
                lanes.weights[16 * i + j] = KQuantLanes.abs(v)
            }
        }
        KQuantLanes.affineScale(16, nmax: 3, lanes, rmin: -0.5, rdelta: 0.1, nstep: 15, useMad: true,
                                scaleOut: s.scales, minOut: s.mins)
        var maxScale: Float = 0, maxMin: Float = 0
        for j in 0..<16 {
            for i in 0..<16 { s.levels[16 * j + i] = UInt8(truncatingIfNeeded: lanes.levels[16 * i + j]) }
            if s.scales[j] > maxScale { maxScale = s.scales[j] }
            if s.mins[j] > maxMin { maxMin = s.mins[j] }
        }
        var d: UInt16 = 0, dmin: UInt16 = 0
        if maxScale > 0 {
            let iscale = 15 / maxScale
            for j in 0..<16 {
                scaleBytes[j] = UInt8(truncatingIfNeeded: KQuantMath.nearestInt(iscale * s.scales[j]))
            }
            d = KQuantMath.halfBits(maxScale / 15)
        } else {
            for j in 0..<16 { scaleBytes[j] = 0 }
            d = KQuantMath.halfBits(0)
        }
        if maxMin > 0 {
            let iscale = 15 / maxMin
            for j in 0..<16 {
                scaleBytes[j] |= UInt8(truncatingIfNeeded: KQuantMath.nearestInt(iscale * s.mins[j]) << 4)
            }
            dmin = KQuantMath.halfBits(maxMin / 15)
        } else {
            dmin = KQuantMath.halfBits(0)
        }
        return (d, dmin)
    }

    /// The reference search with an importance vector (`quantize_row_q2_K_impl`).
    private static func searchScalesWeighted(_ x: UnsafePointer<Float>, _ qw: UnsafePointer<Float>,
                                             scaleBytes: UnsafeMutablePointer<UInt8>,
                                             _ s: KQuantScratch) -> (UInt16, UInt16) {
        var sumX2: Float = 0
        for j in 0..<256 { sumX2 += x[j] * x[j] }
        let sigma2 = sumX2 / 256
        for j in 0..<16 {
            let xb = x + 16 * j, wb = qw + 16 * j
            for l in 0..<16 { s.weights[l] = wb[l] * (sigma2 + xb[l] * xb[l]).squareRoot() }
            var sumW: Float = 0
            for l in 0..<16 { sumW += s.weights[l] }
            s.weightSums[j] = sumW
            let r = KQuantMath.affineScale(16, nmax: 3, xb, weights: s.weights, s.levels + 16 * j, s.auxLevels,
                                           rmin: -0.9, rdelta: 0.05, nstep: 36, useMad: false)
            s.scales[j] = r.scale
            s.mins[j] = r.min
        }
        let dm = KQuantMath.positiveScale(16, nmax: 15, s.scales, s.scaleLevels, weights: s.weightSums)
        let mm = KQuantMath.positiveScale(16, nmax: 15, s.mins, s.minLevels, weights: s.weightSums)
        for j in 0..<16 { scaleBytes[j] = s.scaleLevels[j] | (s.minLevels[j] << 4) }
        return (KQuantMath.halfBits(dm), KQuantMath.halfBits(mm))
    }

    /// Decodes `count` floats (a multiple of 256) from Q2_K blocks.
    public func dequantize(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count % 256 == 0, "Q2_K rows must be a multiple of 256 elements")
        for b in 0..<(count / 256) {
            let block = source + 84 * b
            let bytes = block.assumingMemoryBound(to: UInt8.self)
            let d = KQuantMath.loadHalf(block, 80), dmin = KQuantMath.loadHalf(block, 82)
            let y = destination + 256 * b
            for j in 0..<16 {
                // Sub-block j covers elements 16j..<16j+16: half h, shift k, byte offset o.
                let h = j / 8, k = (j % 8) / 2, o = (j % 2) * 16
                let q = bytes + 16 + 32 * h + o
                let sc = bytes[j]
                let dl = d * Float(sc & 0xF), ml = dmin * Float(sc >> 4)
                let shift = UInt8(2 * k)
                for l in 0..<16 { y[16 * j + l] = dl * Float((q[l] >> shift) & 3) - ml }
            }
        }
    }
}
