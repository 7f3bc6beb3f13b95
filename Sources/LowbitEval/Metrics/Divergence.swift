import Foundation
import LowbitSystem

/// What a quantized model's predictions lost against the base model's, position by position:
/// KL divergence, top-1 agreement, the change in the probability of the correct token, and
/// both perplexities (llama.cpp's `--kl-divergence` statistics).
public struct DivergenceStats: Sendable {
    /// Negative log-likelihoods of the base model at the scored positions.
    public private(set) var base = NLLAccumulator()
    /// Negative log-likelihoods of the quantized model at the scored positions.
    public private(set) var quant = NLLAccumulator()
    /// KL(base ‖ quant) of every scored position, in nats.
    public private(set) var divergences: [Double] = []
    /// Positions where both models rank the same token first.
    public private(set) var sameTop = 0
    /// The sum over positions of the squared change in the correct token's probability.
    public private(set) var sumSquaredDeltaP: Double = 0

    /// Empty statistics.
    public init() {}

    /// Positions scored.
    public var count: Int { divergences.count }

    /// Adds the positions of one chunk. `baseLogProbs` holds log-softmax rows of the base model,
    /// `quantLogits` raw logits of the quantized model, both `targets.count × vocab`.
    public mutating func add(baseLogProbs: [Float], quantLogits: [Float], vocab: Int, targets: [Int32], threads: Int) {
        let rows = targets.count
        precondition(baseLogProbs.count == rows * vocab && quantLogits.count == rows * vocab,
                     "logit counts do not match rows × vocab")
        var results = [PositionResult](repeating: PositionResult(), count: rows)
        baseLogProbs.withUnsafeBufferPointer { b in
            quantLogits.withUnsafeBufferPointer { q in
                results.withUnsafeMutableBufferPointer { out in
                    let bp = UnsafeTransfer(UnsafeMutablePointer(mutating: b.baseAddress!))
                    let qp = UnsafeTransfer(UnsafeMutablePointer(mutating: q.baseAddress!))
                    let op = UnsafeTransfer(out.baseAddress!)
                    Parallel.forRanges(rows, threads: threads) { range in
                        for r in range {
                            op.wrappedValue[r] = DivergenceStats.compare(base: bp.wrappedValue + r * vocab,
                                                                    quant: qp.wrappedValue + r * vocab,
                                                                    vocab: vocab, target: Int(targets[r]))
                        }
                    }
                }
            }
        }
        for p in results {
            base.add(p.baseNLL)
            quant.add(p.quantNLL)
            divergences.append(p.kld)
            if p.sameTop { sameTop += 1 }
            sumSquaredDeltaP += p.deltaP * p.deltaP
        }
    }

    struct PositionResult {
        var kld: Double = 0, baseNLL: Double = 0, quantNLL: Double = 0, deltaP: Double = 0
        var sameTop = false
    }

    static func compare(base: UnsafePointer<Float>, quant: UnsafePointer<Float>, vocab: Int, target: Int) -> PositionResult {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: vocab) { scratch in
            let s = scratch.baseAddress!
            let (lse, quantTop) = Softmax.logSumExp(quant, count: vocab, scratch: s)
            let baseTop = Softmax.argmax(base, count: vocab).index
            let shift = Float(lse)
            // p_base · (log p_base − log p_quant), summed in blocks.
            for j in 0..<vocab {
                let lb = base[j]
                s[j] = Softmax.exp(lb) * (lb - (quant[j] - shift))
            }
            let kld = Softmax.sum(s, count: vocab)
            let baseLP = Double(base[target])
            let quantLP = Double(quant[target]) - lse
            return PositionResult(kld: kld, baseNLL: -baseLP, quantNLL: -quantLP,
                                  deltaP: Foundation.exp(quantLP) - Foundation.exp(baseLP), sameTop: baseTop == quantTop)
        }
    }

    /// The mean KL divergence in nats (NaN when nothing was scored).
    public var meanKLD: Double { count == 0 ? .nan : divergences.reduce(0, +) / Double(count) }

    /// The standard error of the mean KL divergence.
    public var kldStandardError: Double {
        guard count > 1 else { return .nan }
        let mean = meanKLD
        let variance = divergences.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(count - 1)
        return (variance / Double(count)).squareRoot()
    }

    /// The `q`-quantile (0...1) of the per-position KL divergences, linearly interpolated.
    public func kldQuantile(_ q: Double) -> Double {
        guard count > 0 else { return .nan }
        let sorted = divergences.sorted()
        let x = q * Double(count - 1)
        let lo = Int(x.rounded(.down))
        let hi = min(count - 1, lo + 1)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (x - Double(lo))
    }

    /// Percentage of positions where both models' most likely token is the same.
    public var topAgreementPercent: Double { count == 0 ? .nan : 100 * Double(sameTop) / Double(count) }

    /// The standard error of ``topAgreementPercent``.
    public var topAgreementStandardError: Double {
        guard count > 1 else { return .nan }
        let p = Double(sameTop) / Double(count)
        return 100 * (p * (1 - p) / Double(count - 1)).squareRoot()
    }

    /// The root mean square of the change in the correct token's probability, in percent.
    public var rmsDeltaPPercent: Double { count == 0 ? .nan : 100 * (sumSquaredDeltaP / Double(count)).squareRoot() }
}
