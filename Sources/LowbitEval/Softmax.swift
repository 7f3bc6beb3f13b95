import Foundation

/// Softmax and log-softmax of single rows.
enum Softmax {
    /// Replaces `x[0..<count]` by its softmax.
    @inlinable
    static func inPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var m = -Float.infinity
        for i in 0..<count { m = max(m, x[i]) }
        var sum: Float = 0
        for i in 0..<count {
            let e = expf(x[i] - m)
            x[i] = e
            sum += e
        }
        let inv = 1 / sum
        for i in 0..<count { x[i] *= inv }
    }

    /// The log of the sum of exponentials of `x[0..<count]` (in Double), and the index of
    /// the largest element.
    @inlinable
    static func logSumExp(_ x: UnsafePointer<Float>, count: Int) -> (logSum: Double, argmax: Int) {
        var m = -Float.infinity
        var best = 0
        for i in 0..<count where x[i] > m {
            m = x[i]
            best = i
        }
        var sum: Double = 0
        var part: Float = 0
        var i = 0
        while i < count {
            // Float partial sums of 64 terms keep the loop fast; Double across blocks keeps it exact.
            let end = min(count, i + 64)
            part = 0
            while i < end {
                part += expf(x[i] - m)
                i += 1
            }
            sum += Double(part)
        }
        return (Double(m) + log(sum), best)
    }
}
