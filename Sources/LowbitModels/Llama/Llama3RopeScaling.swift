import Foundation

/// Llama 3.1's frequency-dependent rope scaling.
public struct Llama3RopeScaling: Sendable, Equatable {
    /// How much long wavelengths are slowed down (`factor`).
    public var factor: Double
    /// `low_freq_factor`: wavelengths beyond original context / this are slowed by `factor`.
    public var lowFrequencyFactor: Double
    /// `high_freq_factor`: wavelengths below original context / this are kept.
    public var highFrequencyFactor: Double
    /// `original_max_position_embeddings`.
    public var originalContextLength: Int

    /// Scaling from its `rope_scaling` values.
    public init(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContextLength: Int) {
        self.factor = factor
        self.lowFrequencyFactor = lowFrequencyFactor
        self.highFrequencyFactor = highFrequencyFactor
        self.originalContextLength = originalContextLength
    }

    /// The per-frequency divisors llama.cpp reads from `rope_freqs.weight` (one per rotated pair):
    /// 1 for short wavelengths, `factor` for long ones, and a smooth blend between.
    public func frequencyFactors(headDimension: Int, ropeTheta: Double) -> [Float] {
        let lowWavelength = Double(originalContextLength) / lowFrequencyFactor
        let highWavelength = Double(originalContextLength) / highFrequencyFactor
        return stride(from: 0, to: headDimension, by: 2).map { i in
            let frequency = 1 / Double(Float(pow(ropeTheta, Double(Float(i) / Float(headDimension)))))
            let wavelength = 2 * Double.pi / frequency
            if wavelength < highWavelength { return 1 }
            if wavelength > lowWavelength { return Float(factor) }
            let smooth = (Double(originalContextLength) / wavelength - lowFrequencyFactor)
                / (highFrequencyFactor - lowFrequencyFactor)
            return Float(1 / ((1 - smooth) / factor + smooth))
        }
    }
}
