import Foundation

/// Llama 3.1's frequency-dependent rope scaling.
public struct Llama3RopeScaling: Sendable, Equatable {
    public var factor: Double
    public var lowFrequencyFactor: Double
    public var highFrequencyFactor: Double
    public var originalContextLength: Int

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
