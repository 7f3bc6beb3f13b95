import LowbitEval
import LowbitFormats

/// The outcome of an importance-matrix run: the matrix and the perplexity measured on the way.
public struct ImatrixResult: Sendable {
    /// The collected matrix.
    public var matrix: ImportanceMatrix
    /// The running perplexity's final value, scored as `llama-imatrix` scores it (the second half
    /// of each chunk).
    public var perplexity: PerplexityResult
}

/// Runs a model over the chunks of a text as `llama-imatrix` does and collects the importance
/// matrix (``ImatrixCollector``).
///
/// The chunking is the evaluator's (``ChunkPlan``), which is llama.cpp's: `ctx` tokens per
/// chunk, BOS replacing each chunk's first token, each chunk run on its own (a fresh context).
/// Every position of a chunk goes through every layer, as llama-imatrix requests every logit;
/// the output head runs on every position too when `output.weight` is collected, and otherwise
/// only on the scored half (its products are then not collected).
public struct ImatrixRun {
    /// The model run over the text (its observer is set while a chunk runs).
    public let model: LlamaModel
    /// Which chunks of the text are run.
    public let plan: ChunkPlan
    /// Whether `output.weight`'s inputs are collected too (llama-imatrix's `--process-output`).
    public let processOutput: Bool

    /// A run of `model` over `plan`'s chunks, collecting `output.weight` with `processOutput`.
    public init(model: LlamaModel, plan: ChunkPlan, processOutput: Bool = false) {
        self.model = model
        self.plan = plan
        self.processOutput = processOutput
    }

    /// Collects over every chunk of `tokens` and returns the matrix, named after `dataset`;
    /// `progress` gets each chunk's number (from 1) and the running perplexity.
    public func run(tokens: [Int32], dataset: String,
                    progress: (Int, Double) -> Void = { _, _ in }) throws -> ImatrixResult {
        let collector = ImatrixCollector(tensorNames: model.config.tensorNames, processOutput: processOutput)
        let previous = model.linearInputObserver
        collector.attach(to: model)
        defer { model.linearInputObserver = previous }
        let result = try PerplexityRun(model: model, plan: plan, outputsEveryPosition: processOutput)
            .run(tokens: tokens, progress: progress)
        let matrix = collector.importanceMatrix(datasets: [dataset], chunkCount: plan.chunkCount,
                                                chunkSize: plan.contextLength)
        return ImatrixResult(matrix: matrix, perplexity: result)
    }
}
