import Foundation

/// AWQ's duo-scaling grid search, as llm-compressor's `AWQModifier` performs it (read, not
/// copied): for each ratio α = 0, 1/n, …, (n−1)/n of a grid of n,
///
///     s = max(x̄^α / (w̄^(1−α) + 1e-4), 1e-4),   then s /= sqrt(max(s) · min(s))
///
/// (non-finite entries become 1), where x̄ is the mean absolute input activation of each input
/// channel and w̄ the mean over the balance layers' rows of |W| normalised by the maximum of its
/// quantization group (``weightMeans(_:rowLength:groupSize:)``). The candidate whose loss is
/// lowest wins; the first one on ties, so α = 0 when every loss is equal.
public struct AWQScaleSearch: Sendable {
    /// Ratios tried: `gridSize` of them, from 0 in steps of `1 / gridSize`.
    public let gridSize: Int

    /// A search over `gridSize` (at least 1) ratios.
    public init(gridSize: Int = 20) {
        precondition(gridSize >= 1, "the AWQ grid needs at least one point")
        self.gridSize = gridSize
    }

    /// The ratios α tried, in order.
    public var ratios: [Double] { (0..<gridSize).map { Double($0) / Double(gridSize) } }

    /// w̄: for every input channel, the mean over all rows of all `weights` (each a row-major
    /// matrix with rows of `rowLength`) of |w| divided by (the maximum |w| of its group of
    /// `groupSize` consecutive values of the row + 1e-6), as llm-compressor's
    /// `_compute_layer_means` computes it (quotients in Float, the sum in Double).
    public static func weightMeans(_ weights: [[Float]], rowLength k: Int, groupSize: Int) -> [Double] {
        precondition(k > 0 && groupSize > 0, "empty rows or groups")
        var sums = [Double](repeating: 0, count: k)
        var rows = 0
        for w in weights {
            precondition(w.count % k == 0, "\(w.count) values are not rows of \(k)")
            let r = w.count / k
            rows += r
            w.withUnsafeBufferPointer { v in
                for row in 0..<r {
                    let base = row * k
                    var g = 0
                    while g < k {
                        let end = min(k, g + groupSize)
                        var m: Float = 0
                        for c in g..<end { m = max(m, abs(v[base + c])) }
                        let d = m + 1e-6
                        for c in g..<end { sums[c] += Double(abs(v[base + c]) / d) }
                        g = end
                    }
                }
            }
        }
        return sums.map { $0 / Double(max(1, rows)) }
    }

    /// The candidate scales for ratio `ratio` (see the type's formula).
    public static func scales(ratio: Double, activationMeans x: [Double], weightMeans w: [Double]) -> [Float] {
        precondition(x.count == w.count, "\(x.count) activation means, \(w.count) weight means")
        var s = (0..<x.count).map { i in max(pow(x[i], ratio) / (pow(w[i], 1 - ratio) + 1e-4), 1e-4) }
        let norm = ((s.max() ?? 1) * (s.min() ?? 1)).squareRoot()
        s = s.map { $0 / norm }
        return s.map { $0.isFinite ? Float($0) : 1 }
    }

    /// Tries every ratio and returns the scales of least `loss`.
    public func search(activationMeans: [Double], weightMeans: [Double],
                       loss: ([Float]) throws -> Double) rethrows -> AWQScaleChoice {
        var best: AWQScaleChoice?
        var losses: [Double] = []
        for ratio in ratios {
            let s = Self.scales(ratio: ratio, activationMeans: activationMeans, weightMeans: weightMeans)
            let l = try loss(s)
            losses.append(l)
            if best == nil || l < best!.loss || (!best!.loss.isFinite && l.isFinite) {
                best = AWQScaleChoice(ratio: ratio, scales: s, loss: l, losses: [])
            }
        }
        best!.losses = losses
        return best!
    }
}

/// The outcome of one ``AWQScaleSearch``.
public struct AWQScaleChoice: Sendable {
    /// The winning ratio α.
    public var ratio: Double
    /// Its scales, one per input channel of the balance layers.
    public var scales: [Float]
    /// Its loss.
    public var loss: Double
    /// Every ratio's loss, in grid order (the first is α = 0).
    public var losses: [Double]
}
