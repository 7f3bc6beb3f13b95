/// The non-linear 4-bit grid shared by IQ4_NL and IQ4_XS, and the quantizer both use.
///
/// Each 32-element block stores 4-bit indices into a fixed table of 16 signed levels; IQ4_NL gives
/// every block its own f16 scale, IQ4_XS groups eight blocks under one f16 super scale with 6-bit
/// block scales. The search mirrors llama.cpp's `quantize_row_iq4_nl_impl` (the path
/// `ggml_quantize_chunk` takes, with 7 trial scales either side) bit for bit.
enum IQ4NonLinear {
    /// The 16 levels, ascending.
    static let levels: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]
    static let floatLevels: [Float] = levels.map { Float($0) }

    /// Decodes one group of 32 elements packed as 16 bytes of table indices (element `j` in the
    /// low nibble of `qs[j]`, element `16 + j` in its high nibble): `y = scale * table[index]`.
    @inline(__always)
    static func decode(_ qs: UnsafePointer<UInt8>, scale: Float, table: UnsafeBufferPointer<Int8>,
                       into y: UnsafeMutablePointer<Float>) {
        for j in 0..<16 {
            y[j] = scale * Float(table[Int(qs[j] & 0xF)])
            y[j + 16] = scale * Float(table[Int(qs[j] >> 4)])
        }
    }

    /// Trial scales either side of the first guess.
    static let trials = 7

    /// Quantizes `count` elements (a multiple of `superBlockSize`, 32 for IQ4_NL or 256 for IQ4_XS)
    /// into blocks of `blockBytes` at `destination`. Each block starts with its f16 scale; IQ4_XS
    /// blocks then hold `scales_h` (u16) and `scales_l` (4 bytes); the 4-bit indices follow at
    /// `blockBytes - superBlockSize / 2`.
    static func quantizeRow(_ source: UnsafePointer<Float>, count: Int, superBlockSize: Int,
                            importance: UnsafePointer<Float>?, into destination: UnsafeMutableRawPointer,
                            blockBytes: Int) {
        floatLevels.withUnsafeBufferPointer { table in
            let values = table.baseAddress!
            KQuantScratch.with { s in
                func finish(_ b: Int) {
                    let block = destination + blockBytes * b
                    let bytes = block.assumingMemoryBound(to: UInt8.self)
                    let d = finishSuperBlock(source + superBlockSize * b, superBlockSize: superBlockSize,
                                             qs: bytes + blockBytes - superBlockSize / 2,
                                             scalesLow: bytes + 4, values: values, scratch: s)
                    block.storeBytes(of: d.bits.littleEndian, toByteOffset: 0, as: UInt16.self)
                    if superBlockSize > 32 {
                        block.storeBytes(of: d.scalesHigh.littleEndian, toByteOffset: 2, as: UInt16.self)
                    }
                }
                if let importance {
                    for b in 0..<(count / superBlockSize) {
                        searchWeighted(source + superBlockSize * b, superBlockSize: superBlockSize,
                                       importance: importance + superBlockSize * b, values: values, scratch: s)
                        finish(b)
                    }
                    return
                }
                // 16 blocks of 32 side by side (the last batch repeats its final block in the
                // spare lanes and ignores them).
                KQuantLanes.Scratch.with { lanes in
                    var start = 0
                    while start < count {
                        let groups = min(16, (count - start) / 32)
                        for i in 0..<32 {
                            for k in 0..<16 { lanes.x[16 * i + k] = source[start + 32 * min(k, groups - 1) + i] }
                        }
                        let scales = lanes.row(16)
                        KQuantLanes.nonLinearScale(32, lanes, values: values, trials: trials, scaleOut: scales)
                        let perSuper = superBlockSize / 32
                        for sb in 0..<(groups / perSuper) {
                            for ib in 0..<perSuper { s.scales[ib] = scales[sb * perSuper + ib] }
                            finish(start / superBlockSize + sb)
                        }
                        start += 32 * groups
                    }
                }
            }
        }
    }

    /// The per-32 scale search with an importance vector (weights `qw * sqrt(sigma2 + x^2)`),
    /// leaving block scales in `s.scales`.
    private static func searchWeighted(_ x: UnsafePointer<Float>, superBlockSize: Int, importance: UnsafePointer<Float>,
                                       values: UnsafePointer<Float>, scratch s: KQuantScratch) {
        let weight = s.weights, scales = s.scales
        var sigma2: Float = 0
        for j in 0..<superBlockSize { sigma2 += x[j] * x[j] }
        sigma2 *= 2 / Float(superBlockSize)
        for ib in 0..<(superBlockSize / 32) {
            let xb = x + 32 * ib, qw = importance + 32 * ib
            for j in 0..<32 { weight[j] = qw[j] * (sigma2 + xb[j] * xb[j]).squareRoot() }
            let (amax, maxValue) = KQuantMath.signedAbsMax(xb, 32)
            if amax < KQuantMath.groupMaxEps {
                scales[ib] = 0
                continue
            }
            var d = -maxValue / values[0]
            var id = 1 / d
            var sumqx: Float = 0, sumq2: Float = 0
            for j in 0..<32 {
                let q = values[KQuantMath.bestIndex(values, 16, id * xb[j])], w = weight[j]
                sumqx += w * q * xb[j]
                sumq2 += w * q * q
            }
            d = sumq2 > 0 ? sumqx / sumq2 : 0
            var best = d * sumqx
            for itry in -trials...trials {
                id = (Float(itry) + values[0]) / maxValue
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
        }
    }

    /// From the block scales in `s.scales`: the super scale (IQ4_XS: and the 6-bit block scales),
    /// the final indices, packed into `qs`. Returns the f16 scale bits and `scales_h`.
    private static func finishSuperBlock(_ x: UnsafePointer<Float>, superBlockSize: Int,
                                         qs: UnsafeMutablePointer<UInt8>, scalesLow: UnsafeMutablePointer<UInt8>,
                                         values: UnsafePointer<Float>, scratch s: KQuantScratch)
        -> (bits: UInt16, scalesHigh: UInt16)
    {
        let L = s.levels, scales = s.scales
        let blocks = superBlockSize / 32
        var maxScale: Float = 0, amaxScale: Float = 0
        for ib in 0..<blocks where abs(scales[ib]) > amaxScale {
            amaxScale = abs(scales[ib])
            maxScale = scales[ib]
        }
        let dBits: UInt16
        var high: UInt16 = 0
        if blocks > 1 {
            let d = -maxScale / 32
            dBits = KQuantMath.halfBits(d)
            let id: Float = d != 0 ? 1 / d : 0
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
        } else {
            dBits = KQuantMath.halfBits(scales[0])
            let id: Float = scales[0] != 0 ? 1 / scales[0] : 0
            for j in 0..<32 { L[j] = UInt8(truncatingIfNeeded: KQuantMath.bestIndex(values, 16, id * x[j])) }
        }
        for i in 0..<blocks {
            for j in 0..<16 { qs[16 * i + j] = L[32 * i + j] | (L[32 * i + 16 + j] << 4) }
        }
        return (dBits, high)
    }
}
