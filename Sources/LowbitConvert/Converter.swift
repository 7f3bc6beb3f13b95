import Foundation
import LowbitFormats
import LowbitQuant
import LowbitTokenizer

/// Progress of a running conversion, for progress bars.
public struct ConversionProgress: Sendable {
    public var tensorIndex: Int
    public var tensorCount: Int
    public var tensorName: String
    public var bytesDone: Int
    public var bytesTotal: Int
}

/// Runs a ``ConversionPlan``: streams every tensor from the input through its encoder into the
/// output, tensor by tensor and strip by strip, and writes the output atomically (a temporary
/// name, fsync, rename): on any error nothing is left under the output path.
public struct Converter {
    public let plan: ConversionPlan

    public init(plan: ConversionPlan) {
        self.plan = plan
    }

    /// Converts, reporting progress after each strip.
    public func run(progress: ((ConversionProgress) -> Void)? = nil) throws -> ConversionSummary {
        let start = DispatchTime.now()
        var reports: [TensorReport] = []
        var bytesDone = 0
        let total = plan.inputBytes
        func runJobs(_ jobs: ArraySlice<TensorJob>, offset: Int, into out: StripWriter) throws {
            for (i, job) in jobs.enumerated() {
                let runner = JobRunner(job: job, source: plan.input.source, measureError: plan.options.measureError)
                let report = try runner.run(into: out) { bytes in
                    bytesDone += bytes
                    progress?(ConversionProgress(tensorIndex: offset + i + 1, tensorCount: plan.jobs.count,
                                                 tensorName: job.outputName, bytesDone: min(bytesDone, total), bytesTotal: total))
                }
                reports.append(report)
            }
        }
        switch plan.output {
        case .ggufFile(let path):
            let writer = try GGUFWriter(path: path, metadata: plan.ggufMetadata, tensors: plan.jobs.flatMap(\.outputs))
            let out = StripWriter(writer)
            do { try runJobs(plan.jobs[...], offset: 0, into: out) } catch { out.drain(); throw error }
            try out.finish()
        case .safetensorsFile(let path):
            var metadata: [(key: String, value: String)] = [("format", "pt")]
            if let q = quantizationConfig() { metadata.append(("quantization_config", q.serialized())) }
            let writer = try SafetensorsWriter(path: path, tensors: plan.jobs.flatMap(\.outputs), metadata: metadata)
            let out = StripWriter(writer)
            do { try runJobs(plan.jobs[...], offset: 0, into: out) } catch { out.drain(); throw error }
            try out.finish()
        case .directory(let path):
            try writeDirectory(path) { dir in
                let shards = shardJobs()
                var weightMap: [(key: String, value: JSONValue)] = []
                var offset = 0
                for (i, shard) in shards.enumerated() {
                    let name = shards.count == 1 ? "model.safetensors"
                        : String(format: "model-%05d-of-%05d.safetensors", i + 1, shards.count)
                    let writer = try SafetensorsWriter(path: dir + "/" + name, tensors: shard.flatMap(\.outputs),
                                                       metadata: [("format", "pt")])
                    let out = StripWriter(writer)
                    do { try runJobs(shard, offset: offset, into: out) } catch { out.drain(); throw error }
                    try out.finish()
                    offset += shard.count
                    for t in shard.flatMap(\.outputs) { weightMap.append((t.name, .string(name))) }
                }
                if shards.count > 1 {
                    let index: JSONValue = .object([
                        ("metadata", .object([("total_size", .integer(Int64(plan.outputBytes)))])),
                        ("weight_map", .object(weightMap.sorted { $0.key < $1.key })),
                    ])
                    try Self.writeJSON(index, to: dir + "/model.safetensors.index.json")
                }
                try writeConfigAndTokenizer(into: dir)
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        return ConversionSummary(plan: plan, tensors: reports, seconds: seconds)
    }

    /// Splits the jobs into shards of at most `maxShardSize` bytes (a tensor never splits).
    func shardJobs() -> [ArraySlice<TensorJob>] {
        var shards: [ArraySlice<TensorJob>] = []
        var start = 0, size = 0
        for (i, job) in plan.jobs.enumerated() {
            if i > start, size + job.outputBytes > plan.options.maxShardSize {
                shards.append(plan.jobs[start..<i])
                start = i
                size = 0
            }
            size += job.outputBytes
        }
        shards.append(plan.jobs[start...])
        return shards
    }

    /// The compressed-tensors `quantization_config` (or nil when nothing is quantized that way).
    ///
    /// Tensors whose rows the requested group size does not divide use a smaller group, so the
    /// config may need several groups: then each lists its modules by name.
    func quantizationConfig() -> JSONValue? {
        let format: String
        switch plan.options.target {
        case .fp8, .fp8Llama405B: format = CompressedTensorsLayout.floatFormat
        case .int(_, .compressedTensors): format = CompressedTensorsLayout.packedFormat
        default: return nil
        }
        var groups: [(weights: JSONValue, modules: [String])] = []
        var ignored: [String] = []
        for job in plan.jobs where JobPlanning.isLinear(job.outputName) {
            let weights: JSONValue
            switch job.encoding {
            case .fp8(let q): weights = CompressedTensorsLayout.weightsArguments(q)
            case .compressedInt(let q): weights = CompressedTensorsLayout.weightsArguments(q)
            default:
                ignored.append(JobPlanning.module(job.outputName))
                continue
            }
            if let i = groups.firstIndex(where: { $0.weights == weights }) {
                groups[i].modules.append(JobPlanning.module(job.outputName))
            } else {
                groups.append((weights, [JobPlanning.module(job.outputName)]))
            }
        }
        guard !groups.isEmpty else { return nil }
        let config = CompressedTensorsLayout.quantizationConfig(weights: groups[0].weights, format: format,
                                                               ignore: ignored + ["lm_head"])
        guard groups.count > 1, case .object(var members) = config else { return config }
        let configGroups: [(key: String, value: JSONValue)] = groups.enumerated().map { i, group in
            ("group_\(i)", .object([
                ("targets", .array(group.modules.map { .string($0) })),
                ("weights", group.weights),
                ("input_activations", .null),
                ("output_activations", .null),
                ("format", .string(format)),
            ]))
        }
        if let i = members.firstIndex(where: { $0.key == "config_groups" }) { members[i].value = .object(configGroups) }
        return .object(members)
    }

    /// `config.json` (with the quantization entry) and the tokenizer files of a directory output.
    func writeConfigAndTokenizer(into dir: String) throws {
        var config: JSONValue
        if let source = plan.input.config {
            config = source
        } else if let hyper = plan.input.hyperparameters {
            // The dtype unquantized tensors are written in (see Planner.floatDTypeFor).
            let dtype: SafetensorsDType
            if case .float(let d) = plan.options.target { dtype = d } else { dtype = plan.options.floatDType ?? .BF16 }
            config = hyper.hfConfig(torchDtype: dtype == .F16 ? "float16" : dtype == .F32 ? "float32" : "bfloat16")
        } else {
            throw ConvertError.missingInput("the input has no hyperparameters (no config.json or GGUF llama metadata) to write config.json from")
        }
        if let q = quantizationConfig() {
            config = config.setting("quantization_config", q)
        } else if case .int(let q, .mlx) = plan.options.target {
            config = config.setting("quantization", MLXLayout.quantizationConfig(q))
        }
        try Self.writeJSON(config, to: dir + "/config.json")
        switch plan.input.naming {
        case .huggingFace:
            for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"] {
                if let path = plan.input.directoryFile(name) {
                    try FileManager.default.copyItem(atPath: path, toPath: dir + "/" + name)
                }
            }
        case .gguf:
            let export = try TokenizerExport(ggufMetadata: plan.input.source.metadata)
            try Self.writeJSON(try export.tokenizerJSON(), to: dir + "/tokenizer.json")
            try Self.writeJSON(export.tokenizerConfigJSON(), to: dir + "/tokenizer_config.json")
        }
    }

    /// Builds a directory under a temporary name beside `path`, then renames it into place.
    func writeDirectory(_ path: String, _ body: (String) throws -> Void) throws {
        let fm = FileManager.default
        if let contents = try? fm.contentsOfDirectory(atPath: path), !contents.isEmpty {
            throw ConvertError.badOption("\(path) exists and is not empty; choose a new output directory")
        }
        let parent = (path as NSString).deletingLastPathComponent
        let temp = (parent.isEmpty ? "." : parent) + "/." + (path as NSString).lastPathComponent + ".lowbit-\(getpid()).tmp"
        try? fm.removeItem(atPath: temp)
        try fm.createDirectory(atPath: temp, withIntermediateDirectories: true)
        do {
            try body(temp)
            if fm.fileExists(atPath: path) { try fm.removeItem(atPath: path) }
            guard rename(temp, path) == 0 else {
                throw FormatError(.io, file: path, "rename failed: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? fm.removeItem(atPath: temp)
            throw error
        }
    }

    static func writeJSON(_ json: JSONValue, to path: String) throws {
        let file = try AtomicFile(path: path)
        try file.write(Array((json.serialized(pretty: true) + "\n").utf8))
        try file.commit()
    }
}

/// Name rules shared by planning and config writing.
enum JobPlanning {
    /// A Hugging Face decoder linear weight (`model.layers.N.(self_attn|mlp).X_proj.weight`).
    static func isLinear(_ name: String) -> Bool {
        name.hasPrefix("model.layers.") && name.hasSuffix("_proj.weight")
            && (name.contains(".self_attn.") || name.contains(".mlp."))
    }

    /// `a.b.weight` -> `a.b`.
    static func module(_ name: String) -> String {
        name.hasSuffix(".weight") ? String(name.dropLast(".weight".count)) : name
    }
}

extension JSONValue {
    /// A copy of an object with `key` set to `value` (replacing it if present).
    func setting(_ key: String, _ value: JSONValue) -> JSONValue {
        guard case .object(var members) = self else { return self }
        if let i = members.firstIndex(where: { $0.key == key }) {
            members[i].value = value
        } else {
            members.append((key, value))
        }
        return .object(members)
    }
}
