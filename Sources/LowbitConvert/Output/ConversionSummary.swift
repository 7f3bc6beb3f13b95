import Foundation
import LowbitFormats
import LowbitQuant

/// Shards of a directory output: how many a resumed run took over and how many it wrote.
public struct ShardCounts: Sendable, Equatable {
    /// Finished shards a resumed run took over.
    public var reused = 0
    /// Shards this run wrote.
    public var written = 0
}

/// What a conversion did: per-tensor reports and the totals a user wants at the end.
public struct ConversionSummary: Sendable {
    /// The plan that was run.
    public var plan: ConversionPlan
    /// What happened to each tensor, in plan order.
    public var tensors: [TensorReport]
    /// Wall-clock time of the conversion.
    public var seconds: Double
    /// For directory outputs: shards taken over from a resumed run, and shards written.
    public var shards: ShardCounts?

    /// The summary of running `plan`.
    public init(plan: ConversionPlan, tensors: [TensorReport], seconds: Double, shards: ShardCounts? = nil) {
        self.plan = plan
        self.tensors = tensors
        self.seconds = seconds
        self.shards = shards
    }

    /// Tensors per output encoding.
    public var countsByEncoding: [(encoding: String, count: Int)] {
        var counts: [String: Int] = [:]
        for t in tensors { counts[t.encoding, default: 0] += 1 }
        return counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Bytes read from the input.
    public var inputBytes: Int { tensors.reduce(0) { $0 + $1.inputBytes } }
    /// Bytes of tensor data written.
    public var outputBytes: Int { tensors.reduce(0) { $0 + $1.outputBytes } }
    /// Values converted.
    public var elements: Int { tensors.reduce(0) { $0 + $1.elements } }
    /// Bits per weight of the output tensor data.
    public var bitsPerWeight: Double { elements == 0 ? 0 : Double(outputBytes) * 8 / Double(elements) }
    /// Input bytes processed per second.
    public var gigabytesPerSecond: Double { seconds > 0 ? Double(inputBytes) / seconds / 1e9 : 0 }

    /// Tensors whose type differs from what the target asked (fallbacks, overrides, kept).
    public var substitutions: [TensorReport] {
        tensors.filter {
            switch $0.reason {
            case .fallback, .override: true
            default: false
            }
        }
    }

    /// A summary for people.
    public func text() -> String {
        var lines: [String] = []
        lines.append("converted \(tensors.count) tensors to \(plan.output.path) (\(plan.options.target.name))")
        for (encoding, count) in countsByEncoding { lines.append("  \(encoding.padding(toLength: 18, withPad: " ", startingAt: 0)) \(count)") }
        lines.append(String(format: "  size: %@ -> %@, %.2f bits per weight",
                            Self.bytes(inputBytes), Self.bytes(outputBytes), bitsPerWeight))
        lines.append(String(format: "  time: %.2f s, %.3f GB/s", seconds, gigabytesPerSecond))
        if let shards, shards.reused > 0 {
            lines.append("  shards: \(shards.reused) reused from the interrupted run, \(shards.written) written")
        }
        if !substitutions.isEmpty {
            lines.append("  substitutions (\(substitutions.count) tensors; --json lists each):")
            var groups: [String: [String]] = [:]
            for t in substitutions { groups["\(t.encoding): \(t.reason)", default: []].append(t.output) }
            for (what, names) in groups.sorted(by: { $0.key < $1.key }) {
                let shown = names.prefix(3).joined(separator: ", ") + (names.count > 3 ? ", ..." : "")
                lines.append("    \(names.count) x \(what) [\(shown)]")
            }
        }
        let measured = tensors.compactMap { t in t.error.map { (t.output, $0) } }
        if !measured.isEmpty {
            let worst = measured.min { $0.1.snrDB < $1.1.snrDB }!
            let meanSNR = measured.reduce(0) { $0 + $1.1.snrDB } / Double(measured.count)
            lines.append(String(format: "  error: mean SNR %.1f dB; worst %@ at %.1f dB", meanSNR, worst.0, worst.1.snrDB))
        }
        for w in plan.warnings { lines.append("  warning: \(w)") }
        return lines.joined(separator: "\n")
    }

    /// The summary as JSON for scripts.
    public func json() -> JSONValue {
        func num(_ x: Double) -> JSONValue { x.isFinite ? .number(x) : .null }
        return .object([
            ("output", .string(plan.output.path)),
            ("type", .string(plan.options.target.name)),
            ("tensors", .integer(Int64(tensors.count))),
            ("counts", .object(countsByEncoding.map { ($0.encoding, .integer(Int64($0.count))) })),
            ("input_bytes", .integer(Int64(inputBytes))),
            ("output_bytes", .integer(Int64(outputBytes))),
            ("bits_per_weight", num(bitsPerWeight)),
            ("seconds", num(seconds)),
            ("gb_per_second", num(gigabytesPerSecond)),
            ("shards", shards.map { .object([("reused", .integer(Int64($0.reused))), ("written", .integer(Int64($0.written)))]) } ?? .null),
            ("substitutions", .array(substitutions.map {
                .object([("tensor", .string($0.output)), ("type", .string($0.encoding)), ("reason", .string($0.reason.description))])
            })),
            ("warnings", .array(plan.warnings.map { .string($0) })),
            ("tensor_reports", .array(tensors.map { t in
                var m: [(key: String, value: JSONValue)] = [
                    ("name", .string(t.output)), ("source", .string(t.source)), ("type", .string(t.encoding)),
                    ("reason", .string(t.reason.description)),
                    ("input_bytes", .integer(Int64(t.inputBytes))), ("output_bytes", .integer(Int64(t.outputBytes))),
                ]
                if let e = t.error {
                    m.append(("mse", num(e.mse)))
                    m.append(("snr_db", num(e.snrDB)))
                    m.append(("max_abs_error", num(e.maxAbsError)))
                    m.append(("cosine", num(e.cosine)))
                }
                return .object(m)
            })),
        ])
    }

    static func bytes(_ n: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var x = Double(n), i = 0
        while x >= 1000, i < units.count - 1 { x /= 1000; i += 1 }
        return String(format: i == 0 ? "%.0f %@" : "%.2f %@", x, units[i])
    }
}

extension ConversionPlan {
    /// The plan for `--dry-run`: each tensor, what it becomes and its size.
    public func text() -> String {
        var lines = ["plan: \(jobs.count) tensors -> \(output.path) (\(options.target.name))"]
        for job in jobs {
            var line = "  \(job.outputName)  \(job.encoding.name)  \(ConversionSummary.bytes(job.outputBytes))"
            switch job.reason {
            case .fallback, .override: line += "  [\(job.reason)]"
            default: break
            }
            lines.append(line)
        }
        lines.append("  total: \(ConversionSummary.bytes(inputBytes)) -> \(ConversionSummary.bytes(outputBytes))")
        for w in warnings { lines.append("  warning: \(w)") }
        return lines.joined(separator: "\n")
    }

    /// The plan as JSON.
    public func json() -> JSONValue {
        .object([
            ("output", .string(output.path)),
            ("type", .string(options.target.name)),
            ("input_bytes", .integer(Int64(inputBytes))),
            ("output_bytes", .integer(Int64(outputBytes))),
            ("tensors", .array(jobs.map { job in
                .object([
                    ("name", .string(job.outputName)), ("source", .string(job.sourceName)),
                    ("type", .string(job.encoding.name)), ("reason", .string(job.reason.description)),
                    ("bytes", .integer(Int64(job.outputBytes))),
                    ("parts", .array(job.outputs.map { .string($0.name) })),
                ])
            })),
            ("warnings", .array(warnings.map { .string($0) })),
        ])
    }
}
