import Foundation
import Testing
@testable import LowbitEval

@Suite struct DivergenceTests {
    func logSoftmax(_ x: [Double]) -> [Double] {
        let m = x.max()!
        let l = log(x.map { exp($0 - m) }.reduce(0, +)) + m
        return x.map { $0 - l }
    }

    @Test func matchesDirectComputation() {
        let vocab = 300
        var base: [Float] = [], quant: [Float] = []
        var expectedKLD: [Double] = []
        var dp2 = 0.0
        var same = 0
        let targets: [Int32] = [5, 17, 299]
        var rng = SystemRandomNumberGenerator()
        for r in 0..<3 {
            let b = (0..<vocab).map { _ in Double.random(in: -4...4, using: &rng) }
            let q = b.map { $0 + Double.random(in: -0.5...0.5, using: &rng) }
            let lb = logSoftmax(b), lq = logSoftmax(q)
            expectedKLD.append(zip(lb, lq).reduce(0) { $0 + exp($1.0) * ($1.0 - $1.1) })
            let t = Int(targets[r])
            dp2 += pow(exp(lq[t]) - exp(lb[t]), 2)
            if b.firstIndex(of: b.max()!) == q.firstIndex(of: q.max()!) { same += 1 }
            base += lb.map(Float.init)
            quant += q.map(Float.init)
        }
        var stats = DivergenceStats()
        stats.add(baseLogProbs: base, quantLogits: quant, vocab: vocab, targets: targets, threads: 2)
        #expect(stats.count == 3)
        for (a, b) in zip(stats.divergences, expectedKLD) { #expect(abs(a - b) < 1e-5) }
        #expect(abs(stats.rmsDeltaPPercent - 100 * (dp2 / 3).squareRoot()) < 1e-4)
        #expect(abs(stats.topAgreementPercent - 100 * Double(same) / 3) < 1e-9)
        #expect(stats.kldQuantile(1) == stats.divergences.max())
    }

    @Test func identicalModelsHaveZeroDivergence() {
        let logits: [Float] = (0..<64).map { Float($0 % 7) - 2 }
        var lp = logits
        LogProbabilities.logSoftmax(&lp, rows: 2, vocab: 32, threads: 1)
        var stats = DivergenceStats()
        stats.add(baseLogProbs: lp, quantLogits: logits, vocab: 32, targets: [3, 4], threads: 1)
        #expect(stats.meanKLD.magnitude < 1e-6)
        #expect(stats.topAgreementPercent == 100)
        #expect(abs(stats.base.perplexity / stats.quant.perplexity - 1) < 1e-5)
    }
}
