import Dispatch
import Foundation
import ArgumentParser
import LowbitConvert
import LowbitFormats
import LowbitSystem

/// `lowbit-bench convert`: end-to-end conversion throughput of the built `lowbit` binary.
///
/// Generates a BF16 Hugging Face checkpoint with Llama-3-8B layer shapes (hidden 4096, FFN 14336,
/// 32 heads, 8 KV heads; fewer layers and a smaller vocabulary, about 3.1 GB by default) with
/// random normal weights (std 0.02), then runs `lowbit convert` once per target type, each in its
/// own child process, and reports wall seconds, GB/s of input, the child's peak RSS (from
/// `wait4`'s rusage: includes the mapped input pages it touched) and its peak anonymous memory
/// (RssAnon sampled from /proc/PID/status every 20 ms). The checkpoint is deleted afterwards
/// unless `--keep-checkpoint` is given.
///
/// Inputs are read from the page cache after the first conversion (the file was just written),
/// as in llama-quantize's figures in shared/notes/peer-figures.md.
enum ConvertBenchmark {
    /// `lowbit-bench convert`'s command line.
    struct Options: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "convert",
            abstract: "Time `lowbit convert` on a generated checkpoint with Llama-3-8B layer shapes.",
            discussion: """
                Generates a BF16 checkpoint with Llama-3-8B layer shapes (default 6 layers, vocab 32768: \
                3.15 GB) under --dir (or uses --checkpoint DIR), converts it with `lowbit convert` to each \
                type in a child process, and prints wall seconds, GB/s of input, peak RSS and peak \
                anonymous memory of the child. GGUF types write OUT.gguf, others a directory. \
                Arguments after -- are passed to every `lowbit convert`.
                """)

        @Option(help: "The lowbit binary to time.")
        var lowbit = ".build/release/lowbit"
        @Option(name: .customLong("dir"), help: "Directory for the checkpoint and the outputs.")
        var directory = FileManager.default.temporaryDirectory.path
        @Option(help: "Decoder layers of the generated checkpoint.")
        var layers = 6
        @Option(name: .customLong("vocab"), help: "Vocabulary size of the generated checkpoint.")
        var vocabulary = 32768
        @Option(name: .customLong("types"), help: "Target types, comma-separated.")
        var typeList = "q4_0,q8_0,q4_k_m,fp8,int4"
        @Flag(help: "Keep the generated checkpoint under --dir.")
        var keepCheckpoint = false
        @Option(help: "Convert this checkpoint instead of generating one.")
        var checkpoint: String?
        @Flag(help: "Print the results as JSON.")
        var json = false
        @Argument(parsing: .postTerminator, help: "Extra arguments for `lowbit convert` (after --).")
        var extraArguments: [String] = []

        /// The target types to time.
        var types: [String] { typeList.split(separator: ",").map(String.init) }

        func validate() throws {
            for type in types where TargetType(name: type) == nil {
                throw ValidationError("unknown type '\(type)'; one of \(TargetType.allCases.map(\.name).joined(separator: ", "))")
            }
        }

        func run() throws {
            let status: Int32
            do {
                status = try ConvertBenchmark.run(self)
            } catch {
                FileHandle.standardError.write(Data("lowbit-bench convert: error: \(error)\n".utf8))
                throw ExitCode.failure
            }
            if status != 0 { throw ExitCode(status) }
        }
    }

    /// One conversion's measurements.
    struct Result {
        var type: String
        var seconds: Double
        var inputBytes: Int
        var outputBytes: Int
        var peakRSS: Int
        var peakAnonymous: Int
        var exitStatus: Int32
        /// User + system CPU seconds of the child (a load-independent view on a busy machine).
        var cpuSeconds: Double = 0
        var gbPerSecond: Double { Double(inputBytes) / seconds / 1e9 }
    }

    static func run(_ o: Options) throws -> Int32 {
        guard FileManager.default.isExecutableFile(atPath: o.lowbit) else {
            fail("no lowbit binary at \(o.lowbit): build it (swift build -c release) or pass --lowbit PATH")
        }
        let work = o.directory + "/lowbit-convert-bench-\(SystemCalls.processID)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let checkpoint: String
        var writeLine = ""
        if let given = o.checkpoint {
            checkpoint = given
        } else {
            checkpoint = (o.keepCheckpoint ? o.directory : work) + "/llama3-shapes-bf16"
            let model = SyntheticLlama(layers: o.layers, vocabulary: o.vocabulary)
            log("writing a \(String(format: "%.2f", Double(model.byteCount) / 1e9)) GB BF16 checkpoint to \(checkpoint)")
            let seconds = try model.write(to: checkpoint)
            writeLine = String(format: "generated checkpoint: %.2f GB written with fsync in %.1f s (%.2f GB/s)",
                               Double(model.byteCount) / 1e9, seconds, Double(model.byteCount) / seconds / 1e9)
            log(writeLine)
        }
        let inputBytes = try directoryBytes(checkpoint, suffix: ".safetensors")
        var results: [Result] = []
        for type in o.types {
            let isGGUF: Bool
            if case .gguf = TargetType(name: type) { isGGUF = true } else { isGGUF = false }
            let output = work + "/out-\(type)" + (isGGUF ? ".gguf" : "")
            log("converting to \(type)")
            var r = try measure([o.lowbit, "convert", checkpoint, "-o", output, "--type", type] + o.extraArguments)
            r.type = type
            r.inputBytes = inputBytes
            r.outputBytes = (try? directoryBytes(output, suffix: "")) ?? 0
            try? FileManager.default.removeItem(atPath: output)
            log(String(format: "%@: %.2f s, %.3f GB/s, %.1f CPU s, peak RSS %d MB, peak anon %d MB, exit %d", type, r.seconds,
                       r.gbPerSecond, r.cpuSeconds, r.peakRSS >> 20, r.peakAnonymous >> 20, r.exitStatus))
            results.append(r)
        }
        if o.json {
            let rows = results.map { r in
                String(format: #"{"type": "%@", "seconds": %.3f, "input_bytes": %d, "output_bytes": %d, "gb_per_second": %.4f, "peak_rss_bytes": %d, "peak_anon_bytes": %d, "cpu_seconds": %.2f, "exit_status": %d}"#,
                       r.type, r.seconds, r.inputBytes, r.outputBytes, r.gbPerSecond, r.peakRSS, r.peakAnonymous, r.cpuSeconds,
                       r.exitStatus)
            }
            print("[\n  " + rows.joined(separator: ",\n  ") + "\n]")
        } else {
            print(table(results, header: writeLine))
        }
        return results.allSatisfy { $0.exitStatus == 0 } ? 0 : 1
    }

    static func table(_ results: [Result], header: String) -> String {
        var lines = header.isEmpty ? [] : [header]
        lines.append("type       seconds   GB/s in   CPU s   out MB   peak RSS MB   peak anon MB   status")
        for r in results {
            lines.append(r.type.padding(toLength: 8, withPad: " ", startingAt: 0) + String(
                format: " %8.2f %9.3f %7.1f %8d %13d %14d   %@", r.seconds, r.gbPerSecond, r.cpuSeconds,
                                r.outputBytes / 1_000_000, r.peakRSS >> 20, r.peakAnonymous >> 20,
                                r.exitStatus == 0 ? "ok" : "exit \(r.exitStatus)"))
        }
        return lines.joined(separator: "\n")
    }

    /// Runs `argv` with stdout and stderr to /dev/null; returns wall time and peak memory.
    static func measure(_ argv: [String]) throws -> Result {
        let start = DispatchTime.now().uptimeNanoseconds
        let pid: Int32
        do { pid = try SystemCalls.spawnSilently(argv) } catch {
            throw FormatError(.io, file: argv[0], "posix_spawn failed: \(error.reason)")
        }

        // Sample RssAnon while the child runs.
        let sampler = AnonymousMemorySampler(pid: pid)
        let thread = Thread { sampler.loop() }
        thread.start()
        let child = SystemCalls.waitForExit(pid)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        sampler.stop()
        return Result(type: "", seconds: seconds, inputBytes: 0, outputBytes: 0, peakRSS: child.peakResidentBytes,
                      peakAnonymous: sampler.peak, exitStatus: child.status, cpuSeconds: child.cpuSeconds)
    }

    /// Total size of the regular files at `path` (a file, or a directory's files ending in `suffix`).
    static func directoryBytes(_ path: String, suffix: String) throws -> Int {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { return 0 }
        if !isDirectory.boolValue { return (try fm.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        return try fm.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(suffix) }.reduce(0) {
            $0 + ((try fm.attributesOfItem(atPath: path + "/" + $1)[.size] as? Int) ?? 0)
        }
    }

    static func log(_ message: String) {
        FileHandle.standardError.write(Data("lowbit-bench convert: \(message)\n".utf8))
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("lowbit-bench convert: \(message)\n\(Options.usageString())\n".utf8))
        exit(2)
    }
}

/// Polls /proc/PID/status for RssAnon and keeps the largest value seen.
private final class AnonymousMemorySampler: @unchecked Sendable {
    let path: String
    private let lock = NSLock()
    private var running = true
    private var peakBytes = 0

    init(pid: Int32) { path = "/proc/\(pid)/status" }

    var peak: Int { lock.withLock { peakBytes } }

    func stop() { lock.withLock { running = false } }

    func loop() {
        while lock.withLock({ running }) {
            if let text = try? String(contentsOfFile: path, encoding: .utf8),
               let line = text.split(separator: "\n").first(where: { $0.hasPrefix("RssAnon:") }),
               let kB = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap({ Int($0) }) {
                lock.withLock { peakBytes = max(peakBytes, kB * 1024) }
            }
            usleep(20_000)
        }
    }
}

/// A Llama-3-8B-shaped BF16 checkpoint with random normal weights (std 0.02; norms 1).
struct SyntheticLlama {
    var hidden = 4096
    var ffn = 14336
    var heads = 32
    var kvHeads = 8
    var layers: Int
    var vocabulary: Int

    var tensors: [(name: String, shape: [Int])] {
        let kv = hidden / heads * kvHeads
        var list: [(String, [Int])] = [("model.embed_tokens.weight", [vocabulary, hidden])]
        for i in 0..<layers {
            let p = "model.layers.\(i)."
            list += [
                (p + "input_layernorm.weight", [hidden]),
                (p + "self_attn.q_proj.weight", [hidden, hidden]), (p + "self_attn.k_proj.weight", [kv, hidden]),
                (p + "self_attn.v_proj.weight", [kv, hidden]), (p + "self_attn.o_proj.weight", [hidden, hidden]),
                (p + "post_attention_layernorm.weight", [hidden]),
                (p + "mlp.gate_proj.weight", [ffn, hidden]), (p + "mlp.up_proj.weight", [ffn, hidden]),
                (p + "mlp.down_proj.weight", [hidden, ffn]),
            ]
        }
        list += [("model.norm.weight", [hidden]), ("lm_head.weight", [vocabulary, hidden])]
        return list
    }

    var byteCount: Int { tensors.reduce(0) { $0 + 2 * $1.shape.reduce(1, *) } }

    /// Writes model.safetensors, config.json and a tokenizer; returns the seconds spent on the weights.
    func write(to directory: String) throws -> Double {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let start = DispatchTime.now().uptimeNanoseconds
        let plan = tensors.map { PlannedTensor(name: $0.name, type: .safetensors(.BF16), shape: $0.shape) }
        let writer = try SafetensorsWriter(path: directory + "/model.safetensors", tensors: plan, metadata: [("format", "pt")])
        let table = Self.normalTable()
        let chunk = 16 << 20  // elements per buffer (32 MB)
        var buffer = [UInt16](repeating: 0, count: chunk)
        var seed: UInt64 = 0x1234_5678_9ABC_DEF1
        for (name, shape) in tensors {
            var remaining = shape.reduce(1, *)
            while remaining > 0 {
                let n = min(chunk, remaining)
                if name.hasSuffix("norm.weight") {
                    for i in 0..<n { buffer[i] = 0x3F80 }  // 1.0
                } else {
                    seed = seed &* 6364136223846793005 &+ 1442695040888963407
                    Self.fill(&buffer, count: n, table: table, seed: seed)
                }
                try buffer.withUnsafeBytes { try writer.append(UnsafeRawBufferPointer(rebasing: $0[0..<(2 * n)])) }
                remaining -= n
            }
        }
        try writer.finish()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let config = """
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": \(hidden),
             "intermediate_size": \(ffn), "num_hidden_layers": \(layers), "num_attention_heads": \(heads),
             "num_key_value_heads": \(kvHeads), "max_position_embeddings": 8192, "rms_norm_eps": 1e-05,
             "rope_theta": 500000.0, "vocab_size": \(vocabulary), "tie_word_embeddings": false,
             "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"}
            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: directory + "/config.json"))
        let tokenizer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/tokenizer/tiny-llama3.tokenizer.json").path
        try? FileManager.default.removeItem(atPath: directory + "/tokenizer.json")
        try FileManager.default.copyItem(atPath: tokenizer, toPath: directory + "/tokenizer.json")
        return seconds
    }

    /// 65,536 BF16 samples of N(0, 0.02^2) (Box-Muller on a fixed LCG), indexed by 16 random bits.
    static func normalTable() -> [UInt16] {
        var state: UInt64 = 42
        func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Double(state >> 11) + 0.5) / Double(1 << 53)
        }
        var floats = [Float](repeating: 0, count: 1 << 16)
        for i in stride(from: 0, to: floats.count, by: 2) {
            let r = (-2 * Foundation.log(uniform())).squareRoot(), t = 2 * Double.pi * uniform()
            floats[i] = Float(0.02 * r * cos(t))
            floats[i + 1] = Float(0.02 * r * sin(t))
        }
        return floats.map { f in
            let b = f.bitPattern
            return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)  // round to nearest even
        }
    }

    /// Fills `count` elements with table samples, 4 per 64-bit xorshift draw, on all cores.
    static func fill(_ buffer: inout [UInt16], count: Int, table: [UInt16], seed: UInt64) {
        let pieces = 64
        let per = (count + pieces - 1) / pieces
        buffer.withUnsafeMutableBufferPointer { out in
            table.withUnsafeBufferPointer { tab in
                Parallel.forEach(pieces) { p in
                    var s = (seed ^ (UInt64(p + 1) &* 0x9E37_79B9_7F4A_7C15)) | 1
                    var i = p * per
                    let end = min(count, i + per)
                    while i < end {
                        s ^= s << 13; s ^= s >> 7; s ^= s << 17
                        var bits = s
                        for _ in 0..<4 where i < end {
                            out[i] = tab[Int(bits & 0xFFFF)]
                            bits >>= 16
                            i += 1
                        }
                    }
                }
            }
        }
    }
}
