import Foundation
import LowbitEval

/// AWQ's weight clipping, as mlx-lm's `search_best_clip` performs it (read, not copied): after
/// a layer's scales are folded, each clipped linear's weights are clamped to ±m per output row
/// and quantization group, m chosen from the shrink ratios p = 1, 1 − 1/n, …, down to
/// 1 − (⌊shrink·n⌋ − 1)/n of the group's max |w|, for the least output error of that group:
///
///     loss(r, g) = mean over sampled tokens t of ( Σ_{c ∈ g} x[t,c] · (Q(clip_p(W))[r,c] − W[r,c]) )²
///
/// where Q is the conversion's round trip of the whole clipped matrix (one candidate p for every
/// group at a time) and x the layer's (scaled) inputs, at most ``sampleTokens`` of them taken at
/// an even stride. Each group keeps the first ratio of least loss (p = 1, no clipping, on ties).
public struct AWQClipSearch: Sendable {
    /// The grid: ratios step by `1 / gridSize` (mlx-lm's `n_grid`, 20).
    public var gridSize: Int
    /// The largest shrink tried is just under this fraction (mlx-lm's `max_shrink`, 0.5).
    public var maxShrink: Double
    /// At most this many input rows score the candidates (mlx-lm's `n_frames`, 512).
    public var sampleTokens: Int

    /// A search with mlx-lm's settings unless told otherwise.
    public init(gridSize: Int = 20, maxShrink: Double = 0.5, sampleTokens: Int = 512) {
        precondition(gridSize >= 1 && maxShrink >= 0 && maxShrink < 1 && sampleTokens >= 1, "bad clip search settings")
        self.gridSize = gridSize
        self.maxShrink = maxShrink
        self.sampleTokens = sampleTokens
    }

    /// The ratios p tried, in order (at least p = 1).
    public var ratios: [Float] {
        (0..<max(1, Int(maxShrink * Double(gridSize)))).map { Float(1 - Double($0) / Double(gridSize)) }
    }

    /// Searches the clamps of the weight `weights` (rows of `width`, as it will be encoded: after
    /// any AWQ scaling) of the tensor `tensor`, scored on `inputs` (rows of `width`, scaled the
    /// same way), in the groups of `quantizer` for the tensor.
    public func search(tensor: String, weights: [Float], inputs: [Float], width: Int,
                       quantizer: any AWQFakeQuantizer, threads: Int) throws -> AWQClip {
        precondition(width > 0 && weights.count % width == 0 && inputs.count % width == 0, "rows of \(width) expected")
        let rows = weights.count / width
        let group = min(width, max(1, quantizer.groupSize(tensor: tensor, rowLength: width)))
        let groups = (width + group - 1) / group
        let x = Self.sample(inputs, width: width, at: sampleTokens)
        let n = x.count / width
        var initialMax = [Float](repeating: 0, count: rows * groups)
        for r in 0..<rows {
            for g in 0..<groups {
                var m: Float = 0
                for c in (g * group)..<min(width, (g + 1) * group) { m = max(m, abs(weights[r * width + c])) }
                initialMax[r * groups + g] = m
            }
        }
        var bestLoss = [Double](repeating: .infinity, count: rows * groups)
        var bestMax = initialMax
        var bestRatio = [Float](repeating: 1, count: rows * groups)
        for p in ratios {
            var clipped = weights
            for r in 0..<rows {
                for g in 0..<groups {
                    let m = p * initialMax[r * groups + g]
                    for c in (g * group)..<min(width, (g + 1) * group) {
                        clipped[r * width + c] = min(max(clipped[r * width + c], -m), m)
                    }
                }
            }
            var delta = try quantizer.roundTrip(tensor: tensor, values: clipped, rowLength: width)
            for i in delta.indices { delta[i] -= weights[i] }
            let loss = Self.groupOutputErrors(x, tokens: n, delta: delta, rows: rows, width: width, group: group,
                                              threads: threads)
            for i in loss.indices where loss[i] < bestLoss[i] {
                bestLoss[i] = loss[i]
                bestMax[i] = p * initialMax[i]
                bestRatio[i] = p
            }
        }
        return AWQClip(groupSize: group, maxima: bestMax, ratios: bestRatio)
    }

    /// Every `ceil(count / limit)`-th row of `values` (rows of `width`) from the first.
    static func sample(_ values: [Float], width: Int, at limit: Int) -> [Float] {
        let count = values.count / width
        let stride = max(1, (count + limit - 1) / limit)
        guard stride > 1 else { return values }
        var out: [Float] = []
        out.reserveCapacity((count / stride + 1) * width)
        for r in Swift.stride(from: 0, to: count, by: stride) { out += values[(r * width)..<((r + 1) * width)] }
        return out
    }

    /// For every row r and group g, the mean over the `tokens` rows of `x` of
    /// (x[t, g] · delta[r, g])²: one product per group of columns.
    static func groupOutputErrors(_ x: [Float], tokens n: Int, delta: [Float], rows: Int, width: Int, group: Int,
                                  threads: Int) -> [Double] {
        let groups = (width + group - 1) / group
        var loss = [Double](repeating: 0, count: rows * groups)
        var product = [Float](repeating: 0, count: n * rows)
        x.withUnsafeBufferPointer { a in
            delta.withUnsafeBufferPointer { b in
                for g in 0..<groups {
                    let k = min(width, (g + 1) * group) - g * group
                    product.withUnsafeMutableBufferPointer { c in
                        BLAS.gemmTransposedB(m: n, n: rows, k: k, a: a.baseAddress! + g * group, lda: width,
                                             b: b.baseAddress! + g * group, ldb: width,
                                             c: c.baseAddress!, ldc: rows, threads: threads)
                    }
                    for t in 0..<n {
                        for r in 0..<rows {
                            let d = Double(product[t * rows + r])
                            loss[r * groups + g] += d * d
                        }
                    }
                }
            }
        }
        return loss.map { $0 / Double(max(1, n)) }
    }
}

/// The clamps AWQ's clip search chose for one tensor: its values (after scaling) are limited to
/// ±`maxima[r · groups + g]` in row r and group g of `groupSize` columns.
public struct AWQClip: Sendable, Equatable {
    /// Columns per group (the last group of a row may be shorter).
    public var groupSize: Int
    /// One clamp per row and group, row after row.
    public var maxima: [Float]
    /// The ratio of each group's max |w| its clamp is (1: not clipped).
    public var ratios: [Float]

    /// How many groups were clipped (ratio below 1).
    public var clippedGroups: Int { ratios.reduce(0) { $0 + ($1 < 1 ? 1 : 0) } }
}
