import Foundation

/// How far a reconstruction is from the original: the one measure that `convert` and `compare`
/// report per tensor. Sums run in `Double`.
///
/// Non-finite values are not special-cased: a NaN or infinity in either input makes the
/// affected figures NaN or infinite (convert refuses such weights before measuring). Encode
/// with a `nonConformingFloatEncodingStrategy` if such values may occur.
public struct ErrorMetrics: Sendable, Codable, Equatable {
    /// Mean squared error.
    public var mse: Double
    /// Signal-to-noise ratio in dB: `10 log10(sum x^2 / sum (x - y)^2)`; +inf for an exact
    /// reconstruction (NaN if the original is all zeros and reconstructed exactly).
    public var snrDB: Double
    /// Largest absolute difference.
    public var maxAbsError: Double
    /// Cosine similarity of the two vectors (1 when both are all zeros).
    public var cosine: Double
    /// Number of elements compared.
    public var count: Int

    /// Metrics with these values.
    public init(mse: Double, snrDB: Double, maxAbsError: Double, cosine: Double, count: Int) {
        self.mse = mse
        self.snrDB = snrDB
        self.maxAbsError = maxAbsError
        self.cosine = cosine
        self.count = count
    }

    /// Measures `reconstructed` against `original` (same length).
    public static func measure(original: UnsafeBufferPointer<Float>,
                               reconstructed: UnsafeBufferPointer<Float>) -> ErrorMetrics {
        var acc = Accumulator()
        acc.add(original: original, reconstructed: reconstructed)
        return acc.metrics
    }

    /// Measures two arrays of the same length.
    public static func measure(original: [Float], reconstructed: [Float]) -> ErrorMetrics {
        original.withUnsafeBufferPointer { o in
            reconstructed.withUnsafeBufferPointer { measure(original: o, reconstructed: $0) }
        }
    }

    /// Running sums over strips of a tensor (or over several threads' strips, combined with
    /// ``merge(_:)``): the metrics of the whole are exactly those of one pass over it, up to the
    /// order of the Double sums.
    public struct Accumulator: Sendable, Codable, Equatable {
        /// Elements added so far.
        public var count = 0
        /// Sum of squared differences.
        public var sumSquaredError = 0.0
        /// Sum of squares of the original.
        public var sumSquaredOriginal = 0.0
        /// Sum of squares of the reconstruction.
        public var sumSquaredReconstructed = 0.0
        /// Sum of products original x reconstruction.
        public var sumProduct = 0.0
        /// Largest absolute difference.
        public var maxAbsError = 0.0

        /// Nothing added yet.
        public init() {}

        /// Adds a strip.
        public mutating func add(original: UnsafeBufferPointer<Float>, reconstructed: UnsafeBufferPointer<Float>) {
            precondition(original.count == reconstructed.count, "strips differ in length")
            // Four interleaved partial sums (a fixed order, so results are reproducible) keep the
            // additions from waiting on each other. (Measured: generic SIMD8 helpers such as
            // pointwiseMax are 9x slower; accumulators in memory 3x.)
            var see = SIMD4<Double>(), soo = SIMD4<Double>(), srr = SIMD4<Double>(), sor = SIMD4<Double>()
            var worst = maxAbsError
            let n = original.count
            var i = 0
            while i + 4 <= n {
                let o = SIMD4<Double>(Double(original[i]), Double(original[i + 1]),
                                      Double(original[i + 2]), Double(original[i + 3]))
                let r = SIMD4<Double>(Double(reconstructed[i]), Double(reconstructed[i + 1]),
                                      Double(reconstructed[i + 2]), Double(reconstructed[i + 3]))
                let e = o - r
                see += e * e
                soo += o * o
                srr += r * r
                sor += o * r
                for k in 0..<4 {
                    let a = e[k].magnitude
                    worst = a > worst || a.isNaN ? a : worst
                }
                i += 4
            }
            while i < n {
                let o = Double(original[i]), r = Double(reconstructed[i])
                let e = o - r
                see[0] += e * e
                soo[0] += o * o
                srr[0] += r * r
                sor[0] += o * r
                let a = e.magnitude
                worst = a > worst || a.isNaN ? a : worst
                i += 1
            }
            count += original.count
            sumSquaredError += see.sum()
            sumSquaredOriginal += soo.sum()
            sumSquaredReconstructed += srr.sum()
            sumProduct += sor.sum()
            maxAbsError = worst
        }

        /// Adds the strips another accumulator has seen.
        public mutating func merge(_ other: Accumulator) {
            count += other.count
            sumSquaredError += other.sumSquaredError
            sumSquaredOriginal += other.sumSquaredOriginal
            sumSquaredReconstructed += other.sumSquaredReconstructed
            sumProduct += other.sumProduct
            maxAbsError = maxAbsError.isNaN || other.maxAbsError.isNaN ? .nan : Swift.max(maxAbsError, other.maxAbsError)
        }

        /// The metrics of everything added so far.
        public var metrics: ErrorMetrics {
            let mse = count == 0 ? 0 : sumSquaredError / Double(count)
            let snr: Double
            if sumSquaredError == 0 {
                snr = sumSquaredOriginal == 0 ? .nan : .infinity
            } else {
                snr = 10 * log10(sumSquaredOriginal / sumSquaredError)
            }
            let norms = (sumSquaredOriginal * sumSquaredReconstructed).squareRoot()
            let cosine: Double
            if norms == 0 {
                cosine = sumSquaredOriginal == sumSquaredReconstructed ? 1 : 0
            } else {
                cosine = sumProduct / norms
            }
            return ErrorMetrics(mse: mse, snrDB: snr, maxAbsError: maxAbsError, cosine: cosine, count: count)
        }
    }
}
