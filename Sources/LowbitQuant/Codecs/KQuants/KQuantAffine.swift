/// The part of Q4_K and Q5_K that they share: eight 32-element sub-blocks, each with a 6-bit
/// scale and a 6-bit min, and two half-precision super scales (`d`, `dmin`).
///
/// The two types differ only in the level grid (`nmax` 15 or 31), the search parameters of the
/// reference quantizer, and how the levels are packed (see their codecs).
struct KQuantAffineGrid: Sendable {
    /// Largest level (15 for Q4_K, 31 for Q5_K).
    let nmax: Int32
    /// Search parameters of the reference quantizer without importance: first candidate offset,
    /// step, and number of steps.
    let rmin: Float
    let rdelta: Float
    let nstep: Int
    /// Whether the importance path caps the searched 6-bit levels at 63 once more (Q5_K's
    /// reference does, Q4_K's does not; it only matters for degenerate negative scales).
    let clampsImportanceLevels: Bool

    static let q4 = KQuantAffineGrid(nmax: 15, rmin: -1, rdelta: 0.1, nstep: 20,
                                                       clampsImportanceLevels: false)
    static let q5 = KQuantAffineGrid(nmax: 31, rmin: -0.5, rdelta: 0.1, nstep: 15,
                                                       clampsImportanceLevels: true)

    init(nmax: Int32, rmin: Float, rdelta: Float, nstep: Int, clampsImportanceLevels: Bool) {
        self.nmax = nmax
        self.rmin = rmin
        self.rdelta = rdelta
        self.nstep = nstep
        self.clampsImportanceLevels = clampsImportanceLevels
    }

    /// Quantizes `count` elements (a multiple of 256) into blocks of `blockBytes` bytes at
    /// `destination`: writes `d`, `dmin` and the 12 scale bytes at offsets 0, 2 and 4 of each block
    /// and hands the 256 levels (0...nmax) of each block to `pack` to store.
    func quantizeRow(_ source: UnsafePointer<Float>, count: Int, importance: UnsafePointer<Float>?,
                     into destination: UnsafeMutableRawPointer, blockBytes: Int,
                     pack: (_ levels: UnsafePointer<UInt8>, _ block: UnsafeMutablePointer<UInt8>) -> Void) {
        let blocks = count / 256
        KQuantScratch.with { s in
            func finish(_ b: Int, searched: (UInt16, UInt16)?) {
                let block = (destination + blockBytes * b).assumingMemoryBound(to: UInt8.self)
                let x = source + 256 * b
                let (d, dmin) = searched ?? quantizeScales(x, scaleBytes: block + 4, scratch: s)
                requantize(x, d: d, dmin: dmin, scaleBytes: block + 4, levels: s.levels)
                let raw = UnsafeMutableRawPointer(block)
                raw.storeBytes(of: d.littleEndian, toByteOffset: 0, as: UInt16.self)
                raw.storeBytes(of: dmin.littleEndian, toByteOffset: 2, as: UInt16.self)
                pack(s.levels, block)
            }
            if let importance {
                for b in 0..<blocks {
                    let block = (destination + blockBytes * b).assumingMemoryBound(to: UInt8.self)
                    let searched = searchWeighted(source + 256 * b, importance + 256 * b, scaleBytes: block + 4,
                                                  scratch: s)
                    finish(b, searched: searched)
                }
                return
            }
            KQuantLanes.Scratch.with { lanes in
                var b = 0
                while b < blocks {
                    // Two super-blocks side by side: lanes 0-7 hold the sub-blocks of `b`, lanes
                    // 8-15 those of `b + 1` (or `b` again when it is the last one).
                    let second = b + 1 < blocks ? b + 1 : b
                    searchLanes(source + 256 * b, source + 256 * second, lanes)
                    for half in 0..<(second == b ? 1 : 2) {
                        let lane0 = 8 * half, blockIndex = b + half
                        for j in 0..<8 {
                            s.scales[j] = lanes.row(16)[lane0 + j]
                            s.mins[j] = lanes.row(17)[lane0 + j]
                            for i in 0..<32 {
                                s.levels[32 * j + i] = UInt8(truncatingIfNeeded: lanes.levels[16 * i + lane0 + j])
                            }
                        }
                        finish(blockIndex, searched: nil)
                    }
                    b += 2
                }
            }
        }
    }

    /// The reference's per-sub-block search without importance, for the 16 sub-blocks of two
    /// super-blocks at once (weights `sqrt(mean x^2) + |x|`). Scales land in state row 16, mins in 17.
    private func searchLanes(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ lanes: KQuantLanes.Scratch) {
        let x = lanes.x, w = lanes.weights
        for i in 0..<32 {
            for j in 0..<8 {
                x[16 * i + j] = a[32 * j + i]
                x[16 * i + 8 + j] = b[32 * j + i]
            }
        }
        let sumX2 = lanes.row(15)
        for k in 0..<16 { sumX2[k] = 0 }
        for i in 0..<32 {
            for k in 0..<16 { sumX2[k] += x[16 * i + k] * x[16 * i + k] }
        }
        for k in 0..<16 { sumX2[k] = (sumX2[k] / 32).squareRoot() }
        for i in 0..<32 {
            for k in 0..<16 { w[16 * i + k] = sumX2[k] + KQuantLanes.abs(x[16 * i + k]) }
        }
        let scaleOut = lanes.row(16), minOut = lanes.row(17)
        KQuantLanes.affineScale(32, nmax: nmax, lanes, rmin: rmin, rdelta: rdelta, nstep: nstep, useMad: false,
                                scaleOut: scaleOut, minOut: minOut)
    }

    /// Turns the searched sub-block scales and mins (in `s.scales`, `s.mins`) into the 6-bit
    /// levels and the two super scales, as the reference does without importance.
    private func quantizeScales(_ x: UnsafePointer<Float>, scaleBytes: UnsafeMutablePointer<UInt8>,
                                scratch s: KQuantScratch) -> (UInt16, UInt16) {
        var maxScale: Float = 0, maxMin: Float = 0
        for j in 0..<8 {
            if s.scales[j] > maxScale { maxScale = s.scales[j] }
            if s.mins[j] > maxMin { maxMin = s.mins[j] }
        }
        let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
        let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
        for j in 0..<8 {
            s.scaleLevels[j] = min(63, UInt8(truncatingIfNeeded: KQuantMath.nearestInt(invScale * s.scales[j])))
            s.minLevels[j] = min(63, UInt8(truncatingIfNeeded: KQuantMath.nearestInt(invMin * s.mins[j])))
        }
        KQuantMath.packScaleMinK4(scales: s.scaleLevels, mins: s.minLevels, into: scaleBytes)
        return (KQuantMath.halfBits(maxScale / 63), KQuantMath.halfBits(maxMin / 63))
    }

    /// The reference's search with an importance vector (`quantize_row_q4_K_impl` /
    /// `quantize_row_q5_K_impl`): fills `s.levels`, the scale bytes, and returns `d`, `dmin`.
    private func searchWeighted(_ x: UnsafePointer<Float>, _ importance: UnsafePointer<Float>,
                                scaleBytes: UnsafeMutablePointer<UInt8>, scratch s: KQuantScratch)
        -> (UInt16, UInt16)
    {
        let weights = s.weights
        var sumX2: Float = 0
        for l in 0..<256 { sumX2 += x[l] * x[l] }
        let sigma2 = 2 * sumX2 / 256
        for j in 0..<8 {
            let xb = x + 32 * j, qw = importance + 32 * j
            for l in 0..<32 { weights[l] = qw[l] * (sigma2 + xb[l] * xb[l]).squareRoot() }
            var sumW: Float = 0
            for l in 0..<32 { sumW += weights[l] }
            s.weightSums[j] = sumW
            let r = KQuantMath.affineScale(32, nmax: nmax, xb, weights: weights, s.levels + 32 * j, s.auxLevels,
                                           rmin: -0.9, rdelta: 0.05, nstep: 36, useMad: false)
            s.scales[j] = r.scale
            s.mins[j] = r.min
        }
        let dBlock = KQuantMath.positiveScale(8, nmax: 63, s.scales, s.scaleLevels, weights: s.weightSums)
        let mBlock = KQuantMath.positiveScale(8, nmax: 63, s.mins, s.minLevels, weights: s.weightSums)
        if clampsImportanceLevels {
            for j in 0..<8 {
                s.scaleLevels[j] = min(63, s.scaleLevels[j])
                s.minLevels[j] = min(63, s.minLevels[j])
            }
        }
        KQuantMath.packScaleMinK4(scales: s.scaleLevels, mins: s.minLevels, into: scaleBytes)
        return (KQuantMath.halfBits(dBlock), KQuantMath.halfBits(mBlock))
    }

    /// Requantizes every element against the stored (rounded) scales; sub-blocks whose scale
    /// rounds to zero keep their searched levels.
    private func requantize(_ x: UnsafePointer<Float>, d dBits: UInt16, dmin dminBits: UInt16,
                            scaleBytes: UnsafePointer<UInt8>, levels: UnsafeMutablePointer<UInt8>) {
        let d = KQuantMath.float(halfBits: dBits)
        let dmin = KQuantMath.float(halfBits: dminBits)
        for j in 0..<8 {
            let (sc, m) = KQuantMath.scaleMinK4(j, scaleBytes)
            let dj = d * Float(sc)
            if dj == 0 { continue }
            let mj = dmin * Float(m)
            let xb = x + 32 * j
            for i in 0..<32 {
                let l = KQuantMath.clamp(KQuantMath.nearestInt((xb[i] + mj) / dj), 0, nmax)
                levels[32 * j + i] = UInt8(truncatingIfNeeded: l)
            }
        }
    }

    /// Decodes sub-block `j`'s effective scale and min (`d * sc`, `dmin * m`) as the reference does.
    @inline(__always)
    static func subBlockScaleMin(_ j: Int, d: Float, dmin: Float, scaleBytes: UnsafePointer<UInt8>)
        -> (scale: Float, min: Float)
    {
        let (sc, m) = KQuantMath.scaleMinK4(j, scaleBytes)
        return (d * Float(sc), dmin * Float(m))
    }
}
