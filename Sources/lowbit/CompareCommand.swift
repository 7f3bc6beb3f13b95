import ArgumentParser
import Foundation
import LowbitEval
import LowbitFormats
import LowbitSystem

/// `lowbit compare BASE QUANT --text FILE`: what quantization cost, measured the way llama.cpp's
/// `llama-perplexity --kl-divergence` measures it.
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare a quantized model with its base: perplexity of both, KL divergence, top-1 agreement.",
        discussion: """
            Both models run on identical tokens (the QUANT model's tokenizer; both must share the \
            vocabulary) with llama.cpp's chunking (see `lowbit perplexity --help`). KLD is \
            KL(base || quant) in nats per scored position; top-1 agreement and RMS dp are percentages. \
            --save-base writes the base model's log-probabilities at the scored positions \
            (zstd-compressed half floats) so that later runs can pass --base-logits instead of BASE \
            (give BASE as '-' then).
            """)

    @Argument(help: "The base model (GGUF file or Hugging Face directory), or '-' with --base-logits.")
    var base: String

    @Argument(help: "The quantized model (GGUF file or Hugging Face directory).")
    var quant: String

    @OptionGroup var options: EvalTextOptions

    @Flag(help: "Print the results as one JSON object.")
    var json = false

    @Option(help: "Save the base model's log-probabilities to this file for later runs.")
    var saveBase: String?

    @Option(help: "Read the base model's log-probabilities from this file instead of running BASE.")
    var baseLogits: String?

    @Flag(help: "Also print the error of every quantized tensor against the base tensor.")
    var tensors = false

    @Option(help: "Write the per-tensor errors as a self-contained HTML page (.html) or an SVG drawing (.svg).")
    var plot: String?

    func validate() throws {
        if baseLogits != nil && saveBase != nil {
            throw ValidationError("--save-base and --base-logits cannot be used together")
        }
        if base == "-" && baseLogits == nil {
            throw ValidationError("BASE '-' needs --base-logits")
        }
        if base == "-" && (tensors || plot != nil) {
            throw ValidationError("--tensors and --plot need the BASE model, not '-'")
        }
        if let plot, !(plot.hasSuffix(".html") || plot.hasSuffix(".htm") || plot.hasSuffix(".svg")) {
            throw ValidationError("--plot writes .html or .svg files, not '\(plot)'")
        }
    }

    func run() throws {
        // Temporary outputs that killed runs left for these outputs (interrupts leave none).
        for output in [saveBase, plot].compactMap({ $0 }) {
            StaleTemporaries.removeStale(for: output) { Console.err("lowbit: note: \($0)\n") }
        }
        let quantLoaded = try ModelLoader.load(path: quant, options: options.modelOptions)
        let baseLoaded = base == "-" ? nil : try ModelLoader.load(path: base, options: options.modelOptions)
        let (tokens, plan) = try options.tokenize(with: quantLoaded)
        if let baseLoaded {
            let baseTokens = baseLoaded.tokenizer.encode(try TextSource.read(path: options.text), addSpecial: true,
                                                         parseSpecial: false)
            guard baseTokens == tokens else {
                throw EvalError(.mismatch, file: base, "the two models tokenize the text differently; they cannot be compared")
            }
        }

        let source: BaseLogits
        if let baseLogits {
            source = .file(try LogitStore.Reader(path: baseLogits))
        } else {
            source = .model(baseLoaded!.model)
        }
        let writer = try saveBase.map {
            try LogitStore.Writer(path: $0, plan: plan, vocab: quantLoaded.model.vocabularySize, tokens: tokens)
        }
        if !json {
            Console.err(options.summary(tokens: tokens.count, plan: plan))
        }
        let result = try ComparisonRun(base: source, quant: quantLoaded.model, plan: plan)
            .run(tokens: tokens, saveBase: writer) { chunk, stats in
                Console.err(String(format: "[%d] PPL %.4f / %.4f, KLD %.5f\n", chunk, stats.base.perplexity,
                                   stats.quant.perplexity, stats.meanKLD))
            }
        let errors = (tensors || plot != nil) ? try TensorComparison.compare(base: baseLoaded!.model,
                                                                             quant: quantLoaded.model) : []
        let s = result.stats
        let ratio = s.quant.perplexity / s.base.perplexity
        let baseBytes = baseLoaded?.fileBytes
        if json {
            var members: [(key: String, value: JSONValue)] = [
                (key: "perplexity_base", value: num(s.base.perplexity)),
                (key: "perplexity_base_stderr", value: num(s.base.standardError)),
                (key: "perplexity_quant", value: num(s.quant.perplexity)),
                (key: "perplexity_quant_stderr", value: num(s.quant.standardError)),
                (key: "perplexity_ratio", value: num(ratio)),
                (key: "kld_mean", value: num(s.meanKLD)),
                (key: "kld_stderr", value: num(s.kldStandardError)),
                (key: "kld_median", value: num(s.kldQuantile(0.5))),
                (key: "kld_p99", value: num(s.kldQuantile(0.99))),
                (key: "kld_p999", value: num(s.kldQuantile(0.999))),
                (key: "kld_max", value: num(s.kldQuantile(1))),
                (key: "top1_agreement", value: num(s.topAgreementPercent)),
                (key: "top1_agreement_stderr", value: num(s.topAgreementStandardError)),
                (key: "rms_dp", value: num(s.rmsDeltaPPercent)),
                (key: "tokens", value: .integer(Int64(plan.tokenCount))),
                (key: "scored", value: .integer(Int64(s.count))),
                (key: "chunks", value: .integer(Int64(plan.chunkCount))),
                (key: "ctx", value: .integer(Int64(plan.contextLength))),
            ] + EvalTextOptions.chunkMembers(plan) + [
                (key: "seconds", value: num(result.seconds)),
                (key: "precision", value: .string(options.precision.rawValue)),
                (key: "quant_bytes", value: .integer(Int64(quantLoaded.fileBytes))),
            ]
            if let baseBytes { members.append((key: "base_bytes", value: .integer(Int64(baseBytes)))) }
            if tensors {
                members.append((key: "tensors", value: .array(errors.map { e in
                    .object([(key: "name", value: .string(e.name)), (key: "base_type", value: .string(e.baseType)),
                             (key: "quant_type", value: .string(e.quantType)),
                             (key: "mse", value: num(e.metrics.mse)), (key: "snr_db", value: num(e.metrics.snrDB)),
                             (key: "cosine", value: num(e.metrics.cosine)),
                             (key: "max_abs_error", value: num(e.metrics.maxAbsError))])
                })))
            }
            Console.out(JSONValue.object(members).serialized() + "\n")
        } else {
            var lines = summary(s, plan: plan, ratio: ratio, quantBytes: quantLoaded.fileBytes, baseBytes: baseBytes)
                .map { "\($0.0.padding(toLength: 22, withPad: " ", startingAt: 0)) \($0.1)" }
            if tensors {
                lines.append("")
                lines.append("tensor".padding(toLength: 34, withPad: " ", startingAt: 0) + "  base   quant       MSE   SNR dB     cosine")
                for e in errors {
                    lines.append(e.name.padding(toLength: 34, withPad: " ", startingAt: 0) + "  "
                                 + e.baseType.padding(toLength: 5, withPad: " ", startingAt: 0) + "  "
                                 + e.quantType.padding(toLength: 6, withPad: " ", startingAt: 0)
                                 + String(format: " %9.3g %8.2f %10.6f", e.metrics.mse, e.metrics.snrDB, e.metrics.cosine))
                }
            }
            Console.out(lines.joined(separator: "\n") + "\n")
        }
        // bf16 products add a divergence of their own (about 1e-4 on SmolLM2): say so when the
        // measured one is not far above it.
        if options.precision == .bfloat16, s.meanKLD > 0, s.meanKLD < 1e-3 {
            Console.err(String(format: "note: a mean KLD of %.2g is within 10x of the noise of bf16 products; "
                               + "rerun with --precision f32 for an exact figure\n", s.meanKLD))
        }
        if let plot {
            let title = "lowbit compare: \((quant as NSString).lastPathComponent) vs \((base as NSString).lastPathComponent)"
            let text = plot.hasSuffix(".svg")
                ? ReportPlot.svg(errors: errors, title: title)
                : ReportPlot.html(errors: errors, title: title,
                                  summary: summary(s, plan: plan, ratio: ratio, quantBytes: quantLoaded.fileBytes, baseBytes: baseBytes))
            let file = try AtomicFile(path: plot)
            try file.write(Array(text.utf8))
            try file.commit()
        }
    }

    private func num(_ v: Double) -> JSONValue { v.isFinite ? .number(v) : .null }

    private func summary(_ s: DivergenceStats, plan: ChunkPlan, ratio: Double, quantBytes: Int, baseBytes: Int?) -> [(String, String)] {
        var rows: [(String, String)] = [
            ("PPL base", String(format: "%.4f +/- %.5f", s.base.perplexity, s.base.standardError)),
            ("PPL quant", String(format: "%.4f +/- %.5f", s.quant.perplexity, s.quant.standardError)),
            ("PPL ratio", String(format: "%.4f (%+.2f%%)", ratio, (ratio - 1) * 100)),
            ("Mean KLD", String(format: "%.6f +/- %.6f", s.meanKLD, s.kldStandardError)),
            ("KLD median", String(format: "%.6f", s.kldQuantile(0.5))),
            ("KLD 99%", String(format: "%.6f", s.kldQuantile(0.99))),
            ("KLD 99.9%", String(format: "%.6f", s.kldQuantile(0.999))),
            ("KLD max", String(format: "%.6f", s.kldQuantile(1))),
            ("Same top token", String(format: "%.3f +/- %.3f %%", s.topAgreementPercent, s.topAgreementStandardError)),
            ("RMS dp", String(format: "%.3f %%", s.rmsDeltaPPercent)),
            ("Scored positions", "\(s.count)"),
            ("Chunks", "\(plan.chunkCount) of \(plan.contextLength) tokens\(EvalTextOptions.chunkRange(plan))"),
        ]
        if let baseBytes, baseBytes > 0 {
            rows.append(("Size", String(format: "%.1f MB -> %.1f MB (%.1f%% saved)", Double(baseBytes) / 1e6,
                                        Double(quantBytes) / 1e6, 100 * (1 - Double(quantBytes) / Double(baseBytes)))))
        }
        return rows
    }
}
