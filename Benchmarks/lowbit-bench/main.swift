import Foundation
import LowbitFormats

// lowbit-bench: throughput of Lowbit's kernels over a generated multi-GB BF16 file, beside this
// machine's memcpy measured by the same program. See BenchOptions.usage.
//
// TODO(eval): prefill tokens/s of the evaluator belongs here too; `lowbit perplexity MODEL
// --text FILE --json` already reports "tokens_per_second" (run it on the F16 SmolLM2 beside
// llama-perplexity's figure in shared/notes/peer-figures.md).

let options = BenchOptions.parse(Array(CommandLine.arguments.dropFirst()))
var results: [BenchResult] = []
func log(_ message: String) {
    FileHandle.standardError.write(Data("lowbit-bench: \(message)\n".utf8))
}

do {
    let directory = options.directory + "/lowbit-bench-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/bench.safetensors"

    let targetBytes = Int(options.sizeGB * 1e9)
    log("writing \(String(format: "%.1f", options.sizeGB)) GB of BF16 tensors to \(path)")
    let writeSeconds = try BenchFile.write(path: path, bytes: targetBytes)
    let source = try ModelFile.open(path)
    let fileBytes = source.tensors.reduce(0) { $0 + $1.byteCount }
    let fileGB = Double(fileBytes) / 1e9

    if options.wants("memcpy") {
        let bytes = min(fileBytes, 1 << 30)
        for t in options.threadCounts {
            log("memcpy, \(t) thread(s)")
            results.append(BenchResult(name: "memcpy", threads: t, value: StreamKernels.memcpy(bytes: bytes, threads: t),
                                       unit: "GB/s", note: "\(bytes >> 20) MiB buffers"))
        }
    }
    if options.wants("decode") {
        for t in options.threadCounts {
            log("BF16 -> F32 decode, \(t) thread(s)")
            results.append(BenchResult(name: "BF16->F32 decode", threads: t,
                                       value: try StreamKernels.decode(source, threads: t), unit: "GB/s",
                                       note: "GB/s of BF16 input, mapped file"))
        }
    }
    if options.wants("stats") {
        for t in options.threadCounts {
            log("inspect --stats pass, \(t) thread(s)")
            results.append(BenchResult(name: "inspect --stats", threads: t,
                                       value: try StreamKernels.statistics(source, threads: t), unit: "GB/s",
                                       note: "TensorStatistics.compute over the file"))
        }
    }

    let quantizers = QuantizerCase.all().filter { options.wants($0.name) }
    if !quantizers.isEmpty {
        // Input: the first tensor decoded to F32 (4096 rows of 4096).
        let tensor = source.tensors[0]
        let input = try source.withBytes(of: tensor) { FloatFormat.bf16.decode($0) }
        let rowLength = tensor.rowLength
        try input.withUnsafeBufferPointer { buffer in
            for q in quantizers {
                for t in options.threadCounts {
                    // Size each run to take about half a second (at least 256 rows).
                    let probeRows = 256
                    let probe = q.make(probeRows, rowLength, t)
                    let probeSeconds = Measure.best(repetitions: 1) { probe(buffer.baseAddress!) }
                    let rate = Double(probeRows) / max(probeSeconds, 1e-6)
                    let rows = max(probeRows, min(tensor.rowCount, Int(rate * 0.5)))
                    let run = q.make(rows, rowLength, t)
                    let seconds = Measure.best(repetitions: 3) { run(buffer.baseAddress!) }
                    let elementsPerSecond = Double(rows * rowLength) / seconds
                    log("\(q.name), \(t) thread(s): \(String(format: "%.0f", elementsPerSecond / 1e6)) Melem/s")
                    results.append(BenchResult(name: q.name, threads: t, value: elementsPerSecond / 1e6, unit: "Melem/s",
                                               bf16GBps: elementsPerSecond * 2 / 1e9, note: "\(rows)x\(rowLength) F32 rows"))
                }
            }
        }
        _ = try? FileManager.default.removeItem(atPath: path)
    }

    let peak = Measure.peakRSS()
    if options.json {
        print(Report.json(results, fileGB: fileGB, writeSeconds: writeSeconds, peakRSS: peak))
    } else {
        print(Report.table(results, fileGB: fileGB, writeSeconds: writeSeconds, peakRSS: peak), terminator: "")
    }
} catch {
    log("error: \(error)")
    exit(1)
}
