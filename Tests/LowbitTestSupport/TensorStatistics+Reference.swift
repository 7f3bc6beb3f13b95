import LowbitFormats

extension TensorStatistics {
    /// Straightforward two-pass statistics in Double over the finite values, with NaN and infinity
    /// counts, to check the streaming ones against.
    public static func reference(_ values: [Float])
        -> (count: Int, min: Double, max: Double, mean: Double, std: Double, nan: Int, inf: Int) {
        let finite = values.filter(\.isFinite).map(Double.init)
        let nan = values.filter(\.isNaN).count
        let inf = values.filter(\.isInfinite).count
        guard !finite.isEmpty else { return (0, .nan, .nan, .nan, .nan, nan, inf) }
        let mean = finite.reduce(0, +) / Double(finite.count)
        let variance = finite.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(finite.count)
        return (finite.count, finite.min()!, finite.max()!, mean, variance.squareRoot(), nan, inf)
    }
}
