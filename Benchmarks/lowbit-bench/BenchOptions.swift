import Foundation

/// Command line of `lowbit-bench` (parsed by hand: the benchmark target links only Lowbit's own
/// modules).
struct BenchOptions {
    /// Size of the generated BF16 file in GB (10^9 bytes).
    var sizeGB: Double = 2
    /// Only run benchmarks whose name contains one of these (case-insensitive); all when empty.
    var only: [String] = []
    /// Print the results as JSON instead of a table.
    var json = false
    /// Directory for the generated file (deleted afterwards).
    var directory: String = FileManager.default.temporaryDirectory.path
    /// Thread counts for the kernels.
    var threadCounts: [Int] = [1, 2]
    /// A model (GGUF or Hugging Face directory) and text for the evaluator's tokens/s.
    var model: String?
    var text: String?
    /// Chunks of 512 tokens the evaluator benchmark scores.
    var chunks = 8

    static let usage = """
        USAGE: lowbit-bench [--size-gb N] [--only NAME[,NAME...]] [--json] [--dir PATH] [--threads 1,2]
                            [--model MODEL --text FILE [--chunks N]]

        Generates a BF16 safetensors file of N GB (default 2) in a temporary directory (deleted
        afterwards) and measures, in one program: memcpy GB/s, BF16->F32 decode GB/s, the
        statistics pass of `lowbit inspect --stats` GB/s, ContentHash GB/s (the shard hash of
        --resume), and every quantizer in Melem/s on each
        thread count, with peak RSS; then the evaluator's packed matrix products in GFLOP/s (f32
        and bf16, on Llama-shaped matrices). Names for --only: memcpy, decode, stats, hash, quantizer
        names (q8_0, q4_k, fp8, int4, ...), matmul. With --model and --text it also measures the
        evaluator's prefill tokens/s in each precision (`lowbit perplexity`'s work, ctx 512,
        --chunks chunks; name: eval).
        """

    /// Parses `arguments` (without the program name); exits with status 2 on a usage error.
    static func parse(_ arguments: [String]) -> BenchOptions {
        var options = BenchOptions()
        var cursor = ArgumentCursor(arguments, fail: fail)
        func value() -> String { cursor.value() }
        while let argument = cursor.next() {
            switch argument {
            case "--size-gb":
                guard let v = Double(value()), v > 0 else { fail("--size-gb needs a positive number") }
                options.sizeGB = v
            case "--only":
                options.only = value().split(separator: ",").map { $0.lowercased() }
            case "--json":
                options.json = true
            case "--dir":
                options.directory = value()
            case "--threads":
                let counts = value().split(separator: ",").compactMap { Int($0) }
                guard !counts.isEmpty, counts.allSatisfy({ $0 >= 1 }) else { fail("--threads needs counts like 1,2") }
                options.threadCounts = counts
            case "--model":
                options.model = value()
            case "--text":
                options.text = value()
            case "--chunks":
                guard let v = Int(value()), v > 0 else { fail("--chunks needs a positive number") }
                options.chunks = v
            case "-h", "--help":
                print(usage)
                exit(0)
            default:
                fail("unknown argument '\(argument)'")
            }
        }
        return options
    }

    /// Whether the benchmark `name` was selected by --only.
    func wants(_ name: String) -> Bool {
        only.isEmpty || only.contains { name.lowercased().contains($0) }
    }

    private static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("lowbit-bench: \(message)\n\n\(usage)\n".utf8))
        exit(2)
    }
}
