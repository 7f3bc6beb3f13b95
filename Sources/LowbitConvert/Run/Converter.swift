import Foundation
import LowbitFormats
import LowbitModels
import LowbitQuant
import LowbitSystem
import LowbitTokenizer

/// Progress of a running conversion, for progress bars.
public struct ConversionProgress: Sendable {
    /// The number of the tensor being converted, from 1.
    public var tensorIndex: Int
    /// Tensors in the plan.
    public var tensorCount: Int
    /// The name of the tensor being converted.
    public var tensorName: String
    /// Input bytes converted so far (at most ``bytesTotal``).
    public var bytesDone: Int
    /// Input bytes in the whole plan.
    public var bytesTotal: Int
}

/// Runs a ``ConversionPlan``: streams every tensor from the input through its encoder into the
/// output, tensor by tensor and strip by strip, and writes the output atomically (a temporary
/// name, fsync, rename): on any error nothing is left under the output path, and no temporary
/// output is left beside it.
///
/// Before writing, temporary outputs that killed runs left for the same output are removed (or,
/// with ``ConversionOptions/resume``, a directory output's finished shards are taken over), and
/// the free space on the target filesystem is checked against the plan. Before each tensor the
/// input files are checked for having shrunk since they were mapped.
public struct Converter {
    /// What to convert, and into what.
    public let plan: ConversionPlan

    /// A converter that runs `plan`.
    public init(plan: ConversionPlan) {
        self.plan = plan
    }

    /// Test-only slow-down: milliseconds to sleep after each tensor, from the environment
    /// variable `LOWBIT_TEST_SLOW_TENSOR_MS`, so that tests can interrupt a real run midway.
    static let testDelayMilliseconds: Int = {
        Int(ProcessInfo.processInfo.environment["LOWBIT_TEST_SLOW_TENSOR_MS"] ?? "") ?? 0
    }()

    /// Converts, reporting progress after each strip and passing notes for the user (stale
    /// temporary outputs removed, a resumed run, an input path replaced) to `note`.
    public func run(progress: ((ConversionProgress) -> Void)? = nil,
                    note: ((String) -> Void)? = nil) throws -> ConversionSummary {
        let note = note ?? { _ in }
        let start = DispatchTime.now()
        var reports: [TensorReport] = []
        var bytesDone = 0
        var shardCounts: ShardCounts?
        let total = plan.inputBytes
        func report(_ job: TensorJob, index: Int) {
            progress?(ConversionProgress(tensorIndex: index, tensorCount: plan.jobs.count,
                                         tensorName: job.outputName, bytesDone: min(bytesDone, total), bytesTotal: total))
        }
        func runJobs(_ jobs: ArraySlice<TensorJob>, offset: Int, into out: StripWriter) throws {
            for (i, job) in jobs.enumerated() {
                if case .tensor(let tensor) = job.input, let warning = try plan.input.source.checkIntact(tensor) {
                    note(warning)
                }
                let runner = JobRunner(job: job, source: plan.input.source, measureError: plan.options.measureError,
                                       calibrated: plan.options.calibratedEncodings)
                let report = try runner.run(into: out) { bytes in
                    bytesDone += bytes
                    report(job, index: offset + i + 1)
                }
                reports.append(report)
                if Self.testDelayMilliseconds > 0 { usleep(UInt32(Self.testDelayMilliseconds) * 1000) }
            }
        }
        if case .directory = plan.output {} else {
            if plan.options.resume {
                note("--resume continues directory outputs only; \(plan.output.path) is a single file, so the conversion starts from the beginning")
            }
            StaleTemporaries.removeStale(for: plan.output.path, note: note)
            if !plan.options.force {
                try FreeSpace.check(bytes: plan.outputBytes, into: Self.parent(of: plan.output.path), output: plan.output.path)
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
            try writeDirectory(path, note: note) { dir, manifest in
                let shards = shardJobs()
                var weightMap: [(key: String, value: JSONValue)] = []
                var offset = 0
                var counts = ShardCounts()
                for (i, shard) in shards.enumerated() {
                    let name = shards.count == 1 ? "model.safetensors"
                        : String(format: "model-%05d-of-%05d.safetensors", i + 1, shards.count)
                    if i < manifest.shards.count, manifest.shards[i].name == name {
                        // Finished by the run being resumed, and checked against its record.
                        for (j, job) in shard.enumerated() {
                            reports.append(TensorReport(source: job.sourceName, output: job.outputName, encoding: job.encoding.name,
                                                        reason: job.reason, inputBytes: job.inputBytes, outputBytes: job.outputBytes,
                                                        elements: job.rows * job.rowLength, error: nil))
                            bytesDone += job.inputBytes
                            report(job, index: offset + j + 1)
                        }
                        counts.reused += 1
                    } else {
                        let shardPath = dir + "/" + name
                        let writer = try SafetensorsWriter(path: shardPath, tensors: shard.flatMap(\.outputs),
                                                           metadata: [("format", "pt")], hashing: true)
                        let out = StripWriter(writer)
                        do { try runJobs(shard, offset: offset, into: out) } catch { out.drain(); throw error }
                        try out.finish()
                        manifest.shards.removeSubrange(min(i, manifest.shards.count)...)
                        manifest.shards.append(try ResumeManifest.finished(
                            name: name, path: shardPath, size: writer.finishedSize ?? 0, fullHash: writer.contentHash ?? ContentHash()))
                        try manifest.write(directory: dir)
                        counts.written += 1
                    }
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
                shardCounts = counts
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        return ConversionSummary(plan: plan, tensors: reports, seconds: seconds, shards: shardCounts)
    }

    /// The directory a path's file lives in.
    static func parent(of path: String) -> String {
        let parent = (path as NSString).deletingLastPathComponent
        return parent.isEmpty ? "." : parent
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
        guard case .compressedTensors(_, let format)? = plan.options.target.layout?.configEntry else { return nil }
        var groups: [(weights: JSONValue, modules: [String])] = []
        var ignored: [String] = []
        for job in plan.jobs where JobPlanning.isLinear(job.outputName, in: plan.input.tensorNames) {
            guard case .compressedTensors(var weights, _)? = job.encoding.layout?.configEntry else {
                ignored.append(JobPlanning.module(job.outputName))
                continue
            }
            if let calibrated = plan.options.calibratedEncodings, calibrated.contains(job.sourceName),
               case .object(var members) = weights {
                for (key, value) in calibrated.weightsArguments {
                    if let i = members.firstIndex(where: { $0.key == key }) { members[i].value = value } else { members.append((key, value)) }
                }
                weights = .object(members)
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
            throw ConvertError.missingInput("the input has no hyperparameters (no config.json or GGUF llama metadata) to write config.json from",
                                            file: plan.input.source.path)
        }
        if let q = quantizationConfig() {
            config = config.setting("quantization_config", q)
        } else if case .mlx(let entry)? = plan.options.target.layout?.configEntry {
            config = config.setting("quantization", entry)
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
            let export = try withFileNamed(plan.input.source.path) { try TokenizerExport(ggufMetadata: plan.input.source.metadata) }
            try Self.writeJSON(try export.tokenizerJSON(), to: dir + "/tokenizer.json")
            try Self.writeJSON(export.tokenizerConfigJSON(), to: dir + "/tokenizer_config.json")
        }
    }

    /// Builds a directory under a temporary name beside `path` (`.NAME.lowbit-PID.tmp`, locked
    /// and registered for clean-up on signals), then renames it into place.
    ///
    /// With ``ConversionOptions/resume``, an unfinished temporary directory of an earlier run of
    /// the same plan is taken over: its finished shards are checked (size and tail hash, or the
    /// whole hash with ``ConversionOptions/verifyResume``), and `body` gets them in the manifest
    /// so it writes only the rest. A temporary directory of a different plan is refused.
    func writeDirectory(_ path: String, note: (String) -> Void,
                        _ body: (String, inout ResumeManifest) throws -> Void) throws {
        let fm = FileManager.default
        if let contents = try? fm.contentsOfDirectory(atPath: path), !contents.isEmpty {
            throw ConvertError.badOption("exists and is not empty; choose a new output directory", file: path)
        }
        let temp = StaleTemporaries.temporaryDirectoryPath(for: path)
        let fingerprint = plan.resumeFingerprint(extra: plan.options.resumeKey)
        var manifest = ResumeManifest(plan: fingerprint)
        var lock: FileLock?
        if plan.options.resume {
            (lock, manifest.shards) = try takeOver(path, as: temp, fingerprint: fingerprint, note: note)
        }
        StaleTemporaries.removeStale(for: path, except: temp, note: note)
        if lock == nil {
            try? fm.removeItem(atPath: temp)
            try fm.createDirectory(atPath: temp, withIntermediateDirectories: true)
            lock = FileLock(path: temp)
        }
        let registration = TemporaryOutputs.shared.register(temporary: temp, final: path)
        do {
            if !plan.options.force {
                let reused = manifest.shards.reduce(0) { $0 + $1.size }
                try FreeSpace.check(bytes: max(0, plan.outputBytes - reused), into: Self.parent(of: path), output: path)
            }
            try body(temp, &manifest)
            SystemCalls.unlink(temp + "/" + ResumeManifest.fileName)
            try TemporaryOutputs.shared.publish(registration) {
                if fm.fileExists(atPath: path) { try fm.removeItem(atPath: path) }
                do throws(SystemCallError) { try SystemCalls.rename(temp, to: path) } catch {
                    throw FormatError(.io, file: path, "rename failed: \(error.reason)")
                }
            }
            withExtendedLifetime(lock) {}
        } catch {
            try? fm.removeItem(atPath: temp)
            TemporaryOutputs.shared.unregister(registration)
            throw error
        }
    }

    /// Finds the temporary directory an earlier, killed run of this plan left for `path`, locks
    /// it, keeps the finished shards that still match their record, removes everything else in
    /// it, and renames it to `temp`. Returns the lock and the shards kept (none, and no lock, if
    /// there is nothing to resume).
    func takeOver(_ path: String, as temp: String, fingerprint: String,
                  note: (String) -> Void) throws -> (FileLock?, [ResumeManifest.Shard]) {
        for found in StaleTemporaries.find(for: path) where found.isDirectory {
            guard let lock = StaleTemporaries.claim(found) else {
                note("\(found.path) is being written by a live run (pid \(found.processID)); not touching it")
                continue
            }
            guard let old = ResumeManifest.read(directory: found.path) else { continue }
            guard old.plan == fingerprint else {
                throw ConvertError.resumeRefused("""
                    cannot resume \(path): this temporary output was written for a different plan (the \
                    options, Lowbit's version or an input file changed since); run without --resume to \
                    start afresh, which removes it
                    """, file: found.path)
            }
            var kept: [ResumeManifest.Shard] = []
            for shard in old.shards {
                guard ResumeManifest.check(shard, in: found.path, fully: plan.options.verifyResume) else {
                    note("\(found.path)/\(shard.name) does not match its record; it is written again")
                    break
                }
                kept.append(shard)
            }
            let keep = Set(kept.map(\.name) + [ResumeManifest.fileName])
            for name in (try? FileManager.default.contentsOfDirectory(atPath: found.path)) ?? [] where !keep.contains(name) {
                try? FileManager.default.removeItem(atPath: found.path + "/" + name)
            }
            if found.path != temp {
                do throws(SystemCallError) { try SystemCalls.rename(found.path, to: temp) } catch {
                    throw FormatError(.io, file: found.path, "cannot take it over for --resume: \(error.reason)")
                }
            }
            note("resuming \(path): \(kept.count) of its finished shards reused\(plan.options.verifyResume ? " (verified in full)" : "") from \(found.path)")
            return (lock, kept)
        }
        note("--resume: no unfinished conversion to \(path) was found; starting from the beginning")
        return (nil, [])
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
    static func isLinear(_ name: String, in names: TensorNameTable) -> Bool { names.isDecoderLinear(hfName: name) }

    /// `a.b.weight` -> `a.b`.
    static func module(_ name: String) -> String { CompressedTensorsLayout.prefix(of: name) }

    /// `N` of `model.layers.N.…`, nil for tensors outside the layers.
    static func layerIndex(_ name: String) -> Int? {
        guard name.hasPrefix("model.layers.") else { return nil }
        return Int(name.dropFirst("model.layers.".count).prefix { $0.isNumber })
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
