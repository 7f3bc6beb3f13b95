import Foundation
import Testing
@testable import LowbitEval

@Suite struct ChunkingTests {
    @Test func planFollowsLlamaCpp() throws {
        let plan = try ChunkPlan(tokenCount: 1300, contextLength: 512)
        #expect(plan.chunkCount == 2)
        #expect(plan.scoredRows == 256..<511)
        #expect(plan.scoredPerChunk == 255)
        #expect(plan.scoredTotal == 510)
        let capped = try ChunkPlan(tokenCount: 5000, contextLength: 512, maxChunks: 3)
        #expect(capped.chunkCount == 3)
        #expect(throws: EvalError.self) { _ = try ChunkPlan(tokenCount: 1023, contextLength: 512) }
    }

    @Test func bosReplacesTheFirstTokenOfEachChunk() throws {
        let tokens = (0..<40).map(Int32.init)
        let plan = try ChunkPlan(tokenCount: 40, contextLength: 16, bos: 99)
        #expect(plan.tokens(ofChunk: 1, from: tokens) == [99] + (17..<32).map(Int32.init))
        // Targets are the text's own tokens after ctx/2.
        #expect(plan.targets(ofChunk: 1, from: tokens) == (25..<32).map(Int32.init))
        let noBOS = try ChunkPlan(tokenCount: 40, contextLength: 16)
        #expect(noBOS.tokens(ofChunk: 0, from: tokens) == (0..<16).map(Int32.init))
    }

    @Test func skippedChunksAreLeftOut() throws {
        let tokens = (0..<100).map(Int32.init)
        let plan = try ChunkPlan(tokenCount: 100, contextLength: 16, skipChunks: 2, bos: 99)
        // 100 tokens hold 6 chunks; after 2 skipped, 4 remain.
        #expect(plan.chunkCount == 4 && plan.evaluatedChunks == 2..<6 && plan.evaluatedTokens == 32..<96)
        #expect(plan.tokens(ofChunk: 0, from: tokens) == [99] + (33..<48).map(Int32.init))
        #expect(plan.targets(ofChunk: 3, from: tokens) == (89..<96).map(Int32.init))
        let capped = try ChunkPlan(tokenCount: 100, contextLength: 16, maxChunks: 1, skipChunks: 4)
        #expect(capped.evaluatedChunks == 4..<5)
        // Two chunks' worth of tokens must remain after the skipped ones.
        #expect(throws: EvalError.self) { _ = try ChunkPlan(tokenCount: 100, contextLength: 16, skipChunks: 5) }
        #expect(throws: EvalError.self) { _ = try ChunkPlan(tokenCount: 100, contextLength: 16, skipChunks: -1) }
        #expect(throws: EvalError.self) { _ = try ChunkPlan(tokenCount: 100, contextLength: 16, skipChunks: Int.max) }
    }

    @Test func standardErrorIsLlamaCpps() {
        var acc = NLLAccumulator()
        let values: [Double] = [1, 2, 3, 4]
        acc.add(contentsOf: values)
        let mean = 2.5
        let expected = ((7.5 - mean * mean) / 3).squareRoot() * exp(mean)
        #expect(abs(acc.perplexity - exp(2.5)) < 1e-12)
        #expect(abs(acc.standardError - expected) < 1e-9)
    }

    @Test func nllOfUniformLogitsIsLogVocab() {
        let logits = [Float](repeating: 3, count: 2 * 10)
        let nll = LogProbabilities.nll(logits: logits, vocab: 10, targets: [1, 7], threads: 2)
        for v in nll { #expect(abs(v - log(10)) < 1e-6) }
    }
}
