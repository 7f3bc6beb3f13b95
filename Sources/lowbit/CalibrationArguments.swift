import ArgumentParser
import Foundation
import LowbitCalibrate
import LowbitEval
import LowbitFormats

/// How `convert` chooses each weight's quantized values.
enum CalibrationMethod: String, CaseIterable, ExpressibleByArgument {
    /// Round to nearest, weighted by an importance matrix where one is given (`--imatrix`) or
    /// computed (`--calibration`).
    case rtn
    /// GPTQ on calibration activations, layer by layer (INT4/INT8 layouts).
    case gptq
    /// AWQ's activation-aware scales, folded into the model before rounding.
    case awq
}

/// `convert`'s calibration options: the method and the text it calibrates on.
struct CalibrationArguments: ParsableArguments {
    @Option(help: ArgumentHelp(
        "rtn (round to nearest; weighted by --imatrix or --calibration where the type takes importance), gptq or awq (need --calibration).",
        valueName: "method"))
    var method: CalibrationMethod = .rtn

    @Option(help: ArgumentHelp(
        "Calibration text (UTF-8, or zstd-compressed when it ends in .zst), chunked as `lowbit perplexity` chunks. With rtn it computes the importance matrix in the same run (GGUF types, int4/int8, fp8). Never evaluate on the same text.",
        valueName: "file"))
    var calibration: String?

    @Option(help: "Calibration chunks to use (default: 128 for gptq and awq, the whole text for an importance matrix; fewer if the text is shorter).")
    var calibrationChunks: Int?

    @Option(help: "Tokens per calibration chunk.")
    var calibrationCtx: Int = 512

    func validate() throws {
        guard calibrationCtx >= 4 else { throw ValidationError("--calibration-ctx must be at least 4") }
        if let calibrationChunks, calibrationChunks < 1 { throw ValidationError("--calibration-chunks must be at least 1") }
        if method != .rtn && calibration == nil {
            throw ValidationError("--method \(method.rawValue) needs --calibration TEXT")
        }
    }

    /// The chunk count a method uses when `--calibration-chunks` is not given.
    var chunkLimit: Int? {
        calibrationChunks ?? (method == .rtn ? nil : 128)
    }

    /// Loads the model at `path` for calibration, tokenizes the calibration text with its
    /// tokenizer and plans the chunks (llama.cpp's chunking, as the evaluator's).
    func load(model path: String, threads: Int = ProcessInfo.processInfo.activeProcessorCount)
        throws -> (loaded: LoadedModel, tokens: [Int32], plan: ChunkPlan) {
        guard let text = calibration else { throw ValidationError("no --calibration text") }
        let loaded = try ModelLoader.load(path: path, options: LlamaModel.Options(threads: threads))
        let content = try TextSource.read(path: text)
        let tokens = loaded.tokenizer.encode(content, addSpecial: true, parseSpecial: false)
        let bos = loaded.tokenizer.addsBOS ? loaded.tokenizer.bosTokenId : nil
        let plan = try ChunkPlan(tokenCount: tokens.count, contextLength: calibrationCtx,
                                 maxChunks: chunkLimit,
                                 bos: bos, file: text)
        return (loaded, tokens, plan)
    }

    /// The importance matrix of the model at `path` on the calibration text (`llama-imatrix`'s
    /// collection), with a progress bar; named after the text.
    func importanceMatrix(model path: String, quiet: Bool) throws -> ImportanceMatrix {
        let (loaded, tokens, plan) = try load(model: path)
        if !quiet {
            Console.err("calibration: \(tokens.count) tokens of \(calibration!), \(plan.chunkCount) chunks of \(plan.contextLength)\n")
        }
        let bar = ProgressBar(title: "imatrix", totalItems: plan.chunkCount, totalBytes: 0, unit: "chunks")
        let result = try ImatrixRun(model: loaded.model, plan: plan)
            .run(tokens: tokens, dataset: calibration!) { _, _ in bar.advance(bytes: 0) }
        bar.finish()
        return result.matrix
    }
}
