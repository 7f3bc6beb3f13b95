import LowbitFormats

/// Q6_K: 256 elements in 210 bytes (6.5625 bits per weight).
///
/// Layout: 128 bytes `ql` (low nibbles), 64 bytes `qh` (high 2-bit pairs), 16 signed 8-bit sub-block
/// scales (one per 16 elements), then `d` (f16). Within each 128-element half `h`, for `l < 32`:
/// element `l` = low nibble of `ql[64h+l]` + bits 0-1 of `qh[32h+l]`; `l+32` = low nibble of
/// `ql[64h+32+l]` + bits 2-3; `l+64` = high nibble of `ql[64h+l]` + bits 4-5; `l+96` = high nibble of
/// `ql[64h+32+l]` + bits 6-7. Value = `d * sc * (q - 32)`. Quantization reproduces llama.cpp.
public struct Q6KCodec: RowCodec {
    /// The block type, `.q6_K`.
    public var type: GGMLType { .q6_K }

    /// A Q6_K codec (it holds no state).
    public init() {}

    /// Quantizes `count` floats (a multiple of 256) into Q6_K blocks, as llama.cpp does;
    /// with `importance`, the scale search weights each element's squared error by it.
    public func quantize(_ source: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer,
                         count: Int, importance: UnsafePointer<Float>?) {
        precondition(count % 256 == 0, "Q6_K rows must be a multiple of 256 elements")
        KQuantScratch.with { s in
            KQuantLanes.Scratch.with { lanes in
                let levels = s.signedLevels
                for b in 0..<(count / 256) {
                    let block = destination + 210 * b
                    let bytes = block.assumingMemoryBound(to: UInt8.self)
                    let x = source + 256 * b
                    let qw = importance.map { $0 + 256 * b }
                    if let qw {
                        for j in 0..<16 {
                            s.scales[j] = KQuantMath.symmetricScale(16, nmax: 32, x + 16 * j, levels + 16 * j,
                                                                    weights: qw + 16 * j)
                        }
                    } else {
                        // All 16 sub-blocks side by side (bit-identical to one at a time).
                        for i in 0..<16 {
                            for j in 0..<16 { lanes.x[16 * i + j] = x[16 * j + i] }
                        }
                        KQuantLanes.symmetricScale(16, nmax: 32, lanes, scaleOut: s.scales)
                        for j in 0..<16 {
                            for i in 0..<16 { levels[16 * j + i] = Int8(truncatingIfNeeded: lanes.levels[16 * i + j]) }
                        }
                    }
                    var maxScale: Float = 0, maxAbsScale: Float = 0
                    for j in 0..<16 where abs(s.scales[j]) > maxAbsScale {
                        maxAbsScale = abs(s.scales[j])
                        maxScale = s.scales[j]
                    }
                    if maxAbsScale < KQuantMath.groupMaxEps {
                        for i in 0..<210 { bytes[i] = 0 }
                        block.storeBytes(of: KQuantMath.halfBits(0).littleEndian, toByteOffset: 208, as: UInt16.self)
                        continue
                    }
                    let iscale = -128 / maxScale
                    let dBits = KQuantMath.halfBits(1 / iscale)
                    block.storeBytes(of: dBits.littleEndian, toByteOffset: 208, as: UInt16.self)
                    let scales = UnsafeMutableRawPointer(bytes + 192).assumingMemoryBound(to: Int8.self)
                    for j in 0..<16 {
                        scales[j] = Int8(truncatingIfNeeded: min(127, KQuantMath.nearestInt(iscale * s.scales[j])))
                    }
                    let d = KQuantMath.float(halfBits: dBits)
                    for j in 0..<16 {
                        let dj = d * Float(scales[j])
                        if dj == 0 { continue }
                        for i in 0..<16 {
                            let l = KQuantMath.clamp(KQuantMath.nearestInt(x[16 * j + i] / dj), -32, 31)
                            levels[16 * j + i] = Int8(truncatingIfNeeded: l + 32)
                        }
                    }
                    let L = s.levels, ql = bytes, qh = bytes + 128
                    for h in 0..<2 {
                        let base = 128 * h
                        for l in 0..<32 {
                            let q1 = L[base + l], q2 = L[base + l + 32], q3 = L[base + l + 64], q4 = L[base + l + 96]
                            ql[64 * h + l] = (q1 & 0xF) | ((q3 & 0xF) << 4)
                            ql[64 * h + l + 32] = (q2 & 0xF) | ((q4 & 0xF) << 4)
                            qh[32 * h + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6)
                        }
                    }
                }
            }
        }
    }

    /// Decodes `count` floats (a multiple of 256) from Q6_K blocks.
    public func dequantize(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count % 256 == 0, "Q6_K rows must be a multiple of 256 elements")
        for b in 0..<(count / 256) {
            let block = source + 210 * b
            let bytes = block.assumingMemoryBound(to: UInt8.self)
            let d = KQuantMath.loadHalf(block, 208)
            let scales = UnsafeRawPointer(bytes + 192).assumingMemoryBound(to: Int8.self)
            for h in 0..<2 {
                let ql = bytes + 64 * h, qh = bytes + 128 + 32 * h, sc = scales + 8 * h
                let y = destination + 256 * b + 128 * h
                for part in 0..<2 {
                    // (d * sc) first, then times the level, as the reference.
                    let d1 = d * Float(sc[part]), d2 = d * Float(sc[part + 2])
                    let d3 = d * Float(sc[part + 4]), d4 = d * Float(sc[part + 6])
                    for l in (16 * part)..<(16 * part + 16) {
                        let q1 = Int32((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32
                        let q2 = Int32((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32
                        let q3 = Int32((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32
                        let q4 = Int32((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32
                        y[l] = d1 * Float(q1)
                        y[l + 32] = d2 * Float(q2)
                        y[l + 64] = d3 * Float(q3)
                        y[l + 96] = d4 * Float(q4)
                    }
                }
            }
        }
    }
}
