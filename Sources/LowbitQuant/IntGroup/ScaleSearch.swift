/// A per-group search for the scale (and zero point or bias) that minimises the squared
/// quantization error, optionally weighted per column by an importance vector (the hook
/// importance-matrix work uses).
///
/// For each group it tries the closed-form parameters of the quantizer's convention with the
/// range shrunk by factors `1, ..., 1 - maxShrink` (`candidates` evenly spaced values, like
/// llm-compressor's MSE observer), keeps the best, then refits the scale (and the bias, for MLX;
/// with the zero point fixed, for compressed-tensors) by weighted least squares on the chosen
/// codes and re-encodes, `refinements` times, keeping a refit only when it lowers the error.
/// Candidates are evaluated with the stored (rounded) scale, so the error is the real one.
public struct ScaleSearch: Hashable, Sendable {
    /// Number of shrink factors tried (>= 1).
    public var candidates: Int
    /// The largest fraction by which the range is shrunk (0 ..< 1).
    public var maxShrink: Float
    /// Least-squares refits after the grid.
    public var refinements: Int

    /// A search with `candidates >= 1` shrink factors down to `1 - maxShrink` (`0 ..< 1`), then
    /// `refinements >= 0` least-squares refits.
    public init(candidates: Int = 20, maxShrink: Float = 0.25, refinements: Int = 2) {
        precondition(candidates >= 1 && maxShrink >= 0 && maxShrink < 1 && refinements >= 0,
                     "invalid scale search settings")
        self.candidates = candidates
        self.maxShrink = maxShrink
        self.refinements = refinements
    }

    /// The best parameters found for one group of `count` values.
    func best<R: IntermediateRounding>(_ x: UnsafePointer<Float>, count: Int, weights: UnsafePointer<Float>?,
                                       quantizer q: IntGroupQuantizer, _: R.Type) -> IntGroupParameters {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { buffer in
            let codes = buffer.baseAddress!
            var best = q.groupParametersClosedForm(x, R.self)
            var bestError = Self.error(x, count: count, weights: weights, best, q, R.self)
            if candidates > 1 {
                let (lo, hi) = IntGroupQuantizer.minMax(x, count: count)
                let absmax = Swift.max(Swift.abs(lo), Swift.abs(hi))
                let shrinks = (0..<candidates).map { 1 - maxShrink * Float($0) / Float(candidates - 1) }
                var symmetric = false
                if case .compressedTensors(true) = q.convention { symmetric = true }
                @inline(__always) func consider(_ p: IntGroupParameters) -> Bool {
                    let e = Self.error(x, count: count, weights: weights, p, q, R.self)
                    guard e < bestError else { return false }
                    best = p
                    bestError = e
                    return true
                }
                if symmetric {
                    for shrink in shrinks.dropFirst() {
                        _ = consider(q.ctSymmetric(absmax: absmax, shrink: shrink, R.self))
                    }
                } else {
                    // Both ends shrunk together, then each end on its own around the best pair
                    // (an asymmetric range fits skewed groups).
                    var bestLow: Float = 1, bestHigh: Float = 1
                    for shrink in shrinks.dropFirst()
                    where consider(rangeParameters(lo * shrink, hi * shrink, q, R.self)) {
                        bestLow = shrink
                        bestHigh = shrink
                    }
                    let high = bestHigh
                    for shrink in shrinks where shrink != bestLow
                    && consider(rangeParameters(lo * shrink, hi * high, q, R.self)) {
                        bestLow = shrink
                    }
                    let low = bestLow
                    for shrink in shrinks where shrink != high {
                        _ = consider(rangeParameters(lo * low, hi * shrink, q, R.self))
                    }
                }
            }
            for _ in 0..<refinements {
                q.encode(x, best, into: codes, R.self)
                guard let p = refit(x, count: count, weights: weights, codes: codes, best, q) else { break }
                let e = Self.error(x, count: count, weights: weights, p, q, R.self)
                guard e < bestError else { break }
                best = p
                bestError = e
            }
            return best
        }
    }

    /// Parameters of an asymmetric convention for the range `[low, high]`.
    @inline(__always)
    private func rangeParameters<R: IntermediateRounding>(_ low: Float, _ high: Float, _ q: IntGroupQuantizer,
                                                          _: R.Type) -> IntGroupParameters {
        switch q.convention {
        case .compressedTensors:
            return q.ctAsymmetric(min: low, max: high, shrink: 1, R.self)
        case .mlxAffine:
            let levels = Float((1 << q.bits) - 1)
            return q.mlxParameters(scale: Swift.max((high - low) / levels, 1e-7), bias: low)
        }
    }

    /// Weighted squared error of a group under parameters `p`, computed in one fused pass
    /// with the same arithmetic as ``IntGroupQuantizer`` encoding and dequantization.
    static func error<R: IntermediateRounding>(_ x: UnsafePointer<Float>, count: Int, weights: UnsafePointer<Float>?,
                                                _ p: IntGroupParameters, _ q: IntGroupQuantizer, _: R.Type) -> Float {
        switch q.convention {
        case .compressedTensors(let symmetric):
            let half = Float(1 << (q.bits - 1))
            let qmin = -half, qmax = half - 1
            let s = p.scale, zp = symmetric ? 0 : p.offset
            return Self.sum(count, weights) { i in
                let v = symmetric ? R.apply(x[i] / s) : R.apply(R.apply(x[i] / s) + zp)
                let level = Float(roundedToInt32(Swift.min(Swift.max(v, qmin), qmax)))
                return x[i] - (level - zp) * s
            }
        case .mlxAffine:
            let levels = Float((1 << q.bits) - 1)
            let s = p.scale, b = p.offset, ss = p.storedScale, sb = p.storedOffset
            return Self.sum(count, weights) { i in
                let level = Float(roundedToInt32(Swift.min(Swift.max((x[i] - b) / s, 0), levels)))
                return x[i] - (level * ss + sb)
            }
        }
    }

    /// `Σ w[i] * d(i)²` (w = 1 without weights), with separate loops so each vectorises.
    @inline(__always)
    private static func sum(_ count: Int, _ weights: UnsafePointer<Float>?, _ d: (Int) -> Float) -> Float {
        // Eight independent partial sums: a single float accumulator serialises the loop on the
        // add latency (the compiler may not reassociate float sums).
        var lanes = SIMD8<Float>()
        let full = count & ~7
        var i = 0
        while i < full {
            var e = SIMD8<Float>()
            for k in 0..<8 { e[k] = d(i + k) }
            if let weights {
                var w = SIMD8<Float>()
                for k in 0..<8 { w[k] = weights[i + k] }
                lanes += w * e * e
            } else {
                lanes += e * e
            }
            i += 8
        }
        var total = lanes.sum()
        while i < count {
            let e = d(i)
            total += (weights?[i] ?? 1) * e * e
            i += 1
        }
        return total
    }

    /// Least-squares scale (and bias) for fixed codes, or nil if degenerate.
    private func refit(_ x: UnsafePointer<Float>, count: Int, weights: UnsafePointer<Float>?,
                       codes: UnsafePointer<UInt8>, _ p: IntGroupParameters, _ q: IntGroupQuantizer) -> IntGroupParameters? {
        switch q.convention {
        case .compressedTensors:
            // x ≈ s * (code - half - zp): one unknown.
            let shift = Float(1 << (q.bits - 1)) + p.offset
            var xy: Float = 0, yy: Float = 0
            for i in 0..<count {
                let w = weights?[i] ?? 1
                let y = Float(codes[i]) - shift
                xy += w * x[i] * y
                yy += w * y * y
            }
            guard yy > 0, xy > 0 else { return nil }
            let s = q.scaleFormat.roundTrip(xy / yy)
            guard s > 0, s.isFinite else { return nil }
            return q.ctParameters(scale: s, zeroPoint: p.offset)
        case .mlxAffine:
            // x ≈ s * code + b: two unknowns (weighted normal equations).
            var sw: Float = 0, su: Float = 0, suu: Float = 0, sx: Float = 0, sux: Float = 0
            for i in 0..<count {
                let w = weights?[i] ?? 1
                let u = Float(codes[i])
                sw += w; su += w * u; suu += w * u * u; sx += w * x[i]; sux += w * u * x[i]
            }
            let det = sw * suu - su * su
            guard det > 0 else { return nil }
            let s = (sw * sux - su * sx) / det
            let b = (suu * sx - su * sux) / det
            guard s.isFinite, b.isFinite, s != 0 else { return nil }
            return q.mlxParameters(scale: s, bias: b)
        }
    }
}

extension IntGroupQuantizer {
    /// The closed-form (non-searched) parameters of the convention.
    @inline(__always)
    func groupParametersClosedForm<R: IntermediateRounding>(_ x: UnsafePointer<Float>, _: R.Type) -> IntGroupParameters {
        switch convention {
        case .compressedTensors(let symmetric):
            symmetric ? ctSymmetric(x, R.self) : ctAsymmetric(x, R.self)
        case .mlxAffine:
            mlxAffine(x)
        }
    }

    /// Dequantization as a line `x = code * a + b` with the stored parameters.
    @inline(__always)
    func dequantizationLine(_ p: IntGroupParameters) -> (Float, Float) {
        switch convention {
        case .compressedTensors:
            (p.storedScale, -(Float(1 << (bits - 1)) + p.storedOffset) * p.storedScale)
        case .mlxAffine:
            (p.storedScale, p.storedOffset)
        }
    }
}
