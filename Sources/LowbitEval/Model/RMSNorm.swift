import LowbitSystem

/// Root-mean-square normalisation of each row, scaled by a learned weight per column.
enum RMSNorm {
    /// `out[r] = x[r] / sqrt(mean(x[r]²) + epsilon) · weight` for `rows` rows of `width`.
    /// `out` may be `x` (in place).
    static func apply(_ x: UnsafePointer<Float>, rows: Int, width: Int, weight: UnsafePointer<Float>,
                      epsilon: Float, into out: UnsafeMutablePointer<Float>, threads: Int) {
        let x = UnsafeTransfer(UnsafeMutablePointer(mutating: x))
        let w = UnsafeTransfer(UnsafeMutablePointer(mutating: weight))
        let o = UnsafeTransfer(out)
        Parallel.forRanges(rows, threads: threads, minimumPerPart: 16) { range in
            for r in range {
                normalizeRow(x.wrappedValue + r * width, width: width, weight: w.wrappedValue, epsilon: epsilon,
                             into: o.wrappedValue + r * width)
            }
        }
    }

    @inlinable
    static func normalizeRow(_ x: UnsafePointer<Float>, width: Int, weight: UnsafePointer<Float>,
                             epsilon: Float, into out: UnsafeMutablePointer<Float>) {
        var sum: Double = 0
        for i in 0..<width { sum += Double(x[i] * x[i]) }
        let scale = Float(1 / (sum / Double(width) + Double(epsilon)).squareRoot())
        for i in 0..<width { out[i] = x[i] * scale * weight[i] }
    }
}
