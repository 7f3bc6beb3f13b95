import Foundation
import LowbitFormats

/// One measured figure.
struct BenchResult {
    var name: String
    var threads: Int
    /// The main figure, in ``unit``.
    var value: Double
    /// `GB/s` for the memory-bound kernels, `Melem/s` for quantizers.
    var unit: String
    /// For quantizers: GB/s of BF16 input (2 bytes per element).
    var bf16GBps: Double?
    var note: String?
}

/// The table and JSON forms of the results.
enum Report {
    static func table(_ results: [BenchResult], fileGB: Double, writeSeconds: Double, peakRSS: Int?) -> String {
        var out = "lowbit-bench: \(String(format: "%.2f", fileGB)) GB BF16 file, written in \(String(format: "%.1f", writeSeconds)) s; "
        out += "\(ProcessInfo.processInfo.activeProcessorCount) cores; page cache warm\n\n"
        let header = ["benchmark", "threads", "throughput", "unit", "BF16 GB/s", "note"]
        let rows = results.map { r in
            [r.name, String(r.threads), String(format: r.value >= 100 ? "%.0f" : "%.2f", r.value), r.unit,
             r.bf16GBps.map { String(format: "%.2f", $0) } ?? "", r.note ?? ""]
        }
        var widths = header.map(\.count)
        for row in rows { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return (1...4).contains(i) ? pad + c : c + pad
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
        }
        out += line(header) + line(widths.map { String(repeating: "-", count: $0) })
        out += rows.map(line).joined()
        if let peakRSS { out += "\npeak RSS: \(String(format: "%.0f", Double(peakRSS) / 1e6)) MB (VmHWM)\n" }
        return out
    }

    static func json(_ results: [BenchResult], fileGB: Double, writeSeconds: Double, peakRSS: Int?) -> String {
        let items: [JSONValue] = results.map { r in
            var members: [(key: String, value: JSONValue)] = [
                (key: "name", value: .string(r.name)),
                (key: "threads", value: .integer(Int64(r.threads))),
                (key: "value", value: .number(r.value)),
                (key: "unit", value: .string(r.unit)),
            ]
            if let g = r.bf16GBps { members.append((key: "bf16_gb_per_s", value: .number(g))) }
            if let n = r.note { members.append((key: "note", value: .string(n))) }
            return .object(members)
        }
        let doc: JSONValue = .object([
            (key: "file_gb", value: .number(fileGB)),
            (key: "write_seconds", value: .number(writeSeconds)),
            (key: "cores", value: .integer(Int64(ProcessInfo.processInfo.activeProcessorCount))),
            (key: "peak_rss_bytes", value: peakRSS.map { .integer(Int64($0)) } ?? .null),
            (key: "results", value: .array(items)),
        ])
        return doc.serialized(pretty: true)
    }
}
