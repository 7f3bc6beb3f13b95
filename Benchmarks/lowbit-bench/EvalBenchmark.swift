import Foundation
import LowbitEval

/// Prefill throughput of the evaluator: `lowbit perplexity`'s work (tokenize, forward pass over
/// chunks of `ctx` tokens, score) on a real model and text, in tokens per second per thread count.
enum EvalBenchmark {
    static func run(model path: String, text: String, chunks: Int, threads: [Int]) throws -> [BenchResult] {
        let words = try TextSource.read(path: text)
        var results: [BenchResult] = []
        for precision in MatrixPrecision.allCases {
        for t in threads {
            let loaded = try ModelLoader.load(path: path, options: .init(threads: t, precision: precision))
            let tokens = loaded.tokenizer.encode(words)
            let plan = try ChunkPlan(tokenCount: tokens.count, contextLength: 512, maxChunks: chunks,
                                     bos: loaded.tokenizer.addsBOS ? loaded.tokenizer.bosTokenId : nil)
            let run = PerplexityRun(model: loaded.model, plan: plan)
            // The first chunk warms the weight cache; time the rest.
            _ = try PerplexityRun(model: loaded.model, plan: try ChunkPlan(
                tokenCount: tokens.count, contextLength: 512, maxChunks: 1, bos: plan.bos)).run(tokens: tokens)
            var perplexity = 0.0
            let timing = try Measure.best(repetitions: 1) { perplexity = try run.run(tokens: tokens).perplexity }
            let processed = Double(plan.chunkCount * plan.contextLength)
            results.append(BenchResult(name: "eval prefill \(precision)", threads: t, work: processed, timing: timing,
                                       unit: "tok/s", peakRSS: Measure.peakRSS(),
                                       note: String(format: "%@, %d chunks of 512, PPL %.4f",
                                                    (path as NSString).lastPathComponent, plan.chunkCount, perplexity)))
        }
        }
        return results
    }
}
