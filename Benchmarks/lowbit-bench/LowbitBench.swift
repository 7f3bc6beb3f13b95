import ArgumentParser
import Foundation

/// `lowbit-bench`: throughput of Lowbit's kernels over a generated multi-GB BF16 file, beside this
/// machine's memcpy measured by the same program (``run()`` in `KernelBenchmarks.swift`); with
/// `convert`, end-to-end conversion throughput (``ConvertBenchmark``).
struct LowbitBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lowbit-bench",
        abstract: "Measure Lowbit's kernels, evaluator and conversions on this machine.",
        discussion: """
            Generates a BF16 safetensors file of N GB (default 2) in a temporary directory (deleted \
            afterwards) and measures, in one program: memcpy GB/s, BF16->F32 decode GB/s, the \
            statistics pass of `lowbit inspect --stats` GB/s, ContentHash GB/s (the shard hash of \
            --resume), and every quantizer in Melem/s on each thread count, with peak RSS; then the \
            evaluator's packed matrix products in GFLOP/s (f32 and bf16, on Llama-shaped matrices). \
            Names for --only: memcpy, decode, stats, hash, quantizer names (q8_0, q4_k, fp8, int4, \
            ...), matmul; gptq (opt-in, minutes: GPTQ on a Llama-3-8B down_proj, run only when \
            named, and alone with --only gptq without generating the file). With --model and --text it also measures the evaluator's prefill tokens/s \
            in each precision (`lowbit perplexity`'s work, ctx 512, --chunks chunks; name: eval).
            """,
        subcommands: [ConvertBenchmark.Options.self])

    @Option(name: .customLong("size-gb"), help: "Size of the generated BF16 file in GB (10^9 bytes).")
    var sizeGB: Double = 2

    @Option(name: .customLong("only"), help: "Only run benchmarks whose name contains one of these (NAME[,NAME...], case-insensitive).")
    var onlyList: String = ""

    @Flag(help: "Print the results as JSON instead of a table.")
    var json = false

    @Option(name: .customLong("dir"), help: "Directory for the generated file (deleted afterwards).")
    var directory: String = FileManager.default.temporaryDirectory.path

    @Option(name: .customLong("threads"), help: "Thread counts for the kernels (e.g. 1,2).")
    var threadList: String = "1,2"

    @Option(help: "A model (GGUF or Hugging Face directory) for the evaluator's tokens/s (with --text).")
    var model: String?

    @Option(help: "A text file for the evaluator's tokens/s (with --model).")
    var text: String?

    @Option(help: "Chunks of 512 tokens the evaluator benchmark scores.")
    var chunks = 8

    /// Only run benchmarks whose name contains one of these (lower-cased); all when empty.
    var only: [String] { onlyList.split(separator: ",").map { $0.lowercased() } }

    /// Thread counts for the kernels.
    var threadCounts: [Int] { threadList.split(separator: ",").compactMap { Int($0) } }

    func validate() throws {
        guard sizeGB > 0 else { throw ValidationError("--size-gb needs a positive number") }
        let counts = threadList.split(separator: ",").map { Int($0) }
        guard !counts.isEmpty, counts.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("--threads needs counts like 1,2")
        }
        guard chunks > 0 else { throw ValidationError("--chunks needs a positive number") }
    }

    /// Whether --only names `name` exactly (opt-in benchmarks that take minutes).
    func names(_ name: String) -> Bool {
        only.contains(name.lowercased())
    }

    /// Whether the benchmark `name` was selected by --only.
    func wants(_ name: String) -> Bool {
        only.isEmpty || only.contains { name.lowercased().contains($0) }
    }
}
