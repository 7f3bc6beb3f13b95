import LowbitFormats

/// A clip search for FP8 scales (per row or per block; a per-tensor scale is never searched):
/// besides `absmax / max`, try the smaller scales `absmax · f / max` for `f` on an even grid
/// from 1 down to `1 - maxClip` (values beyond `max · scale` then clip), and keep the scale of
/// least squared error, each candidate measured exactly as stored (scale rounded to the scale
/// format, codes cast and decoded).
///
/// With an importance vector the error is weighted as llama.cpp weights its legacy quants
/// (``ImportanceSearch``): `w_j = qw_j · sqrt(σ² + x_j²)`, `σ²` the mean square of the row; without
/// one, every element weighs 1.
public struct FP8ClipSearch: Hashable, Sendable {
    /// Number of scale factors tried, `1` (absmax) included (>= 1).
    public var candidates: Int
    /// The largest fraction by which absmax is shrunk (0 ..< 1).
    public var maxClip: Float

    /// A search over `candidates >= 1` factors from 1 down to `1 - maxClip` (`0 ..< 1`).
    public init(candidates: Int = 20, maxClip: Float = 0.2) {
        precondition(candidates >= 1 && maxClip >= 0 && maxClip < 1, "invalid FP8 clip search settings")
        self.candidates = candidates
        self.maxClip = maxClip
    }

    /// The factors applied to absmax, largest first.
    var factors: [Float] {
        candidates == 1 ? [1] : (0..<candidates).map { 1 - maxClip * Float($0) / Float(candidates - 1) }
    }
}

extension FP8Quantizer {
    /// llama.cpp's element weights (``ImportanceSearch/rowWeights(_:count:importance:into:)``) of
    /// `rows` whole rows from `firstRow`, or nil without importance or without a search.
    func searchWeights(_ job: FP8Job, firstRow: Int, rows: Int) -> [Float]? {
        guard clipSearch != nil, let importance = job.importance else { return nil }
        var weights = [Float](repeating: 0, count: rows * job.rowLength)
        weights.withUnsafeMutableBufferPointer { w in
            for r in 0..<rows {
                ImportanceSearch.rowWeights(job.source + (firstRow + r) * job.rowLength, count: job.rowLength,
                                            importance: importance, into: w.baseAddress! + r * job.rowLength)
            }
        }
        return weights
    }

    /// The searched scale of the block of `rows` rows from `firstRow`, columns
    /// `column ..< column + width`, whose absolute maximum is `absmax`; `weights` are
    /// ``searchWeights(_:firstRow:rows:)``'s for those rows (nil: every element weighs 1).
    func searchedScale(_ job: FP8Job, firstRow: Int, rows: Int, column: Int, width: Int, absmax: Float,
                       weights: [Float]?, _ search: FP8ClipSearch) -> Float {
        let table = variant == .e4m3 ? FP8.e4m3Table : FP8.e5m2Table
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: width) { codeBuffer in
            let codes = codeBuffer.baseAddress!
            var best = scale(absmax: absmax), bestError = Float.infinity
            for factor in search.factors {
                let s = scale(absmax: absmax * factor)
                var total: Float = 0
                for r in 0..<rows {
                    let x = job.source + (firstRow + r) * job.rowLength + column
                    encode(x, count: width, scale: s, into: codes)
                    table.withUnsafeBufferPointer { t in
                        if let weights {
                            let w = r * job.rowLength + column
                            for j in 0..<width {
                                let d = x[j] - t[Int(codes[j])] * s
                                total += weights[w + j] * d * d
                            }
                        } else {
                            for j in 0..<width {
                                let d = x[j] - t[Int(codes[j])] * s
                                total += d * d
                            }
                        }
                    }
                }
                if total < bestError {
                    best = s
                    bestError = total
                }
            }
            return best
        }
    }
}
