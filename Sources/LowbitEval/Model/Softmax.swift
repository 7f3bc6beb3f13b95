import Foundation

/// Softmax, log-sum-exp and a fast exponential for whole rows.
enum Softmax {
    /// e^x for x in about [-87, 88] (clamped outside), within 2 ulp of `expf`: Cody-Waite
    /// reduction x = n·ln2 + r and a degree-6 polynomial for e^r. Branch- and call-free, so
    /// loops over it vectorise.
    @inlinable @inline(__always)
    static func exp(_ x: Float) -> Float {
        let x = Swift.min(Swift.max(x, -87.0), 88.0)
        // Adding 1.5·2^23 rounds x·log2(e) to an integer held in the low mantissa bits.
        let magic: Float = 12_582_912
        let t = x * 1.442_695_04 + magic
        let n = t - magic
        let r = (x - n * 0.693_145_75) - n * 1.428_606_8e-6
        var p: Float = 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let exponent = (t.bitPattern &- magic.bitPattern &+ 127) << 23
        return p * Float(bitPattern: exponent)
    }

    /// The sum of `x[0..<count]` with eight independent partial sums (vectorisable), in Double
    /// across blocks of 1024 elements.
    @inlinable
    static func sum(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var total: Double = 0
        var i = 0
        while i < count {
            let end = Swift.min(count, i + 1024)
            var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
            var s4: Float = 0, s5: Float = 0, s6: Float = 0, s7: Float = 0
            while i + 8 <= end {
                s0 += x[i]; s1 += x[i + 1]; s2 += x[i + 2]; s3 += x[i + 3]
                s4 += x[i + 4]; s5 += x[i + 5]; s6 += x[i + 6]; s7 += x[i + 7]
                i += 8
            }
            while i < end {
                s0 += x[i]
                i += 1
            }
            total += Double(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)))
        }
        return total
    }

    /// The largest of `x[0..<count]` and its index (the first one).
    @inlinable
    static func argmax(_ x: UnsafePointer<Float>, count: Int) -> (value: Float, index: Int) {
        var m = -Float.infinity
        var best = 0
        for i in 0..<count where x[i] > m {
            m = x[i]
            best = i
        }
        return (m, best)
    }

    /// Replaces `x[0..<count]` by its softmax.
    @inlinable
    static func inPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var m = -Float.infinity
        for i in 0..<count { m = Swift.max(m, x[i]) }
        for i in 0..<count { x[i] = exp(x[i] - m) }
        let inv = Float(1 / sum(x, count: count))
        for i in 0..<count { x[i] *= inv }
    }

    /// The log of the sum of exponentials of `x[0..<count]` (in Double), and the index of
    /// the largest element. `scratch` holds `count` floats.
    @inlinable
    static func logSumExp(_ x: UnsafePointer<Float>, count: Int, scratch: UnsafeMutablePointer<Float>) -> (logSum: Double, argmax: Int) {
        let (m, best) = argmax(x, count: count)
        for i in 0..<count { scratch[i] = exp(x[i] - m) }
        return (Double(m) + Foundation.log(sum(scratch, count: count)), best)
    }

    /// ``logSumExp(_:count:scratch:)`` with its own scratch.
    static func logSumExp(_ x: UnsafePointer<Float>, count: Int) -> (logSum: Double, argmax: Int) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { s in
            logSumExp(x, count: count, scratch: s.baseAddress!)
        }
    }
}
