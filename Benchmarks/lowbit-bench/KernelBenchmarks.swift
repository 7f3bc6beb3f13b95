import ArgumentParser
import Foundation
import LowbitSystem
import LowbitFormats

/// Writes `message` to standard error, prefixed with the program's name.
func log(_ message: String) {
    FileHandle.standardError.write(Data("lowbit-bench: \(message)\n".utf8))
}

/// Runs `body` with a fresh peak-RSS measurement and returns its result and the peak.
func withPeakRSS<T>(_ body: () throws -> T) rethrows -> (T, Int?) {
    let resettable = Measure.resetPeakRSS()
    let value = try body()
    return (value, resettable ? Measure.peakRSS() : nil)
}

extension LowbitBench {
    /// The kernel benchmarks: memcpy, decode, statistics, hash, every quantizer, the packed
    /// matrix products and (with --model and --text) the evaluator, then the report.
    func run() throws {
        let options = self
        var results: [BenchResult] = []
        do {
            if options.names("gptq") {
                results.append(try GPTQBenchmark.run(threads: options.threadCounts.max() ?? 1))
                if options.only.allSatisfy({ $0 == "gptq" }) {
                    let load = Report.loadAverage()
                    if options.json {
                        print(Report.json(results, fileGB: 0, writeSeconds: 0, load: load))
                    } else {
                        print(Report.table(results, fileGB: 0, writeSeconds: 0, load: load), terminator: "")
                    }
                    return
                }
            }
            let directory = options.directory + "/lowbit-bench-\(SystemCalls.processID)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/bench.safetensors"

            let targetBytes = Int(options.sizeGB * 1e9)
            log("writing \(String(format: "%.1f", options.sizeGB)) GB of BF16 tensors to \(path)")
            let writeSeconds = try BenchFile.write(path: path, bytes: targetBytes)
            let source = try ModelFile.open(path)
            let fileBytes = Double(source.tensors.reduce(0) { $0 + $1.byteCount })
            let fileGB = fileBytes / 1e9

            if options.wants("memcpy") {
                let bytes = min(Int(fileBytes), 1 << 30)
                for t in options.threadCounts {
                    log("memcpy, \(t) thread(s)")
                    let (timing, peak) = withPeakRSS { StreamKernels.memcpy(bytes: bytes, threads: t) }
                    results.append(BenchResult(name: "memcpy", threads: t, work: Double(bytes) / 1e9, timing: timing,
                                               unit: "GB/s", peakRSS: peak, note: "\(bytes >> 20) MiB buffers"))
                }
            }
            if options.wants("hash") {
                let bytes = min(Int(fileBytes), 1 << 30)
                log("ContentHash (resume manifests), 1 thread")
                let (timing, peak) = withPeakRSS { StreamKernels.contentHash(bytes: bytes) }
                results.append(BenchResult(name: "ContentHash", threads: 1, work: Double(bytes) / 1e9, timing: timing,
                                           unit: "GB/s", peakRSS: peak, note: "the shard hash of --resume, one stream"))
            }
            if options.wants("decode") {
                for t in options.threadCounts {
                    log("BF16 -> F32 decode, \(t) thread(s)")
                    let (timing, peak) = try withPeakRSS { try StreamKernels.decode(source, threads: t) }
                    results.append(BenchResult(name: "BF16->F32 decode", threads: t, work: fileBytes / 1e9, timing: timing,
                                               unit: "GB/s", peakRSS: peak, note: "GB/s of BF16 input, mapped file"))
                }
            }
            if options.wants("stats") {
                for t in options.threadCounts {
                    log("inspect --stats pass, \(t) thread(s)")
                    let (timing, peak) = try withPeakRSS { try StreamKernels.statistics(source, threads: t) }
                    results.append(BenchResult(name: "inspect --stats", threads: t, work: fileBytes / 1e9, timing: timing,
                                               unit: "GB/s", peakRSS: peak, note: "TensorStatistics.compute over the file"))
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
                            // Size each run to take about half a second of CPU (at least 256 rows).
                            let probeRows = 256
                            let probe = q.make(probeRows, rowLength, t)
                            let probeTiming = Measure.best(repetitions: 1) { probe(buffer.baseAddress!) }
                            let rate = Double(probeRows) / max(probeTiming.cpu / Double(t), 1e-6)
                            let rows = max(probeRows, min(tensor.rowCount, Int(rate * 0.5)))
                            let run = q.make(rows, rowLength, t)
                            let (timing, peak) = withPeakRSS { Measure.best(repetitions: 3) { run(buffer.baseAddress!) } }
                            let elements = Double(rows * rowLength)
                            let result = BenchResult(name: q.name, threads: t, work: elements / 1e6, timing: timing,
                                                     unit: "Melem/s", bf16Bytes: elements * 2, peakRSS: peak,
                                                     note: "\(rows)x\(rowLength) F32 rows")
                            log("\(q.name), \(t) thread(s): \(Report.format(result.value)) Melem/s (cpu-est \(Report.format(result.cpuValue)))")
                            results.append(result)
                        }
                    }
                }
            }

            if options.wants("matmul") {
                results += MatrixBenchmark.run(threads: options.threadCounts)
            }

            if let model = options.model, let text = options.text, options.wants("eval") {
                log("evaluator prefill on \(model)")
                results += try EvalBenchmark.run(model: model, text: text, chunks: options.chunks, threads: options.threadCounts)
            }

            let load = Report.loadAverage()
            if options.json {
                print(Report.json(results, fileGB: fileGB, writeSeconds: writeSeconds, load: load))
            } else {
                print(Report.table(results, fileGB: fileGB, writeSeconds: writeSeconds, load: load), terminator: "")
            }
        } catch {
            log("error: \(error)")
            throw ExitCode.failure
        }
    }
}
