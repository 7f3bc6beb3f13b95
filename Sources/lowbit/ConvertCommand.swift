import ArgumentParser
import Foundation
import LowbitConvert
import LowbitFormats
import LowbitQuant
import LowbitSystem

/// `lowbit convert`: one model file or checkpoint in, a smaller one out.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a checkpoint to GGUF block types, FP8, INT8 or INT4.",
        discussion: """
            INPUT is a Hugging Face directory (config.json, tokenizer.json, safetensors shards), a \
            safetensors file or a GGUF file. The output format follows OUTPUT: a path ending in \
            .gguf is a GGUF file, .safetensors one safetensors file, anything else a Hugging Face \
            directory.

            GGUF types: \(TargetType.allCases.compactMap { if case .gguf(let t) = $0 { t.name } else { nil } }.joined(separator: " ")) \
            (the last three are llama.cpp's mixes). Safetensors types (compressed-tensors, as vLLM \
            loads): \(SafetensorsType.all.map(\.description).joined(separator: ", ")); \
            \(FloatDType.allCases.map(\.rawValue).joined(separator: " ")) for plain floats. --layout mlx writes \
            MLX's affine layout instead.

            Tensors whose rows do not fit a block type fall back as llama.cpp does (Q4_K -> Q5_0, \
            Q5_K -> Q5_1, Q6_K -> Q8_0, ...), and every substitution is reported. NaN or Inf weights \
            stop the conversion. The output appears only when complete (temporary name, fsync, rename); \
            an interrupt (Ctrl-C, SIGTERM, SIGHUP) removes the temporary output and exits 130/143/129, \
            and a temporary output that a killed run left is removed at the next run to the same \
            output. Before writing, the plan's size is checked against the free space (--force to \
            try anyway). A directory output killed outright (SIGKILL, power loss) is continued with \
            --resume: the same command again, plus --resume, reuses the finished shards.

            Examples:
              lowbit convert model-dir -o model-q4_k_m.gguf --type q4_k_m
              lowbit convert model-dir -o out.gguf --type q4_k_m --imatrix imatrix.gguf
              lowbit convert model-dir -o out.gguf --type q4_k_m --calibration calib.txt
              lowbit convert model-dir -o model-int4-awq --type int4 --method awq --calibration calib.txt
              lowbit convert model.gguf -o model-int4 --type int4 --group-size 128
              lowbit convert model-dir -o model-int4-gptq --type int4 --method gptq --calibration calib.txt
              lowbit convert model-dir -o model-fp8 --type fp8 --fp8-granularity block
            """)

    @Argument(help: "The model to convert: a Hugging Face directory, a safetensors file or a GGUF file.")
    var input: String

    @Option(name: .shortAndLong, help: "Output path (.gguf, .safetensors, or a directory).")
    var output: String

    @Option(name: .long, help: "Target type: \(TargetType.allCases.map(\.name).joined(separator: ", ")).")
    var type: TargetType

    @Option(name: .long, help: "INT group size: \(TargetRequest.groupSizes.map(String.init).joined(separator: ", ")) (default 128; 64 for --layout mlx).")
    var groupSize: Int?

    @Flag(name: .long, help: "Asymmetric INT quantization (zero points).")
    var asym = false

    @Option(name: .long, help: "FP8 scale granularity (block is 128x128).")
    var fp8Granularity: FP8ScaleGranularity = .row

    @Option(name: .long, help: "FP8 element format.")
    var fp8Format: FP8Variant = .e4m3

    @Option(name: .long, help: "Safetensors layout for INT types.")
    var layout: ConversionTarget.IntLayout = .compressedTensors

    @Flag(name: .long, help: "Search each group's scale for the least squared error instead of plain absmax.")
    var searchScales = false

    @Option(name: .long, help: "Leave tensors whose name matches REGEX in source precision (repeatable).")
    var keep: [String] = []

    @Option(name: .long, help: "Use TYPE for GGUF tensors matching REGEX (REGEX=TYPE, repeatable).")
    var tensorType: [String] = []

    @Option(name: .long, help: "GGUF type for output.weight.")
    var outputTensorType: String?

    @Option(name: .long, help: "GGUF type for token_embd.weight.")
    var tokenEmbeddingType: String?

    @Option(name: .long, help: "Float dtype of unquantized tensors in safetensors output.")
    var dtype: FloatDType?

    @Option(name: .long, help: "Largest shard of a directory output, e.g. 5GB, 500MB.")
    var maxShardSize: String = "5GB"

    @Option(name: .long, help: ArgumentHelp(
        "Importance matrix (llama-imatrix's GGUF or legacy .dat file) that weights the quantizers: GGUF types as llama-quantize --imatrix does; int4/int8 and fp8 weight their scale search with it.",
        valueName: "file"))
    var imatrix: String?

    @OptionGroup var calibration: CalibrationArguments

    @OptionGroup(title: "GPTQ options (--method gptq)") var gptq: GPTQArguments

    @OptionGroup(title: "AWQ options (--method awq)") var awq: AWQArguments

    @OptionGroup(title: "Budget options (GGUF)") var budget: BudgetArguments

    @Flag(name: .long, help: "Print the plan (each tensor, its type and size) without writing.")
    var dryRun = false

    @Flag(name: .long, help: "Print the summary (or the plan) as JSON on standard output.")
    var json = false

    @Flag(name: .long, help: "Measure each quantized tensor's error (MSE, SNR, max error, cosine) and report it; costs a dequantization pass.")
    var errorMetrics = false

    @Flag(name: .long, help: "Continue a directory output that a killed run of the same command left unfinished, reusing its finished shards.")
    var resume = false

    @Flag(name: .long, help: "With --resume, re-hash the finished shards in full instead of checking their size and last MiB.")
    var verify = false

    @Flag(name: .long, help: "Write even if the output looks larger than the free space on its filesystem.")
    var force = false

    /// What `--type` and its companions ask for.
    var request: TargetRequest {
        var request = TargetRequest(type: type)
        request.groupSize = groupSize
        request.asymmetric = asym
        request.fp8Format = fp8Format
        request.fp8Granularity = fp8Granularity
        request.layout = layout
        request.searchScales = searchScales
        request.hasImportance = imatrix != nil || (calibration.calibration != nil && calibration.method == .rtn)
        return request
    }

    func validate() throws {
        do { try request.validate() } catch { throw ValidationError(ErrorReporter.describe(error)) }
        for name in [outputTensorType, tokenEmbeddingType].compactMap({ $0 }) { _ = try Self.ggmlType(name) }
        _ = try Self.parseSize(maxShardSize)
        if calibration.method == .awq && imatrix != nil {
            throw ValidationError("--imatrix cannot weight an AWQ conversion: its activations are those of the model before AWQ's scales")
        }
        if imatrix != nil || (calibration.calibration != nil && calibration.method == .rtn) {
            let flag = imatrix != nil ? "--imatrix" : "--calibration"
            switch type {
            case .gguf where OutputKind(path: output).isGGUF, .safetensors:
                break
            case .gguf:
                throw ValidationError("\(flag) weights the quantizers (GGUF types, int4/int8, fp8); --type \(type.name) with output \(output) is not one of them")
            }
        }
        if imatrix != nil && calibration.calibration != nil {
            throw ValidationError("--imatrix and --calibration both give an importance matrix; give one")
        }
        if budget.isRequested {
            guard case .gguf = type, OutputKind(path: output).isGGUF else {
                throw ValidationError("--target-bpw/--target-size choose GGUF types: give a GGUF --type and an output ending in .gguf")
            }
            guard calibration.method == .rtn else {
                throw ValidationError("--target-bpw/--target-size measure round-to-nearest costs; --method \(calibration.method) does not combine with them yet")
            }
        }
        switch calibration.method {
        case .rtn: break
        case .gptq:
            guard case .safetensors(let t) = type, t == .int4 || t == .int8, !OutputKind(path: output).isGGUF else {
                throw ValidationError("--method gptq quantizes INT4 and INT8 (compressed-tensors or --layout mlx) to a safetensors output; --type \(type.name) with output \(output) is not one")
            }
            if imatrix != nil { throw ValidationError("--method gptq computes its own Hessians; --imatrix does not apply") }
            if searchScales { throw ValidationError("--method gptq fixes group scales itself; --search-scales does not apply") }
        case .awq:
            break
        }
    }

    func run() throws {
        let inputModel = try ModelInput(path: input)
        let outputKind = OutputKind(path: output)
        var options = ConversionOptions(target: try ConversionTarget(request, input: inputModel, output: outputKind))
        options.keep = try keep.map(TensorPattern.init)
        options.tensorTypeRules = tensorType
        options.outputTensorType = try outputTensorType.map(Self.ggmlType)
        options.tokenEmbeddingType = try tokenEmbeddingType.map(Self.ggmlType)
        options.floatDType = dtype?.safetensors
        options.maxShardSize = try Self.parseSize(maxShardSize)
        options.measureError = errorMetrics
        options.force = force
        options.resume = resume
        options.verifyResume = verify
        options.resumeKey = Self.resumeKey(CommandLine.arguments)
        options.importance = try imatrix.map(ConversionImportance.init(contentsOf:))
        if let text = calibration.calibration, calibration.method == .rtn {
            options.importance = try ConversionImportance(calibration.importanceMatrix(model: input, quiet: json), file: text)
        }
        var awqReport: AWQArguments.Report?
        if calibration.method == .awq && !dryRun {
            // The plan without scales gives each tensor's layout, which the search quantizes with.
            let unscaled = try ConversionPlan(input: inputModel, output: outputKind, options: options)
            let (transforms, report) = try awq.transforms(input: input, plan: unscaled, calibration: calibration, quiet: json)
            options.weightTransforms = transforms
            awqReport = report
        }
        var budgetResult: GGUFBudget.Result?
        if let target = try budget.budget() {
            let base = try ConversionPlan(input: inputModel, output: outputKind, options: options)
            let allocation = GGUFBudget(budget: target, candidates: try budget.candidateTypes())
            let bar = ProgressBar(title: "costs", totalItems: base.jobs.filter(GGUFBudget.isChosen).count, totalBytes: 0, unit: "tensors")
            let result = try allocation.allocate(for: base) { _ in bar.advance(bytes: 0) }
            bar.finish()
            options.assignedTypes = result.assignments
            budgetResult = result
        }
        var plan = try ConversionPlan(input: inputModel, output: outputKind, options: options)
        if dryRun {
            print(json ? plan.json().serialized(pretty: true) : plan.text())
            return
        }
        var gptqReport: GPTQRunReport?
        if calibration.method == .gptq {
            let (store, report) = try calibration.gptqEncodings(model: input, plan: plan, gptq: gptq, output: output, quiet: json)
            plan.options.calibratedEncodings = store
            gptqReport = report
        }
        defer { (plan.options.calibratedEncodings as? SpilledEncodings)?.remove() }
        let bar = ProgressBar(title: "convert", totalItems: plan.jobs.count, totalBytes: plan.inputBytes)
        var lastIndex = 0, lastBytes = 0
        let summary = try Converter(plan: plan).run(progress: { p in
            bar.advance(items: p.tensorIndex - lastIndex, bytes: p.bytesDone - lastBytes)
            lastIndex = p.tensorIndex
            lastBytes = p.bytesDone
        }, note: { ErrorReporter.printError("lowbit: note: \($0)") })
        bar.finish()
        if json {
            var out = summary.json()
            if case .object(var members) = out {
                if let gptqReport { members.append(("calibration", gptqReport.json(gptq))) }
                if let awqReport { members.append(("calibration", awqReport.json())) }
                if let budgetResult, let target = try budget.budget() {
                    members.append(("budget", BudgetArguments.json(budgetResult, budget: target)))
                }
                members.append(("peak_rss_bytes", ProcessMemory.peakResidentBytes().map { .integer(Int64($0)) } ?? .null))
                out = .object(members)
            }
            print(out.serialized(pretty: true))
        } else {
            print(summary.text())
            if let budgetResult { print(BudgetArguments.text(budgetResult)) }
            if let gptqReport {
                let rss = ProcessMemory.peakResidentBytes().map { String(format: ", peak RSS %.0f MB", Double($0) / 1e6) } ?? ""
                print("gptq: \(gptqReport.tensors) tensors calibrated on \(gptqReport.chunks) chunks of \(gptqReport.context) tokens in "
                      + String(format: "%.1f s", gptqReport.seconds) + rss)
            }
            if let r = awqReport {
                print(String(format: "awq: %d mappings, %d chunks (%d tokens, %d scored per mapping), %.1f s, peak RSS %.0f MB",
                             r.mappings, r.chunks, r.tokens, r.scoredTokens, r.seconds, Double(r.peakResidentBytes) / 1e6))
                if let c = r.clip {
                    print("awq: clip search on \(c.tensors) tensors: \(c.clippedGroups) of \(c.groups) groups clipped")
                }
            }
        }
    }

    /// The command line as it decides the output's bytes, for the resume fingerprint: the
    /// arguments without the flags that do not change what is written.
    static func resumeKey(_ arguments: [String]) -> String {
        let neutral: Set<String> = ["--resume", "--verify", "--force", "--json", "--error-metrics"]
        return arguments.dropFirst().filter { !neutral.contains($0) }.joined(separator: "\u{1F}")
    }

    static func ggmlType(_ name: String) throws -> GGMLType {
        guard let t = GGMLType(name: name) else { throw ValidationError("unknown GGUF type '\(name)'") }
        return t
    }

    /// Parses `5GB`, `500MB`, `2GiB`, or a plain byte count (`option` names the flag in errors).
    static func parseSize(_ text: String, option: String = "--max-shard-size") throws -> Int {
        let t = text.uppercased()
        let units: [(String, Int)] = [("GIB", 1 << 30), ("MIB", 1 << 20), ("KIB", 1 << 10),
                                      ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000), ("B", 1)]
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            if let v = Double(t.dropLast(suffix.count)), v > 0 { return Int(v * Double(scale)) }
        }
        if let v = Int(t), v > 0 { return v }
        throw ValidationError("\(option): cannot read '\(text)' (e.g. 5GB, 500MB, 2GiB)")
    }
}
