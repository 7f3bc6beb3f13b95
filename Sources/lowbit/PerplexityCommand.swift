import ArgumentParser
import Foundation
import LowbitEval
import LowbitFormats

/// Options shared by `lowbit perplexity` and `lowbit compare`: the text and how it is chunked.
struct EvalTextOptions: ParsableArguments {
    @Option(help: "The text to evaluate on: UTF-8, or zstd-compressed when it ends in .zst.")
    var text: String

    @Option(help: "Tokens per chunk (the context length).")
    var ctx: Int = 512

    @Option(help: "Evaluate at most this many chunks (default: as many as the text holds).")
    var chunks: Int?

    @Option(help: ArgumentHelp(
        "Leave out the text's first N chunks.",
        discussion: "Evaluate on a part of the text disjoint from the part a model was calibrated on "
            + "(`lowbit imatrix --chunks N` uses chunks 1...N). The report names the chunks used."))
    var skipChunks: Int = 0

    @Option(help: "Threads: by default one per core of this machine.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "MB of packed weights to keep between chunks per model (0: decode each layer for every chunk).")
    var cacheMb: Int = 2048

    @Option(help: ArgumentHelp(
        "Arithmetic of the weight matrix products; the default is bf16 where the CPU has AVX-512 BF16, else f32.",
        discussion: "bf16 rounds weights and activations to bfloat16 and sums in float, as llama.cpp does for "
            + "BF16 models; it is about twice as fast, and its noise (a KL divergence near 1e-4 on SmolLM2) is far "
            + "below a 4-bit quantization's. f32 is exact: use it to measure quantizations closer to the original "
            + "than that (Q8_0, FP8)."))
    var precision: MatrixPrecision = .fastest

    func validate() throws {
        guard ctx >= 4 else { throw ValidationError("--ctx must be at least 4") }
        if let chunks, chunks < 1 { throw ValidationError("--chunks must be at least 1") }
        guard skipChunks >= 0 else { throw ValidationError("--skip-chunks must not be negative") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard cacheMb >= 0 else { throw ValidationError("--cache-mb must not be negative") }
    }

    var modelOptions: LlamaModel.Options {
        LlamaModel.Options(threads: threads, weightCacheBytes: cacheMb << 20, precision: precision)
    }

    /// The line printed before a run: the tokens, the chunks, and the products' precision.
    func summary(tokens: Int, plan: ChunkPlan) -> String {
        "\(tokens) tokens, \(plan.chunkCount) chunks of \(plan.contextLength)\(Self.chunkRange(plan)), "
            + "\(plan.scoredPerChunk) predictions scored per chunk, \(precision) weight products\n"
    }

    /// ` (chunks 11-20 of the text)` when chunks were skipped, else nothing.
    static func chunkRange(_ plan: ChunkPlan) -> String {
        plan.skippedChunks == 0 ? ""
            : " (chunks \(plan.evaluatedChunks.lowerBound + 1)-\(plan.evaluatedChunks.upperBound) of the text)"
    }

    /// The JSON members that say which chunks were used: `first_chunk` and `last_chunk`,
    /// numbered from 1 at the start of the text, and `skipped_chunks`.
    static func chunkMembers(_ plan: ChunkPlan) -> [(key: String, value: JSONValue)] {
        [(key: "skipped_chunks", value: .integer(Int64(plan.skippedChunks))),
         (key: "first_chunk", value: .integer(Int64(plan.evaluatedChunks.lowerBound + 1))),
         (key: "last_chunk", value: .integer(Int64(plan.evaluatedChunks.upperBound)))]
    }

    /// Tokenizes the text with `tokenizer` (as llama.cpp does: special tokens added where the
    /// tokenizer adds them, control tokens in the text not parsed) and plans the chunks.
    func tokenize(with loaded: LoadedModel) throws -> (tokens: [Int32], plan: ChunkPlan) {
        let content = try TextSource.read(path: text)
        let tokens = loaded.tokenizer.encode(content, addSpecial: true, parseSpecial: false)
        let bos = loaded.tokenizer.addsBOS ? loaded.tokenizer.bosTokenId : nil
        let plan = try ChunkPlan(tokenCount: tokens.count, contextLength: ctx, maxChunks: chunks, skipChunks: skipChunks,
                                 bos: bos, file: text)
        if let note = loaded.model.config.slidingWindowNote(contextLength: plan.contextLength) { Console.err(note) }
        return (tokens, plan)
    }
}

extension MatrixPrecision: ExpressibleByArgument {}

/// Writes text to standard output or standard error without buffering surprises.
enum Console {
    static func out(_ s: String) {
        FileHandle.standardOutput.write(Data(s.utf8))
    }

    static func err(_ s: String) {
        FileHandle.standardError.write(Data(s.utf8))
    }
}

/// `lowbit perplexity MODEL --text FILE`: perplexity with exactly llama.cpp's method.
struct Perplexity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model's perplexity on a text, the way llama.cpp's llama-perplexity does.",
        discussion: """
            MODEL is a GGUF file or a Hugging Face model directory (config.json, safetensors, \
            tokenizer.json). The text is tokenized once and cut into floor(tokens / ctx) chunks \
            (at least 2 x ctx tokens are needed); where the tokenizer adds BOS it replaces the first \
            token of each chunk. The second half of each chunk is scored (ctx/2 - 1 predictions). \
            The running perplexity is printed after each chunk as [chunk]PPL, then the final \
            estimate with its standard error.
            """)

    @Argument(help: "The model: a .gguf file or a Hugging Face directory.")
    var model: String

    @OptionGroup var options: EvalTextOptions

    @Flag(help: "Print {\"perplexity\", \"stderr\", \"tokens\", \"scored\", \"chunks\", \"ctx\", \"seconds\", \"tokens_per_second\", \"precision\"} as JSON.")
    var json = false

    func run() throws {
        let loaded = try ModelLoader.load(path: model, options: options.modelOptions)
        let (tokens, plan) = try options.tokenize(with: loaded)
        if !json {
            Console.err(options.summary(tokens: tokens.count, plan: plan))
        }
        let result = try PerplexityRun(model: loaded.model, plan: plan).run(tokens: tokens) { chunk, ppl in
            let entry = String(format: "[%d]%.4f,", chunk, ppl)
            if json { Console.err(entry) } else { Console.out(entry) }
        }
        if json {
            Console.err("\n")
            let object: JSONValue = .object([
                (key: "perplexity", value: .number(result.perplexity)),
                (key: "stderr", value: result.standardError.isFinite ? .number(result.standardError) : .null),
                (key: "tokens", value: .integer(Int64(result.tokens))),
                (key: "scored", value: .integer(Int64(result.scored))),
                (key: "chunks", value: .integer(Int64(result.chunks))),
                (key: "ctx", value: .integer(Int64(result.contextLength))),
                (key: "seconds", value: .number(result.seconds)),
                (key: "tokens_per_second", value: .number(result.tokensPerSecond)),
                (key: "precision", value: .string(options.precision.rawValue)),
            ] + EvalTextOptions.chunkMembers(plan))
            Console.out(object.serialized() + "\n")
        } else {
            Console.out("\n" + String(format: "Final estimate: PPL = %.4f +/- %.5f\n", result.perplexity, result.standardError))
            Console.err(String(format: "%d predictions scored in %.2f s (%.1f tokens/s)\n",
                               result.scored, result.seconds, result.tokensPerSecond))
        }
    }
}
