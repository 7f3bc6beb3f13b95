/// The non-linear 4-bit grid shared by IQ4_NL and IQ4_XS, and the quantizer both use.
///
/// Each 32-element block stores 4-bit indices into a fixed table of 16 signed levels; IQ4_NL gives
/// every block its own f16 scale, IQ4_XS groups eight blocks under one f16 super scale with 6-bit
/// block scales. The search mirrors llama.cpp's `quantize_row_iq4_nl_impl` (the path
/// `ggml_quantize_chunk` takes, with 7 trial scales either side) bit for bit.
enum IQ4NonLinear {
    /// The 16 levels, ascending.
    static let levels: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

    /// Trial scales either side of the first guess.
    static let trials = 7

    /// Quantizes `superBlockSize` elements (32 or 256) into 4-bit indices at `qs` (16 bytes per 32
    /// elements: element `j` in the low nibble of byte `j`, element `16+j` in the high nibble).
    /// For 32-element super blocks returns the block scale; for 256 it also fills the IQ4_XS block
    /// scale fields and returns the super scale. Both are returned as half bits.
    static func quantize(_ x: UnsafePointer<Float>, superBlockSize: Int, importance: UnsafePointer<Float>?,
                         qs: UnsafeMutablePointer<UInt8>, scalesHigh: UnsafeMutablePointer<UInt16>?,
                         scalesLow: UnsafeMutablePointer<UInt8>?, scratch s: KQuantScratch) -> UInt16 {
        levels.withUnsafeBufferPointer { table in
            var values: (Float, Float, Float, Float, Float, Float, Float, Float,
                         Float, Float, Float, Float, Float, Float, Float, Float) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            return withUnsafeMutableBytes(of: &values) { raw in
                let v = raw.baseAddress!.assumingMemoryBound(to: Float.self)
                for i in 0..<16 { v[i] = Float(table[i]) }
                return quantize(x, superBlockSize: superBlockSize, importance: importance, qs: qs,
                                scalesHigh: scalesHigh, scalesLow: scalesLow, values: v, scratch: s)
            }
        }
    }

    private static func quantize(_ x: UnsafePointer<Float>, superBlockSize: Int, importance: UnsafePointer<Float>?,
                                 qs: UnsafeMutablePointer<UInt8>, scalesHigh: UnsafeMutablePointer<UInt16>?,
                                 scalesLow: UnsafeMutablePointer<UInt8>?, values: UnsafePointer<Float>,
                                 scratch s: KQuantScratch) -> UInt16 {
        let L = s.levels, weight = s.weights, scales = s.scales
        var sigma2: Float = 0
        for j in 0..<superBlockSize { sigma2 += x[j] * x[j] }
        sigma2 *= 2 / Float(superBlockSize)
        for j in 0..<(superBlockSize / 2) { qs[j] = 0 }

        var maxScale: Float = 0, amaxScale: Float = 0
        let blocks = superBlockSize / 32
        for ib in 0..<blocks {
            let xb = x + 32 * ib, Lb = L + 32 * ib
            if let importance {
                let qw = importance + 32 * ib
                for j in 0..<32 { weight[j] = qw[j] * (sigma2 + xb[j] * xb[j]).squareRoot() }
            } else {
                for j in 0..<32 { weight[j] = xb[j] * xb[j] }
            }
            let (amax, maxValue) = KQuantMath.signedAbsMax(xb, 32)
            if amax < KQuantMath.groupMaxEps {
                scales[ib] = 0
                continue
            }
            var d = -maxValue / values[0]
            var id = 1 / d
            var sumqx: Float = 0, sumq2: Float = 0
            for j in 0..<32 {
                let l = KQuantMath.bestIndex(values, 16, id * xb[j])
                Lb[j] = UInt8(truncatingIfNeeded: l)
                let q = values[l], w = weight[j]
                sumqx += w * q * xb[j]
                sumq2 += w * q * q
            }
            d = sumq2 > 0 ? sumqx / sumq2 : 0
            var best = d * sumqx
            for itry in -trials...trials {
                id = Float(itry + Int(levels[0])) / maxValue
                sumqx = 0
                sumq2 = 0
                for j in 0..<32 {
                    let q = values[KQuantMath.bestIndex(values, 16, id * xb[j])], w = weight[j]
                    sumqx += w * q * xb[j]
                    sumq2 += w * q * q
                }
                if sumq2 > 0 && sumqx * sumqx > best * sumq2 {
                    d = sumqx / sumq2
                    best = d * sumqx
                }
            }
            scales[ib] = d
            if abs(d) > amaxScale { amaxScale = abs(d); maxScale = d }
        }

        let dBits: UInt16
        if blocks > 1, let scalesHigh, let scalesLow {
            scalesHigh.pointee = 0
            let d = -maxScale / 32
            dBits = KQuantMath.halfBits(d)
            let id: Float = d != 0 ? 1 / d : 0
            var high: UInt16 = 0
            for ib in 0..<blocks {
                var l = KQuantMath.clamp(KQuantMath.nearestInt(id * scales[ib]), -32, 31)
                let dl = d * Float(l)
                let idl: Float = dl != 0 ? 1 / dl : 0
                let Lb = L + 32 * ib, xb = x + 32 * ib
                for j in 0..<32 { Lb[j] = UInt8(truncatingIfNeeded: KQuantMath.bestIndex(values, 16, idl * xb[j])) }
                l += 32
                let low = UInt8(truncatingIfNeeded: l & 0xF)
                if ib % 2 == 0 { scalesLow[ib / 2] = low } else { scalesLow[ib / 2] |= low << 4 }
                high |= UInt16(truncatingIfNeeded: l >> 4) << (2 * (ib % 8))
            }
            scalesHigh.pointee = high.littleEndian
        } else {
            dBits = KQuantMath.halfBits(scales[0])
            let id: Float = scales[0] != 0 ? 1 / scales[0] : 0
            for j in 0..<superBlockSize { L[j] = UInt8(truncatingIfNeeded: KQuantMath.bestIndex(values, 16, id * x[j])) }
        }
        for i in 0..<blocks {
            for j in 0..<16 { qs[16 * i + j] = L[32 * i + j] | (L[32 * i + 16 + j] << 4) }
        }
        return dBits
    }
}
