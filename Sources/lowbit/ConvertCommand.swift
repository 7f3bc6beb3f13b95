import ArgumentParser
import Foundation
import LowbitConvert
import LowbitFormats
import LowbitQuant

/// `lowbit convert`: one model file or checkpoint in, a smaller one out.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a checkpoint to GGUF block types, FP8, INT8 or INT4.",
        discussion: """
            INPUT is a Hugging Face directory (config.json, tokenizer.json, safetensors shards), a \
            safetensors file or a GGUF file. The output format follows OUTPUT: a path ending in \
            .gguf is a GGUF file, .safetensors one safetensors file, anything else a Hugging Face \
            directory.

            GGUF types: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q3_k q4_k q5_k q6_k iq4_nl iq4_xs, and \
            llama.cpp's mixes q4_k_m q4_k_s q5_k_m. Safetensors types (compressed-tensors, as vLLM \
            loads): fp8 (per row by default), fp8-405b (Meta's Llama 3.1 405B recipe), int8, int4 \
            (group 128, symmetric by default); f32 f16 bf16 for plain floats. --layout mlx writes \
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
              lowbit convert model.gguf -o model-int4 --type int4 --group-size 128
              lowbit convert model-dir -o model-fp8 --type fp8 --fp8-granularity block
            """)

    @Argument(help: "The model to convert: a Hugging Face directory, a safetensors file or a GGUF file.")
    var input: String

    @Option(name: .shortAndLong, help: "Output path (.gguf, .safetensors, or a directory).")
    var output: String

    @Option(name: .long, help: "Target type (see above).")
    var type: String

    @Option(name: .long, help: "INT group size: 32, 64 or 128 (default 128; 64 for --layout mlx).")
    var groupSize: Int?

    @Flag(name: .long, help: "Asymmetric INT quantization (zero points).")
    var asym = false

    @Option(name: .long, help: "FP8 scale granularity: tensor, row or block (128x128).")
    var fp8Granularity: String = "row"

    @Option(name: .long, help: "FP8 element format: e4m3 or e5m2.")
    var fp8Format: String = "e4m3"

    @Option(name: .long, help: "Safetensors layout for INT types: compressed-tensors or mlx.")
    var layout: String = "compressed-tensors"

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

    @Option(name: .long, help: "Float dtype of unquantized tensors in safetensors output: f32, f16 or bf16.")
    var dtype: String?

    @Option(name: .long, help: "Largest shard of a directory output, e.g. 5GB, 500MB.")
    var maxShardSize: String = "5GB"

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

    func run() throws {
        let inputModel = try ModelInput(path: input)
        var options = ConversionOptions(target: try target(sourceFloat: Self.dominantFloat(inputModel.source)))
        options.keep = try keep.map(TensorPattern.init)
        options.tensorTypeRules = tensorType
        options.outputTensorType = try outputTensorType.map(Self.ggmlType)
        options.tokenEmbeddingType = try tokenEmbeddingType.map(Self.ggmlType)
        options.floatDType = try dtype.map(Self.floatDType)
        options.maxShardSize = try Self.parseSize(maxShardSize)
        options.measureError = errorMetrics
        options.force = force
        options.resume = resume
        options.verifyResume = verify
        options.resumeKey = Self.resumeKey(CommandLine.arguments)
        let plan = try ConversionPlan(input: inputModel, output: OutputKind(path: output), options: options)
        if dryRun {
            print(json ? plan.json().serialized(pretty: true) : plan.text())
            return
        }
        let bar = ProgressBar(title: "convert", totalItems: plan.jobs.count, totalBytes: plan.inputBytes)
        var lastIndex = 0, lastBytes = 0
        let summary = try Converter(plan: plan).run(progress: { p in
            bar.advance(items: p.tensorIndex - lastIndex, bytes: p.bytesDone - lastBytes)
            lastIndex = p.tensorIndex
            lastBytes = p.bytesDone
        }, note: { ErrorReporter.printError("lowbit: note: \($0)") })
        bar.finish()
        if json {
            print(summary.json().serialized(pretty: true))
        } else {
            print(summary.text())
        }
    }

    /// The command line as it decides the output's bytes, for the resume fingerprint: the
    /// arguments without the flags that do not change what is written.
    static func resumeKey(_ arguments: [String]) -> String {
        let neutral: Set<String> = ["--resume", "--verify", "--force", "--json", "--error-metrics"]
        return arguments.dropFirst().filter { !neutral.contains($0) }.joined(separator: "\u{1F}")
    }

    /// The float format most of the input's weights are stored in (compressed-tensors computes
    /// and stores INT scales in the weight's dtype; Lowbit does the same to match it bit for bit).
    static func dominantFloat(_ source: any TensorSource) -> FloatFormat {
        var bytes: [FloatFormat: Int] = [:]
        for t in source.tensors { if let f = t.type.floatFormat { bytes[f, default: 0] += t.byteCount } }
        return bytes.max { $0.value < $1.value }?.key ?? .f32
    }

    /// The conversion target from `--type` and its companions.
    func target(sourceFloat: FloatFormat) throws -> ConversionTarget {
        let name = type.lowercased()
        switch name {
        case "fp8", "fp8-405b":
            let variant: QuantScheme.FP8Variant
            switch fp8Format.lowercased() {
            case "e4m3": variant = .e4m3
            case "e5m2": variant = .e5m2
            default: throw ValidationError("--fp8-format must be e4m3 or e5m2")
            }
            let granularity: FP8Quantizer.Granularity
            switch name == "fp8-405b" ? "row" : fp8Granularity.lowercased() {
            case "tensor": granularity = .tensor
            case "row", "channel": granularity = .row
            case "block": granularity = .block128
            default: throw ValidationError("--fp8-granularity must be tensor, row or block")
            }
            let q = FP8Quantizer(variant: variant, granularity: granularity)
            return name == "fp8" ? .fp8(q) : .fp8Llama405B(q)
        case "int8", "int4":
            let bits = name == "int8" ? 8 : 4
            let isMLX: Bool
            switch layout.lowercased() {
            case "compressed-tensors": isMLX = false
            case "mlx": isMLX = true
            default: throw ValidationError("--layout must be compressed-tensors or mlx")
            }
            let group = groupSize ?? (isMLX ? 64 : 128)
            guard [32, 64, 128].contains(group) else { throw ValidationError("--group-size must be 32, 64 or 128") }
            let search = searchScales ? ScaleSearch() : nil
            if isMLX {
                return .int(MLXLayout.quantizer(bits: bits, groupSize: group, search: search), layout: .mlx)
            }
            // BF16/F16 checkpoints: scales in that dtype and every step rounded to it, as
            // compressed-tensors does on such tensors; other sources: F32 arithmetic, BF16 scales.
            let halfPrecision = sourceFloat == .bf16 || sourceFloat == .f16
            let q = IntGroupQuantizer(bits: bits, groupSize: group, convention: .compressedTensors(symmetric: !asym),
                                      scaleFormat: halfPrecision ? sourceFloat : .bf16,
                                      arithmetic: halfPrecision ? sourceFloat : .f32, search: search)
            return .int(q, layout: .compressedTensors)
        default:
            guard let gguf = GGUFTarget(name: name) else {
                throw ValidationError("unknown --type '\(type)'; see lowbit convert --help")
            }
            if !output.hasSuffix(".gguf"), case .uniform(let t) = gguf, t.isFloat {
                return .float(try Self.floatDType(name))
            }
            return .gguf(gguf)
        }
    }

    static func ggmlType(_ name: String) throws -> GGMLType {
        guard let t = GGMLType(name: name) else { throw ValidationError("unknown GGUF type '\(name)'") }
        return t
    }

    static func floatDType(_ name: String) throws -> SafetensorsDType {
        switch name.lowercased() {
        case "f32": return .F32
        case "f16": return .F16
        case "bf16": return .BF16
        default: throw ValidationError("float dtype must be f32, f16 or bf16, not '\(name)'")
        }
    }

    /// Parses `5GB`, `500MB`, `2GiB`, or a plain byte count.
    static func parseSize(_ text: String) throws -> Int {
        let t = text.uppercased()
        let units: [(String, Int)] = [("GIB", 1 << 30), ("MIB", 1 << 20), ("KIB", 1 << 10),
                                      ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000), ("B", 1)]
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            if let v = Double(t.dropLast(suffix.count)), v > 0 { return Int(v * Double(scale)) }
        }
        if let v = Int(t), v > 0 { return v }
        throw ValidationError("--max-shard-size: cannot read '\(text)' (e.g. 5GB, 500MB)")
    }
}
