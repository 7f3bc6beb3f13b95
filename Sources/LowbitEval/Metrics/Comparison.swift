import Foundation

/// Where the base model's predictions come from in a comparison.
public enum BaseLogits {
    /// Run the base model alongside the quantized one.
    case model(LlamaModel)
    /// Read them from a file saved by an earlier run (``LogitStore``).
    case file(LogitStore.Reader)
}

/// The outcome of a comparison.
public struct ComparisonResult: Sendable {
    /// The divergence statistics over every scored position.
    public var stats: DivergenceStats
    /// The chunks the text was cut into.
    public var plan: ChunkPlan
    /// Wall-clock time of the run.
    public var seconds: Double
}

/// Runs a base and a quantized model over identical chunks of one tokenized text and collects
/// llama.cpp's KL-divergence statistics (``DivergenceStats``).
public struct ComparisonRun {
    /// Where the base model's predictions come from.
    public let base: BaseLogits
    /// The quantized model.
    public let quant: LlamaModel
    /// The chunks both models are run over.
    public let plan: ChunkPlan

    /// A comparison of `quant` against `base` over the chunks of `plan`.
    public init(base: BaseLogits, quant: LlamaModel, plan: ChunkPlan) {
        self.base = base
        self.quant = quant
        self.plan = plan
    }

    /// Scores every chunk; with `saveBase` the base log-probabilities are also written to it
    /// (only when they come from a model). `progress` gets the chunk number and the running stats.
    public func run(tokens: [Int32], saveBase: LogitStore.Writer? = nil,
                    progress: (Int, DivergenceStats) -> Void = { _, _ in }) throws -> ComparisonResult {
        let vocab = quant.vocabularySize
        let threads = quant.options.threads
        switch base {
        case .model(let m):
            guard m.vocabularySize == vocab else {
                throw EvalError(.mismatch, file: quant.source.path,
                                "the models have different vocabularies (\(m.vocabularySize) and \(vocab) logits)")
            }
        case .file(let reader):
            try reader.check(plan: plan, tokens: tokens, vocab: vocab)
        }
        var stats = DivergenceStats()
        let start = Date()
        for chunk in 0..<plan.chunkCount {
            let input = plan.tokens(ofChunk: chunk, from: tokens)
            var baseLogProbs: [Float]
            switch base {
            case .model(let m):
                baseLogProbs = try m.logits(tokens: input, outputPositions: plan.scoredRows)
                LogProbabilities.logSoftmax(&baseLogProbs, rows: plan.scoredPerChunk, vocab: vocab, threads: threads)
                try saveBase?.append(logProbs: baseLogProbs)
            case .file(let reader):
                baseLogProbs = try reader.next()
            }
            let quantLogits = try quant.logits(tokens: input, outputPositions: plan.scoredRows)
            stats.add(baseLogProbs: baseLogProbs, quantLogits: quantLogits, vocab: vocab,
                      targets: plan.targets(ofChunk: chunk, from: tokens), threads: threads)
            progress(chunk + 1, stats)
        }
        try saveBase?.finish()
        return ComparisonResult(stats: stats, plan: plan, seconds: Date().timeIntervalSince(start))
    }
}
