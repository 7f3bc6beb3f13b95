/// Arithmetic shared by the K-quant and IQ4 kernels.
///
/// Every routine here mirrors the float semantics of llama.cpp's reference quantizer (the code in
/// `ggml-quants.c` that `ggml_quantize_chunk` runs when no importance matrix is given):
/// IEEE float32 operations evaluated left to right, no fused multiply-add, sums accumulated
/// sequentially in element order. Reordering any of them changes which scale a search picks, so
/// the loops below are deliberately scalar and in source order.
enum KQuantMath {
    /// Values smaller than this (in absolute value) count as an all-zero group.
    static let groupMaxEps: Float = 1e-15

    /// Rounds to the nearest integer the way llama.cpp's `nearest_int` does: adding 1.5 * 2^23
    /// lets the float unit round (to nearest, ties to even) and the integer sits in the low
    /// mantissa bits. Exact for |v| <= 4194303; outside that range it returns the same
    /// wrapped value as the reference.
    @inline(__always)
    static func nearestInt(_ value: Float) -> Int32 {
        let shifted = value + 12_582_912
        return Int32(bitPattern: shifted.bitPattern & 0x007F_FFFF) &- 0x0040_0000
    }

    /// `min(hi, max(lo, v))` on integers, as the reference's `MAX(lo, MIN(hi, v))`.
    @inline(__always)
    static func clamp(_ v: Int32, _ lo: Int32, _ hi: Int32) -> Int32 {
        v < lo ? lo : (v > hi ? hi : v)
    }

    /// Rounds a float to IEEE half precision (round to nearest even) and returns its bits.
    @inline(__always)
    static func halfBits(_ value: Float) -> UInt16 { Float16(value).bitPattern }

    /// Widens IEEE half-precision bits to a float (exact).
    @inline(__always)
    static func float(halfBits bits: UInt16) -> Float { Float(Float16(bitPattern: bits)) }

    /// Reads a little-endian half at `offset` and widens it.
    @inline(__always)
    static func loadHalf(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        let lo = UInt16(p.load(fromByteOffset: offset, as: UInt8.self))
        let hi = UInt16(p.load(fromByteOffset: offset + 1, as: UInt8.self))
        return float(halfBits: lo | hi << 8)
    }

    /// The 6-bit scale and min of sub-block `j` (0..<8) from the 12-byte packed field that Q4_K and
    /// Q5_K share.
    @inline(__always)
    static func scaleMinK4(_ j: Int, _ q: UnsafePointer<UInt8>) -> (scale: UInt8, min: UInt8) {
        if j < 4 {
            return (q[j] & 63, q[j + 4] & 63)
        }
        return ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }

    /// Packs eight 6-bit scales and mins into the 12-byte Q4_K/Q5_K field (inverse of ``scaleMinK4``).
    static func packScaleMinK4(scales ls: UnsafePointer<UInt8>, mins lm: UnsafePointer<UInt8>,
                               into q: UnsafeMutablePointer<UInt8>) {
        for j in 0..<8 {
            if j < 4 {
                q[j] = ls[j]
                q[j + 4] = lm[j]
            } else {
                q[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4)
                q[j - 4] |= (ls[j] >> 4) << 6
                q[j] |= (lm[j] >> 4) << 6
            }
        }
    }

    /// Index of the table entry nearest to `x` in the ascending table `values` (ties go up),
    /// searched like the reference's `best_index_int8`.
    @inline(__always)
    static func bestIndex(_ values: UnsafePointer<Float>, _ n: Int, _ x: Float) -> Int {
        if x <= values[0] { return 0 }
        if x >= values[n - 1] { return n - 1 }
        var lo = 0, hi = n - 1
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if x < values[mid] { hi = mid } else { lo = mid }
        }
        return x - values[hi - 1] < values[hi] - x ? hi - 1 : hi
    }

    /// Largest magnitude in `x[0..<n]` and the signed value that has it (first one wins).
    @inline(__always)
    static func signedAbsMax(_ x: UnsafePointer<Float>, _ n: Int) -> (amax: Float, max: Float) {
        var amax: Float = 0, maxValue: Float = 0
        for i in 0..<n {
            let ax = abs(x[i])
            if ax > amax { amax = ax; maxValue = x[i] }
        }
        return (amax, maxValue)
    }

    // MARK: - Scale searches

    /// The opening both symmetric searches share: levels on [-nmax, nmax-1] at the scale that maps
    /// the largest-magnitude element to `-nmax`, stored plus `levelOffset`, and their weighted sums
    /// `sum(w x l)`, `sum(w l^2)` (weights `x^2` unless `weights` is given). Nil, with all levels
    /// 0, for an all-zero group.
    @inline(__always)
    static func symmetricFirstGuess(_ n: Int, nmax: Int32, _ x: UnsafePointer<Float>,
                                    _ levels: UnsafeMutablePointer<Int8>, levelOffset: Int32,
                                    weights: UnsafePointer<Float>?) -> (maxValue: Float, sums: (Float, Float))? {
        let (amax, maxValue) = signedAbsMax(x, n)
        if amax < groupMaxEps {
            for i in 0..<n { levels[i] = 0 }
            return nil
        }
        let iscale = Float(-nmax) / maxValue
        var sumlx: Float = 0
        var suml2: Float = 0
        for i in 0..<n {
            let l = clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)
            levels[i] = Int8(truncatingIfNeeded: l + levelOffset)
            let w = weights?[i] ?? x[i] * x[i]
            let fl = Float(l)
            sumlx += w * x[i] * fl
            suml2 += w * fl * fl
        }
        return (maxValue, (sumlx, suml2))
    }

    /// Symmetric scale search for a signed grid [-nmax, nmax-1] (the reference's `make_qx_quants`
    /// with rmse type 1): weights are `x^2` unless `weights` is given. Writes levels offset by
    /// `nmax` into `levels` and returns the scale.
    static func symmetricScale(_ n: Int, nmax: Int32, _ x: UnsafePointer<Float>,
                               _ levels: UnsafeMutablePointer<Int8>,
                               weights: UnsafePointer<Float>?) -> Float {
        guard let guess = symmetricFirstGuess(n, nmax: nmax, x, levels, levelOffset: nmax,
                                              weights: weights) else { return 0 }
        let lo = -nmax, hi = nmax - 1, maxValue = guess.maxValue
        var (sumlx, suml2) = guess.sums
        var scale: Float = suml2 != 0 ? sumlx / suml2 : 0
        var best = scale * sumlx
        for step in -9...9 where step != 0 {
            let iscale = -(Float(nmax) + 0.1 * Float(step)) / maxValue
            sumlx = 0
            suml2 = 0
            for i in 0..<n {
                let fl = Float(clamp(nearestInt(iscale * x[i]), lo, hi))
                let w = weights?[i] ?? x[i] * x[i]
                sumlx += w * x[i] * fl
                suml2 += w * fl * fl
            }
            if suml2 > 0 && sumlx * sumlx > best * suml2 {
                for i in 0..<n {
                    levels[i] = Int8(truncatingIfNeeded: clamp(nearestInt(iscale * x[i]), lo, hi) + nmax)
                }
                scale = sumlx / suml2
                best = scale * sumlx
            }
        }
        return scale
    }

    /// Q3_K's symmetric search with iterative per-element refinement (the reference's
    /// `make_q3_quants` with rmse on). Levels are written offset by `nmax`, except for an
    /// all-zero group, whose levels are 0.
    static func refinedSymmetricScale(_ n: Int, nmax: Int32, _ x: UnsafePointer<Float>,
                                      _ levels: UnsafeMutablePointer<Int8>) -> Float {
        guard let guess = symmetricFirstGuess(n, nmax: nmax, x, levels, levelOffset: 0, weights: nil) else {
            return 0
        }
        let lo = -nmax, hi = nmax - 1
        var (sumlx, suml2) = guess.sums
        for _ in 0..<5 {
            var changed = 0
            for i in 0..<n {
                let w = x[i] * x[i]
                let li = Float(levels[i])
                var slx = sumlx - w * x[i] * li
                if slx > 0 {
                    var sl2 = suml2 - w * li * li
                    let newL = clamp(nearestInt(x[i] * sl2 / slx), lo, hi)
                    if newL != Int32(levels[i]) {
                        let fl = Float(newL)
                        slx += w * x[i] * fl
                        sl2 += w * fl * fl
                        if sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                            levels[i] = Int8(truncatingIfNeeded: newL)
                            sumlx = slx
                            suml2 = sl2
                            changed += 1
                        }
                    }
                }
            }
            if changed == 0 { break }
        }
        for i in 0..<n { levels[i] = levels[i] &+ Int8(truncatingIfNeeded: nmax) }
        return suml2 > 0 ? sumlx / suml2 : 0
    }

    /// Asymmetric (scale + min) search over a grid [0, nmax] with explicit weights: the reference's
    /// `make_qkx2_quants` / `make_qkx3_quants` (identical when weights are given). Each candidate
    /// scale is refit by weighted least squares; later candidates are measured against the range of
    /// the best min so far. Returns the scale and the (non-negative) min to subtract.
    /// ``KQuantLanes/affineScale(_:nmax:_:rmin:rdelta:nstep:useMad:scaleOut:minOut:)`` is the
    /// 16-groups-at-once form used without importance.
    static func affineScale(_ n: Int, nmax: Int32, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                            _ levels: UnsafeMutablePointer<UInt8>, _ aux: UnsafeMutablePointer<UInt8>,
                            rmin: Float, rdelta: Float, nstep: Int, useMad: Bool) -> (scale: Float, min: Float) {
        var minValue = x[0]
        var maxValue = x[0]
        var sumW = weights[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < minValue { minValue = x[i] }
            if x[i] > maxValue { maxValue = x[i] }
            let w = weights[i]
            sumW += w
            sumX += w * x[i]
        }
        if minValue > 0 { minValue = 0 }
        // (`make_qkx3_quants` tests `max <= min`; with min clamped to <= 0 that is `max == min`.)
        if maxValue == minValue {
            for i in 0..<n { levels[i] = 0 }
            return (0, -minValue)
        }
        // Note: `minValue` is updated whenever a better candidate is found, and later candidates'
        // scales are measured against the updated range, as in the reference.
        let fmax = Float(nmax)
        var iscale = fmax / (maxValue - minValue)
        var scale = 1 / iscale
        var bestError: Float = 0
        for i in 0..<n {
            let l = clamp(nearestInt(iscale * (x[i] - minValue)), 0, nmax)
            levels[i] = UInt8(truncatingIfNeeded: l)
            var diff = scale * Float(l) + minValue - x[i]
            diff = useMad ? abs(diff) : diff * diff
            bestError += weights[i] * diff
        }
        if nstep < 1 { return (scale, -minValue) }
        for step in 0...nstep {
            iscale = (rmin + rdelta * Float(step) + fmax) / (maxValue - minValue)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<n {
                let l = clamp(nearestInt(iscale * (x[i] - minValue)), 0, nmax)
                aux[i] = UInt8(truncatingIfNeeded: l)
                let w = weights[i]
                let fl = Float(l)
                sumL += w * fl
                sumL2 += w * fl * fl
                sumXL += w * fl * x[i]
            }
            let det = sumW * sumL2 - sumL * sumL
            if det > 0 {
                var thisScale = (sumW * sumXL - sumX * sumL) / det
                var thisMin = (sumL2 * sumX - sumL * sumXL) / det
                if thisMin > 0 {
                    thisMin = 0
                    thisScale = sumXL / sumL2
                }
                var error: Float = 0
                for i in 0..<n {
                    var diff = thisScale * Float(aux[i]) + thisMin - x[i]
                    diff = useMad ? abs(diff) : diff * diff
                    error += weights[i] * diff
                }
                if error < bestError {
                    for i in 0..<n { levels[i] = aux[i] }
                    bestError = error
                    scale = thisScale
                    minValue = thisMin
                }
            }
        }
        return (scale, -minValue)
    }

    /// Quantizes non-negative sub-block scales to [0, nmax] with an importance-weighted search (the
    /// reference's `make_qp_quants`, used only with an importance vector). Returns the super scale.
    static func positiveScale(_ n: Int, nmax: Int32, _ x: UnsafePointer<Float>,
                              _ levels: UnsafeMutablePointer<UInt8>, weights: UnsafePointer<Float>) -> Float {
        var maxValue: Float = 0
        for i in 0..<n { maxValue = maxValue > x[i] ? maxValue : x[i] }
        if maxValue < groupMaxEps {
            for i in 0..<n { levels[i] = 0 }
            return 0
        }
        let fmax = Float(nmax)
        var iscale = fmax / maxValue
        for i in 0..<n { levels[i] = UInt8(truncatingIfNeeded: nearestInt(iscale * x[i])) }
        let scale = 1 / iscale
        var bestMse: Float = 0
        for i in 0..<n {
            let diff = x[i] - scale * Float(levels[i])
            bestMse += weights[i] * diff * diff
        }
        for step in -4...4 where step != 0 {
            let iscaleStep = (0.1 * Float(step) + fmax) / maxValue
            let scaleStep = 1 / iscaleStep
            var mse: Float = 0
            for i in 0..<n {
                let l = min(nmax, nearestInt(iscaleStep * x[i]))
                let diff = x[i] - scaleStep * Float(l)
                mse += weights[i] * diff * diff
            }
            if mse < bestMse {
                bestMse = mse
                iscale = iscaleStep
            }
        }
        var sumlx: Float = 0
        var suml2: Float = 0
        for i in 0..<n {
            let l = min(nmax, nearestInt(iscale * x[i]))
            levels[i] = UInt8(truncatingIfNeeded: l)
            let w = weights[i]
            let fl = Float(l)
            sumlx += w * x[i] * fl
            suml2 += w * fl * fl
        }
        for _ in 0..<5 {
            var changed = 0
            for i in 0..<n {
                let w = weights[i]
                let li = Float(levels[i])
                var slx = sumlx - w * x[i] * li
                var sl2 = suml2 - w * li * li
                if slx > 0 && sl2 > 0 {
                    let newL = min(nmax, nearestInt(x[i] * sl2 / slx))
                    if newL != Int32(levels[i]) {
                        let fl = Float(newL)
                        slx += w * x[i] * fl
                        sl2 += w * fl * fl
                        if slx * slx * suml2 > sumlx * sumlx * sl2 {
                            levels[i] = UInt8(truncatingIfNeeded: newL)
                            sumlx = slx
                            suml2 = sl2
                            changed += 1
                        }
                    }
                }
            }
            if changed == 0 { break }
        }
        return suml2 > 0 ? sumlx / suml2 : 0
    }

    /// Packs 256 two-bit levels the way Q2_K and Q3_K store them: byte `32*g + l` of each 128-element
    /// half holds elements `l`, `l+32`, `l+64`, `l+96` at bits 0, 2, 4, 6.
    static func packTwoBit(_ levels: UnsafePointer<UInt8>, into qs: UnsafeMutablePointer<UInt8>) {
        for half in stride(from: 0, to: 256, by: 128) {
            for l in 0..<32 {
                let a = levels[half + l], b = levels[half + l + 32]
                let c = levels[half + l + 64], d = levels[half + l + 96]
                qs[half / 4 + l] = a | (b << 2) | (c << 4) | (d << 6)
            }
        }
    }
}
