import Foundation
import LowbitSystem

/// How llama.cpp's `llama-perplexity` cuts a tokenized text into chunks and which predictions
/// it scores; Lowbit follows it exactly so that the numbers can be compared.
///
/// The whole text is tokenized once. It is cut into `floor(tokens / ctx)` chunks of `ctx`
/// tokens (at least two chunks' worth of tokens are required), optionally capped. Where the
/// tokenizer adds BOS, the first token of each chunk is replaced by BOS (not inserted). In each
/// chunk the logits of positions `ctx/2 ..< ctx-1` are scored against the next token, so the
/// tokens at positions `ctx/2+1 ... ctx-1` are predicted (255 per chunk at ctx 512).
public struct ChunkPlan: Sendable, Equatable {
    /// Tokens in the whole text.
    public let tokenCount: Int
    /// Tokens per chunk (`ctx`).
    public let contextLength: Int
    /// Chunks run: `floor(tokens / ctx)`, capped by `maxChunks`.
    public let chunkCount: Int
    /// The BOS token that replaces the first token of each chunk, if the tokenizer adds one.
    public let bos: Int32?

    /// The plan for a text of `tokenCount` tokens; throws (naming `file`) when the context is
    /// shorter than 4 or the text shorter than two contexts.
    public init(tokenCount: Int, contextLength: Int, maxChunks: Int? = nil, bos: Int32? = nil, file: String = "") throws {
        guard contextLength >= 4 else {
            throw EvalError(.badConfig, file: file, "the context length must be at least 4, not \(contextLength)")
        }
        guard tokenCount >= 2 * contextLength else {
            throw EvalError(.notEnoughTokens, file: file,
                            "the text has \(tokenCount) tokens; a context of \(contextLength) needs at least \(2 * contextLength)")
        }
        self.tokenCount = tokenCount
        self.contextLength = contextLength
        let available = tokenCount / contextLength
        if let maxChunks, maxChunks > 0 {
            chunkCount = min(available, maxChunks)
        } else {
            chunkCount = available
        }
        self.bos = bos
    }

    /// The first logit row scored in a chunk (`ctx/2`).
    public var firstScored: Int { contextLength / 2 }
    /// The logit rows scored in each chunk.
    public var scoredRows: Range<Int> { firstScored..<(contextLength - 1) }
    /// Predictions scored per chunk.
    public var scoredPerChunk: Int { scoredRows.count }
    /// Predictions scored in all.
    public var scoredTotal: Int { scoredPerChunk * chunkCount }

    /// The tokens fed to the model for chunk `index` (with the BOS replacement).
    public func tokens(ofChunk index: Int, from all: [Int32]) -> [Int32] {
        let start = index * contextLength
        var chunk = Array(all[start..<(start + contextLength)])
        if let bos { chunk[0] = bos }
        return chunk
    }

    /// The tokens predicted by the scored rows of chunk `index` (the original text's tokens).
    public func targets(ofChunk index: Int, from all: [Int32]) -> [Int32] {
        let start = index * contextLength
        return Array(all[(start + firstScored + 1)..<(start + contextLength)])
    }
}

/// Running sums of negative log-likelihoods: perplexity and llama.cpp's standard error.
public struct NLLAccumulator: Sendable, Equatable {
    /// Values added.
    public private(set) var count = 0
    /// Their sum.
    public private(set) var sum: Double = 0
    /// The sum of their squares.
    public private(set) var sumOfSquares: Double = 0

    /// An empty accumulator.
    public init() {}

    /// Adds one negative log-likelihood.
    public mutating func add(_ nll: Double) {
        count += 1
        sum += nll
        sumOfSquares += nll * nll
    }

    /// Adds every value of `values`.
    public mutating func add<S: Sequence>(contentsOf values: S) where S.Element == Double {
        for v in values { add(v) }
    }

    /// exp(mean NLL).
    public var perplexity: Double { count == 0 ? .nan : exp(sum / Double(count)) }

    /// The standard error of the perplexity as llama.cpp reports it: the standard error of the
    /// mean NLL, `sqrt((E[nll²] - E[nll]²) / (n - 1))`, times the perplexity.
    public var standardError: Double {
        guard count > 1 else { return .nan }
        let mean = sum / Double(count)
        let variance = sumOfSquares / Double(count) - mean * mean
        return variance > 0 ? (variance / Double(count - 1)).squareRoot() * perplexity : .nan
    }
}

/// Log-probabilities of whole vocabulary rows.
package enum LogProbabilities {
    /// Turns `rows` rows of `vocab` logits into log-softmax, in place, in parallel.
    package static func logSoftmax(_ logits: inout [Float], rows: Int, vocab: Int, threads: Int) {
        precondition(logits.count == rows * vocab, "logit count does not match rows × vocab")
        logits.withUnsafeMutableBufferPointer { buffer in
            let base = UnsafeTransfer(buffer.baseAddress!)
            Parallel.forRanges(rows, threads: threads) { range in
                for r in range {
                    let row = base.wrappedValue + r * vocab
                    let lse = Float(Softmax.logSumExp(row, count: vocab).logSum)
                    for j in 0..<vocab { row[j] -= lse }
                }
            }
        }
    }

    /// The negative log-likelihood of `targets[r]` under each logit row `r` (computed in Double).
    package static func nll(logits: [Float], vocab: Int, targets: [Int32], threads: Int) -> [Double] {
        let rows = targets.count
        precondition(logits.count == rows * vocab, "logit count does not match rows × vocab")
        var out = [Double](repeating: 0, count: rows)
        logits.withUnsafeBufferPointer { l in
            out.withUnsafeMutableBufferPointer { o in
                let lp = UnsafeTransfer(UnsafeMutablePointer(mutating: l.baseAddress!))
                let op = UnsafeTransfer(o.baseAddress!)
                Parallel.forRanges(rows, threads: threads) { range in
                    for r in range {
                        let row = lp.wrappedValue + r * vocab
                        let lse = Softmax.logSumExp(row, count: vocab).logSum
                        op.wrappedValue[r] = lse - Double(row[Int(targets[r])])
                    }
                }
            }
        }
        return out
    }
}

/// The outcome of a perplexity run.
public struct PerplexityResult: Sendable {
    /// exp(mean NLL) over the scored predictions.
    public var perplexity: Double
    /// The standard error of ``perplexity``, as llama.cpp reports it.
    public var standardError: Double
    /// Tokens in the text.
    public var tokens: Int
    /// Predictions scored.
    public var scored: Int
    /// Chunks run.
    public var chunks: Int
    /// Tokens per chunk.
    public var contextLength: Int
    /// Wall-clock time of the run.
    public var seconds: Double
    /// Tokens run through the model per second (chunks × ctx / seconds).
    public var tokensPerSecond: Double
}

/// Runs a model over the chunks of a text and measures its perplexity.
public struct PerplexityRun {
    /// The model evaluated.
    public let model: LlamaModel
    /// The chunks it is run over.
    public let plan: ChunkPlan

    /// A run of `model` over the chunks of `plan`.
    public init(model: LlamaModel, plan: ChunkPlan) {
        self.model = model
        self.plan = plan
    }

    /// Scores every chunk of `tokens`; `progress` is called after each chunk with its number
    /// (from 1) and the running perplexity.
    public func run(tokens: [Int32], progress: (Int, Double) -> Void = { _, _ in }) throws -> PerplexityResult {
        precondition(tokens.count == plan.tokenCount, "the plan was made for another token count")
        var acc = NLLAccumulator()
        let start = Date()
        for chunk in 0..<plan.chunkCount {
            let logits = try model.logits(tokens: plan.tokens(ofChunk: chunk, from: tokens),
                                          outputPositions: plan.scoredRows)
            acc.add(contentsOf: LogProbabilities.nll(logits: logits, vocab: model.vocabularySize,
                                                     targets: plan.targets(ofChunk: chunk, from: tokens),
                                                     threads: model.options.threads))
            progress(chunk + 1, acc.perplexity)
        }
        let seconds = Date().timeIntervalSince(start)
        return PerplexityResult(perplexity: acc.perplexity, standardError: acc.standardError,
                                tokens: plan.tokenCount, scored: acc.count, chunks: plan.chunkCount,
                                contextLength: plan.contextLength, seconds: seconds,
                                tokensPerSecond: Double(plan.chunkCount * plan.contextLength) / max(seconds, 1e-9))
    }
}
