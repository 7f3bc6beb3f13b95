import Foundation
import LowbitFormats

/// One measured figure.
struct BenchResult {
    var name: String
    var threads: Int
    /// Work per wall-clock second, in ``unit``.
    var value: Double
    /// Work per CPU second times the thread count: what the wall-clock figure would be on an
    /// otherwise idle machine with perfect scaling (on a shared, busy machine wall-clock
    /// figures fall, this one does not).
    var cpuValue: Double
    /// `GB/s` for the memory-bound kernels, `Melem/s` for quantizers.
    var unit: String
    /// For quantizers: GB/s of BF16 input (2 bytes per element), wall clock.
    var bf16GBps: Double?
    /// Peak RSS during this benchmark (VmHWM after a reset), if measurable.
    var peakRSS: Int?
    var note: String?

    /// A result for `work` units done in `timing` on `threads` threads.
    init(name: String, threads: Int, work: Double, timing: Measure.Timing, unit: String,
         bf16Bytes: Double? = nil, peakRSS: Int?, note: String?) {
        self.name = name
        self.threads = threads
        self.value = work / timing.wall
        self.cpuValue = work / max(timing.cpu, 1e-9) * Double(threads)
        self.unit = unit
        self.bf16GBps = bf16Bytes.map { $0 / timing.wall / 1e9 }
        self.peakRSS = peakRSS
        self.note = note
    }
}

/// The table and JSON forms of the results.
enum Report {
    static func table(_ results: [BenchResult], fileGB: Double, writeSeconds: Double, load: String) -> String {
        var out = "lowbit-bench: \(String(format: "%.2f", fileGB)) GB BF16 file, written in "
            + "\(String(format: "%.1f", writeSeconds)) s; \(ProcessInfo.processInfo.activeProcessorCount) cores; "
            + "page cache warm; load average \(load)\n"
        out += "throughput: per wall-clock second; cpu-est: per CPU second x threads (unaffected by other load)\n\n"
        let header = ["benchmark", "threads", "throughput", "cpu-est", "unit", "BF16 GB/s", "peak RSS", "note"]
        let rows = results.map { r in
            [r.name, String(r.threads), format(r.value), format(r.cpuValue), r.unit,
             r.bf16GBps.map { String(format: "%.2f", $0) } ?? "",
             r.peakRSS.map { String(format: "%.0f MB", Double($0) / 1e6) } ?? "", r.note ?? ""]
        }
        var widths = header.map(\.count)
        for row in rows { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return [1, 2, 3, 5, 6].contains(i) ? pad + c : c + pad
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
        }
        out += line(header) + line(widths.map { String(repeating: "-", count: $0) })
        out += rows.map(line).joined()
        if let peak = Measure.peakRSS() {
            out += "\npeak RSS since the last reset: \(String(format: "%.0f", Double(peak) / 1e6)) MB\n"
        }
        return out
    }

    static func format(_ v: Double) -> String { String(format: v >= 100 ? "%.0f" : "%.2f", v) }

    static func json(_ results: [BenchResult], fileGB: Double, writeSeconds: Double, load: String) -> String {
        let items: [JSONValue] = results.map { r in
            var members: [(key: String, value: JSONValue)] = [
                (key: "name", value: .string(r.name)),
                (key: "threads", value: .integer(Int64(r.threads))),
                (key: "value", value: .number(r.value)),
                (key: "cpu_estimate", value: .number(r.cpuValue)),
                (key: "unit", value: .string(r.unit)),
            ]
            if let g = r.bf16GBps { members.append((key: "bf16_gb_per_s", value: .number(g))) }
            if let m = r.peakRSS { members.append((key: "peak_rss_bytes", value: .integer(Int64(m)))) }
            if let n = r.note { members.append((key: "note", value: .string(n))) }
            return .object(members)
        }
        let doc: JSONValue = .object([
            (key: "file_gb", value: .number(fileGB)),
            (key: "write_seconds", value: .number(writeSeconds)),
            (key: "cores", value: .integer(Int64(ProcessInfo.processInfo.activeProcessorCount))),
            (key: "load_average", value: .string(load)),
            (key: "results", value: .array(items)),
        ])
        return doc.serialized(pretty: true)
    }

    /// The 1, 5 and 15 minute load averages (/proc/loadavg), or "?".
    static func loadAverage() -> String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "?" }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }
}
