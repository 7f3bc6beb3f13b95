/// Lane-parallel forms of the reference scale searches: 16 independent groups (sub-blocks) are
/// searched at once, one group per lane.
///
/// Each lane performs exactly the scalar sequence of ``KQuantMath`` for its own group — the same
/// IEEE operations in the same order, sums accumulated element by element — so the results are
/// bit-identical to the scalar reference; only independent groups run side by side. Branches of
/// the reference become per-lane selects. Data is transposed: element `i` of lane `k` lives at
/// `[16*i + k]`, so every inner loop runs over 16 contiguous lanes and the compiler vectorises it
/// (the stdlib's SIMD16 mask operations compiled to scalarised code here; plain loops do not).
enum KQuantLanes {
    @inline(__always)
    static func nearestInt(_ value: Float) -> Int32 { KQuantMath.nearestInt(value) }

    @inline(__always)
    static func clamp(_ v: Int32, _ lo: Int32, _ hi: Int32) -> Int32 {
        let a = v < lo ? lo : v
        return a > hi ? hi : a
    }

    typealias V = SIMD16<Float>

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

    @inline(__always)
    static func load(_ p: UnsafeMutablePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

    @inline(__always)
    static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }

    /// |v| on every lane, by clearing the sign bits.
    @inline(__always)
    static func abs(_ v: V) -> V {
        unsafeBitCast(unsafeBitCast(v, to: SIMD16<UInt32>.self) & SIMD16<UInt32>(repeating: 0x7FFF_FFFF), to: V.self)
    }

    /// |v| by clearing the sign bit (as `fabsf`).
    @inline(__always)
    static func abs(_ v: Float) -> Float { Float(bitPattern: v.bitPattern & 0x7FFF_FFFF) }

    /// Working memory for one lane search over groups of up to 32 elements.
    struct Scratch {
        /// Inputs `[16*i + lane]`.
        let x: UnsafeMutablePointer<Float>
        let weights: UnsafeMutablePointer<Float>
        /// Chosen and candidate levels `[16*i + lane]`.
        let levels: UnsafeMutablePointer<Int32>
        let aux: UnsafeMutablePointer<Int32>
        /// Per-lane state: 18 rows of 16 floats (rows 16 and 17 are free for callers).
        let state: UnsafeMutablePointer<Float>
        /// Candidate levels as floats `[16*i + lane]`.
        let floatLevels: UnsafeMutablePointer<Float>

        static func with<R>(_ body: (Scratch) throws -> R) rethrows -> R {
            try withUnsafeTemporaryAllocation(of: Float.self, capacity: 96 * 16 + 18 * 16) { f in
                try withUnsafeTemporaryAllocation(of: Int32.self, capacity: 64 * 16) { i in
                    let fb = f.baseAddress!, ib = i.baseAddress!
                    return try body(Scratch(x: fb, weights: fb + 32 * 16, levels: ib, aux: ib + 32 * 16,
                                            state: fb + 64 * 16, floatLevels: fb + 64 * 16 + 18 * 16))
                }
            }
        }

        /// Row `r` (0..<18) of per-lane state.
        @inline(__always)
        func row(_ r: Int) -> UnsafeMutablePointer<Float> { state + 16 * r }
    }

    /// Per lane, over the `n` elements `x[16*i + lane]`: the largest magnitude into `amax` and the
    /// element that has it (the first on ties; 0 for an all-zero lane) into `value`.
    @inline(__always)
    static func signedAbsMax(_ n: Int, _ x: UnsafePointer<Float>, amax: UnsafeMutablePointer<Float>,
                             value: UnsafeMutablePointer<Float>) {
        for k in 0..<16 {
            amax[k] = 0
            value[k] = 0
        }
        for i in 0..<n {
            let xi = x + 16 * i
            for k in 0..<16 {
                let ax = abs(xi[k])
                let bigger = ax > amax[k]
                amax[k] = bigger ? ax : amax[k]
                value[k] = bigger ? xi[k] : value[k]
            }
        }
    }

    /// Lane form of ``KQuantMath/affineScale`` (the reference's `make_qkx2_quants`) over groups of
    /// `n` elements in `s.x` with weights `s.weights`; levels go to `s.levels`, scales and mins
    /// (non-negative, to subtract) to `scaleOut` and `minOut` (16 each).
    static func affineScale(_ n: Int, nmax: Int32, _ s: Scratch, rmin: Float, rdelta: Float, nstep: Int,
                            useMad: Bool, scaleOut: UnsafeMutablePointer<Float>,
                            minOut: UnsafeMutablePointer<Float>) {
        let x = s.x, w = s.weights, levels = s.levels, aux = s.aux
        let minV = s.row(0), maxV = s.row(1), sumW = s.row(2), sumX = s.row(3)
        let scale = s.row(4), bestError = s.row(5), iscale = s.row(6)
        let sumL = s.row(7), sumL2 = s.row(8), sumXL = s.row(9), error = s.row(10)
        let thisScale = s.row(11), thisMin = s.row(12), better = s.row(13), flat = s.row(14)
        let fmax = Float(nmax)
        for k in 0..<16 {
            minV[k] = x[k]
            maxV[k] = x[k]
            sumW[k] = w[k]
            sumX[k] = w[k] * x[k]
        }
        for i in 1..<n {
            let xi = x + 16 * i, wi = w + 16 * i
            for k in 0..<16 {
                minV[k] = xi[k] < minV[k] ? xi[k] : minV[k]
                maxV[k] = xi[k] > maxV[k] ? xi[k] : maxV[k]
                sumW[k] += wi[k]
                sumX[k] += wi[k] * xi[k]
            }
        }
        for k in 0..<16 {
            minV[k] = minV[k] > 0 ? 0 : minV[k]
            flat[k] = maxV[k] == minV[k] ? 1 : 0
            iscale[k] = fmax / (maxV[k] - minV[k])
            scale[k] = 1 / iscale[k]
            bestError[k] = 0
        }
        for i in 0..<n {
            let xi = x + 16 * i, wi = w + 16 * i, li = levels + 16 * i
            for k in 0..<16 {
                let l = clamp(nearestInt(iscale[k] * (xi[k] - minV[k])), 0, nmax)
                li[k] = l
                var diff = scale[k] * Float(l) + minV[k] - xi[k]
                diff = useMad ? abs(diff) : diff * diff
                bestError[k] += wi[k] * diff
            }
        }
        if nstep >= 1 {
            for step in 0...nstep {
                let numerator = rmin + rdelta * Float(step) + fmax
                for k in 0..<16 {
                    iscale[k] = numerator / (maxV[k] - minV[k])
                    sumL[k] = 0
                    sumL2[k] = 0
                    sumXL[k] = 0
                }
                for i in 0..<n {
                    let xi = x + 16 * i, ai = aux + 16 * i, fi = s.floatLevels + 16 * i
                    for k in 0..<16 {
                        let l = clamp(nearestInt(iscale[k] * (xi[k] - minV[k])), 0, nmax)
                        ai[k] = l
                        fi[k] = Float(l)
                    }
                }
                // Sums in registers: lane k of each vector accumulates group k in element order.
                var vL = V(), vL2 = V(), vXL = V()
                for i in 0..<n {
                    let wv = load(w + 16 * i), fl = load(s.floatLevels + 16 * i), xv = load(x + 16 * i)
                    vL += wv * fl
                    vL2 += wv * fl * fl
                    vXL += wv * fl * xv
                }
                store(vL, sumL)
                store(vL2, sumL2)
                store(vXL, sumXL)
                var anyValid = false
                for k in 0..<16 {
                    let det = sumW[k] * sumL2[k] - sumL[k] * sumL[k]
                    // Flat lanes (max == min) never search: the reference returns before.
                    let valid = det > 0 && flat[k] == 0
                    anyValid = anyValid || valid
                    better[k] = valid ? 1 : 0
                    var sc = (sumW[k] * sumXL[k] - sumX[k] * sumL[k]) / det
                    var mn = (sumL2[k] * sumX[k] - sumL[k] * sumXL[k]) / det
                    if mn > 0 {
                        mn = 0
                        sc = sumXL[k] / sumL2[k]
                    }
                    thisScale[k] = sc
                    thisMin[k] = mn
                    error[k] = 0
                }
                if !anyValid { continue }
                let vScale = load(thisScale), vMin = load(thisMin)
                var vErr = V()
                for i in 0..<n {
                    let fl = load(s.floatLevels + 16 * i)
                    var diff = vScale * fl + vMin - load(x + 16 * i)
                    diff = useMad ? abs(diff) : diff * diff
                    vErr += load(w + 16 * i) * diff
                }
                store(vErr, error)
                var anyBetter = false
                for k in 0..<16 {
                    let b = better[k] != 0 && error[k] < bestError[k]
                    anyBetter = anyBetter || b
                    better[k] = b ? 1 : 0
                    bestError[k] = b ? error[k] : bestError[k]
                    scale[k] = b ? thisScale[k] : scale[k]
                    minV[k] = b ? thisMin[k] : minV[k]
                }
                if !anyBetter { continue }
                for i in 0..<n {
                    let li = levels + 16 * i, ai = aux + 16 * i
                    for k in 0..<16 { li[k] = better[k] != 0 ? ai[k] : li[k] }
                }
            }
        }
        for k in 0..<16 {
            scaleOut[k] = flat[k] != 0 ? 0 : scale[k]
            minOut[k] = -minV[k]
        }
        for i in 0..<n {
            let li = levels + 16 * i
            for k in 0..<16 { li[k] = flat[k] != 0 ? 0 : li[k] }
        }
    }

    /// Lane form of ``KQuantMath/symmetricScale`` without weights (weights `x^2`, the reference's
    /// `make_qx_quants` with rmse type 1) over groups of `n` elements in `s.x`; levels (offset by
    /// `nmax`) go to `s.levels`, scales to `scaleOut`.
    static func symmetricScale(_ n: Int, nmax: Int32, _ s: Scratch, scaleOut scale: UnsafeMutablePointer<Float>) {
        let x = s.x, levels = s.levels
        let amax = s.row(0), maxV = s.row(1), iscale = s.row(2), sumlx = s.row(3), suml2 = s.row(4)
        let best = s.row(5), better = s.row(6)
        let lo = -nmax, hi = nmax - 1
        signedAbsMax(n, x, amax: amax, value: maxV)
        for k in 0..<16 {
            iscale[k] = Float(-nmax) / maxV[k]
            sumlx[k] = 0
            suml2[k] = 0
        }
        for i in 0..<n {
            let xi = x + 16 * i, li = levels + 16 * i
            for k in 0..<16 {
                let l = clamp(nearestInt(iscale[k] * xi[k]), lo, hi)
                li[k] = l &+ nmax
                let wv = xi[k] * xi[k], fl = Float(l)
                sumlx[k] += wv * xi[k] * fl
                suml2[k] += wv * fl * fl
            }
        }
        for k in 0..<16 {
            scale[k] = suml2[k] != 0 ? sumlx[k] / suml2[k] : 0
            best[k] = scale[k] * sumlx[k]
        }
        for step in -9...9 where step != 0 {
            let numerator = -(Float(nmax) + 0.1 * Float(step))
            for k in 0..<16 {
                iscale[k] = numerator / maxV[k]
                sumlx[k] = 0
                suml2[k] = 0
            }
            for i in 0..<n {
                let xi = x + 16 * i, fi = s.floatLevels + 16 * i
                for k in 0..<16 { fi[k] = Float(clamp(nearestInt(iscale[k] * xi[k]), lo, hi)) }
            }
            var vlx = V(), vl2 = V()
            for i in 0..<n {
                let xv = load(x + 16 * i), fl = load(s.floatLevels + 16 * i)
                let wv = xv * xv
                vlx += wv * xv * fl
                vl2 += wv * fl * fl
            }
            store(vlx, sumlx)
            store(vl2, suml2)
            var anyBetter = false
            for k in 0..<16 {
                let b = suml2[k] > 0 && sumlx[k] * sumlx[k] > best[k] * suml2[k]
                anyBetter = anyBetter || b
                better[k] = b ? 1 : 0
                scale[k] = b ? sumlx[k] / suml2[k] : scale[k]
                best[k] = b ? scale[k] * sumlx[k] : best[k]
            }
            if !anyBetter { continue }
            for i in 0..<n {
                let xi = x + 16 * i, li = levels + 16 * i
                for k in 0..<16 {
                    let l = clamp(nearestInt(iscale[k] * xi[k]), lo, hi) &+ nmax
                    li[k] = better[k] != 0 ? l : li[k]
                }
            }
        }
        for k in 0..<16 {
            let zero = amax[k] < KQuantMath.groupMaxEps
            scale[k] = zero ? 0 : scale[k]
            better[k] = zero ? 1 : 0
        }
        for i in 0..<n {
            let li = levels + 16 * i
            for k in 0..<16 { li[k] = better[k] != 0 ? 0 : li[k] }
        }
    }

    /// The table entry nearest to `x` in the ascending 16-entry table `v`, chosen exactly as the
    /// reference's `best_index_int8` does, but without branches (so a loop over lanes vectorises).
    @inline(__always)
    static func nearestLevel(_ x: Float, _ v: UnsafePointer<Float>) -> Float {
        var lo = v[0], hi = v[15]
        for i in 1..<15 { lo = v[i] <= x ? v[i] : lo }
        for i in (1..<15).reversed() { hi = v[i] > x ? v[i] : hi }
        return x - lo < hi - x ? lo : hi
    }

    /// Lane form of the per-32-element scale search of the non-linear IQ4 types (the first half of
    /// the reference's `quantize_row_iq4_nl_impl` without importance, weights `x^2`, `trials`
    /// trial scales either side). Writes each lane's block scale to `scaleOut` (0 for an all-zero
    /// block).
    static func nonLinearScale(_ n: Int, _ s: Scratch, values v: UnsafePointer<Float>, trials: Int,
                               scaleOut d: UnsafeMutablePointer<Float>) {
        let x = s.x
        let amax = s.row(0), maxV = s.row(1), id = s.row(2), sumqx = s.row(3), sumq2 = s.row(4)
        let best = s.row(5)
        signedAbsMax(n, x, amax: amax, value: maxV)
        for k in 0..<16 {
            d[k] = -maxV[k] / v[0]
            id[k] = 1 / d[k]
        }
        nonLinearSums(n, x, values: v, inverseScale: id, sumqx: sumqx, sumq2: sumq2)
        for k in 0..<16 {
            d[k] = sumq2[k] > 0 ? sumqx[k] / sumq2[k] : 0
            best[k] = d[k] * sumqx[k]
        }
        for itry in -trials...trials {
            let numerator = Float(itry) + v[0]
            for k in 0..<16 { id[k] = numerator / maxV[k] }
            nonLinearSums(n, x, values: v, inverseScale: id, sumqx: sumqx, sumq2: sumq2)
            for k in 0..<16 {
                let better = sumq2[k] > 0 && sumqx[k] * sumqx[k] > best[k] * sumq2[k]
                d[k] = better ? sumqx[k] / sumq2[k] : d[k]
                best[k] = better ? d[k] * sumqx[k] : best[k]
            }
        }
        for k in 0..<16 { d[k] = amax[k] < KQuantMath.groupMaxEps ? 0 : d[k] }
    }

    /// Per lane, with the inverse scale `id[lane]`: each element's nearest table level `q` and the
    /// `x^2`-weighted sums `sum(w q x)` into `sumqx` and `sum(w q^2)` into `sumq2` (in element order).
    @inline(__always)
    static func nonLinearSums(_ n: Int, _ x: UnsafePointer<Float>, values v: UnsafePointer<Float>,
                              inverseScale id: UnsafePointer<Float>, sumqx: UnsafeMutablePointer<Float>,
                              sumq2: UnsafeMutablePointer<Float>) {
        for k in 0..<16 {
            sumqx[k] = 0
            sumq2[k] = 0
        }
        for i in 0..<n {
            let xi = x + 16 * i
            for k in 0..<16 {
                let q = nearestLevel(id[k] * xi[k], v)
                let w = xi[k] * xi[k]
                sumqx[k] += w * q * xi[k]
                sumq2[k] += w * q * q
            }
        }
    }
}
