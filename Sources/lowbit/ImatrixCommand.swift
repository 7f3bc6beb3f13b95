import ArgumentParser
import Foundation
import LowbitCalibrate
import LowbitEval
import LowbitFormats
import LowbitSystem

extension ImportanceMatrix.FileFormat: ExpressibleByArgument {}

/// `lowbit imatrix MODEL --text FILE`: an importance matrix, as llama.cpp's `llama-imatrix`
/// computes and writes it.
struct Imatrix: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute an importance matrix (llama.cpp's imatrix) of a model on a calibration text.",
        discussion: """
            MODEL is a GGUF file or a Hugging Face model directory. The text is chunked as \
            `lowbit perplexity` chunks it (llama.cpp's chunking: ctx tokens per chunk, BOS replacing \
            the first token). For every product by a decoder-layer weight (and by output.weight with \
            --process-output), the sum over the tokens of each input column's squared activation and \
            the token count are collected under GGUF tensor names, as llama-imatrix does; products \
            over fewer than 16 tokens are skipped. The running perplexity of the second half of each \
            chunk is printed as [chunk]PPL. The file is llama.cpp's GGUF imatrix (whatever its name) \
            or, with --output-format dat, the legacy layout; see formats/imatrix.md.
            """)

    @Argument(help: "The model: a .gguf file or a Hugging Face directory.")
    var model: String

    @OptionGroup var options: EvalTextOptions

    @Option(name: [.customShort("o"), .long], help: "The output file.")
    var output = "imatrix.gguf"

    @Option(help: "gguf (llama.cpp's current format, the default whatever the file's name) or dat (the legacy layout).")
    var outputFormat: ImportanceMatrix.FileFormat = .gguf

    @Flag(help: "Also collect the output head (output.weight; a head tied to the token embedding is never collected).")
    var processOutput = false

    @Flag(help: "Print a summary as JSON: output, format, entries, chunks, ctx, perplexity, seconds.")
    var json = false

    func run() throws {
        StaleTemporaries.removeStale(for: output) { Console.err("lowbit: note: \($0)\n") }
        let loaded = try ModelLoader.load(path: model, options: options.modelOptions)
        let (tokens, plan) = try options.tokenize(with: loaded)
        if !json {
            Console.err(options.summary(tokens: tokens.count, plan: plan))
        }
        let bar = ProgressBar(title: "imatrix", totalItems: plan.chunkCount, totalBytes: 0, unit: "chunks")
        let result = try ImatrixRun(model: loaded.model, plan: plan, processOutput: processOutput)
            .run(tokens: tokens, dataset: options.text) { chunk, ppl in
                // llama-imatrix's [chunk]PPL, entries on one line; one a line while the bar
                // (on the terminal's next line) is drawn.
                bar.finish()
                let entry = String(format: "[%d]%.4f,", chunk, ppl) + (bar.isEnabled ? "\n" : "")
                if json { Console.err(entry) } else { Console.out(entry) }
                bar.advance(bytes: 0)
            }
        bar.finish()
        try result.matrix.write(to: output, format: outputFormat)
        let ppl = result.perplexity
        if json {
            Console.err("\n")
            let object: JSONValue = .object([
                (key: "output", value: .string(output)),
                (key: "format", value: .string(outputFormat.rawValue)),
                (key: "entries", value: .integer(Int64(result.matrix.entries.count))),
                (key: "chunks", value: .integer(Int64(plan.chunkCount))),
                (key: "ctx", value: .integer(Int64(plan.contextLength))),
                (key: "tokens", value: .integer(Int64(plan.tokenCount))),
                (key: "perplexity", value: .number(ppl.perplexity)),
                (key: "stderr", value: ppl.standardError.isFinite ? .number(ppl.standardError) : .null),
                (key: "seconds", value: .number(ppl.seconds)),
                (key: "tokens_per_second", value: .number(ppl.tokensPerSecond)),
                (key: "precision", value: .string(options.precision.rawValue)),
                (key: "process_output", value: .bool(processOutput)),
            ] + EvalTextOptions.chunkMembers(plan))
            Console.out(object.serialized() + "\n")
        } else {
            Console.out("\n" + String(format: "Final estimate: PPL = %.4f +/- %.5f\n", ppl.perplexity, ppl.standardError))
            Console.err("\(result.matrix.entries.count) entries over \(plan.chunkCount) chunks of \(plan.contextLength) tokens "
                        + "written to \(output) (\(outputFormat.rawValue)) "
                        + String(format: "in %.2f s (%.1f tokens/s)\n", ppl.seconds, ppl.tokensPerSecond))
        }
    }
}
