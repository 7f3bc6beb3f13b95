/// The importance-weighted choice of each group's parameters, as llama.cpp weights its legacy
/// quants (`quantize_row_q4_0_impl`, `quantize_row_q4_1_impl` in ggml-quants.c), applied to the
/// INT group layouts (``IntGroupQuantizer`` with an importance vector).
///
/// Each element gets llama.cpp's weight `w_j = qw_j · sqrt(σ² + x_j²)`, with `qw` the column's
/// importance and `σ²` the mean square of the element's whole row. The group's parameters are
/// the candidate of least weighted squared error `Σ w_j (x_j − deq(q_j))²`, measured exactly as
/// the layout stores and decodes them (scales rounded to the scale format, codes re-encoded to
/// the nearest level, with the quantizer's intermediate rounding). The candidates:
///
/// - the convention's closed form (round to nearest), so the weighted error is never worse;
/// - symmetric (compressed-tensors, codes `[-2^(b-1), 2^(b-1)-1]`): `make_qx_quants`' grid.
///   The element of largest magnitude `m` (sign kept) sets `iscale = -(nmax + 0.1·k) / m` for
///   `k = 0, -9...9` (`nmax = 2^(b-1)`); codes `l = clamp(rint(iscale·x), -nmax, nmax-1)`; the
///   candidate scale is the weighted least-squares `Σwxl / Σwl²`. As in Q4_0, that scale is
///   negative when the largest magnitude is positive: the extra negative level then serves the
///   larger end. Dequantization `q · scale` does not care about the sign;
/// - asymmetric (compressed-tensors zero points, MLX biases): `make_qkx3_quants`' grid with
///   Q4_1's settings. With `min ≤ 0` and `max` of the group, `iscale = (nmax − 0.9 + 0.05·k) /
///   (max − min)` for `k = 0...36` (`nmax = 2^b − 1`), codes `clamp(rint(iscale·(x − min)), 0,
///   nmax)`, then the weighted least-squares line `x ≈ scale·L + m` (with `m` forced to
///   `≤ 0` as llama.cpp does). MLX stores `scale` and `m` as they are; compressed-tensors needs
///   an integer zero point, `zp = clamp(rint(−m / scale − 2^(b-1)))`, with the stored scale.
///
/// Unlike llama.cpp, which ranks candidates by the fit of the grid's codes, candidates are
/// ranked by the real error after rounding and re-encoding (for a fixed scale the nearest code
/// is the best one whatever the weights).
enum ImportanceSearch {
    /// llama.cpp's `GROUP_MAX_EPS`: a group whose magnitudes are all below it is all zero.
    static let groupMaxEpsilon: Float = 1e-15

    /// Writes the element weights of one row of `count` values: `importance[j] · sqrt(σ² + x[j]²)`.
    static func rowWeights(_ row: UnsafePointer<Float>, count: Int, importance: UnsafePointer<Float>,
                           into weights: UnsafeMutablePointer<Float>) {
        var sumSquares: Float = 0
        for j in 0..<count { sumSquares += row[j] * row[j] }
        let sigma2 = sumSquares / Float(count)
        for j in 0..<count { weights[j] = importance[j] * (sigma2 + row[j] * row[j]).squareRoot() }
    }

    /// The parameters of least weighted error for one group of `count` values.
    static func best<R: IntermediateRounding>(_ x: UnsafePointer<Float>, count: Int, weights w: UnsafePointer<Float>,
                                              quantizer q: IntGroupQuantizer, _: R.Type) -> IntGroupParameters {
        var best = q.groupParametersClosedForm(x, R.self)
        var bestError = ScaleSearch.error(x, count: count, weights: w, best, q, R.self)
        func consider(_ p: IntGroupParameters) {
            let e = ScaleSearch.error(x, count: count, weights: w, p, q, R.self)
            if e < bestError {
                best = p
                bestError = e
            }
        }
        switch q.convention {
        case .compressedTensors(symmetric: true):
            symmetricCandidates(x, count: count, weights: w, bits: q.bits) { scale in
                let s = q.scaleFormat.roundTrip(scale)
                if s != 0, s.isFinite { consider(q.ctParameters(scale: s, zeroPoint: 0)) }
            }
        case .compressedTensors(symmetric: false):
            let half = Float(1 << (q.bits - 1))
            affineCandidates(x, count: count, weights: w, bits: q.bits) { scale, low in
                let s = q.scaleFormat.roundTrip(scale)
                guard s > 0, s.isFinite else { return }
                let zp = Swift.min(Swift.max(-low / s - half, -half), half - 1)
                guard zp.isFinite else { return }
                consider(q.ctParameters(scale: s, zeroPoint: Float(roundedToInt32(zp))))
            }
        case .mlxAffine:
            affineCandidates(x, count: count, weights: w, bits: q.bits) { scale, low in
                if scale != 0, scale.isFinite, low.isFinite { consider(q.mlxParameters(scale: scale, bias: low)) }
            }
        }
        return best
    }

    /// `make_qx_quants`' (rmse_type 1, with weights) candidate scales for codes in
    /// `[-nmax, nmax - 1]`, `nmax = 2^(bits-1)`: the weighted least-squares scale of each step.
    static func symmetricCandidates(_ x: UnsafePointer<Float>, count: Int, weights w: UnsafePointer<Float>, bits: Int,
                                    _ body: (Float) -> Void) {
        var largest: Float = 0, magnitude: Float = 0
        for i in 0..<count where Swift.abs(x[i]) > magnitude {
            magnitude = Swift.abs(x[i])
            largest = x[i]
        }
        guard magnitude >= groupMaxEpsilon else { return }
        let nmax = Float(1 << (bits - 1))
        for step in [0] + Array(-9...(-1)) + Array(1...9) {
            let iscale = -(nmax + 0.1 * Float(step)) / largest
            var sumLX: Float = 0, sumL2: Float = 0
            for i in 0..<count {
                let l = Swift.min(Swift.max(Float(roundedToInt32(iscale * x[i])), -nmax), nmax - 1)
                sumLX += w[i] * x[i] * l
                sumL2 += w[i] * l * l
            }
            if sumL2 > 0 { body(sumLX / sumL2) }
        }
    }

    /// `make_qkx3_quants`' candidate lines `x ≈ scale · L + low` (`low ≤ 0`) for codes in
    /// `[0, 2^bits - 1]`, with Q4_1's grid (`rmin` −0.9, `rdelta` 0.05, 36 steps).
    static func affineCandidates(_ x: UnsafePointer<Float>, count: Int, weights w: UnsafePointer<Float>, bits: Int,
                                 _ body: (_ scale: Float, _ low: Float) -> Void) {
        var lo = x[0], hi = x[0], sumW: Float = 0, sumX: Float = 0
        for i in 0..<count {
            lo = Swift.min(lo, x[i])
            hi = Swift.max(hi, x[i])
            sumW += w[i]
            sumX += w[i] * x[i]
        }
        lo = Swift.min(lo, 0)
        guard hi > lo else { return }
        let nmax = Float((1 << bits) - 1)
        for step in 0...36 {
            let iscale = (-0.9 + 0.05 * Float(step) + nmax) / (hi - lo)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<count {
                let l = Swift.min(Swift.max(Float(roundedToInt32(iscale * (x[i] - lo))), 0), nmax)
                sumL += w[i] * l
                sumL2 += w[i] * l * l
                sumXL += w[i] * l * x[i]
            }
            let d = sumW * sumL2 - sumL * sumL
            guard d > 0 else { continue }
            var scale = (sumW * sumXL - sumX * sumL) / d
            var low = (sumL2 * sumX - sumL * sumXL) / d
            if low > 0 {
                low = 0
                scale = sumXL / sumL2
            }
            body(scale, low)
        }
    }
}
