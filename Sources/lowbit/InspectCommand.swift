import ArgumentParser
import Foundation
import LowbitFormats
import LowbitQuant

/// `lowbit inspect PATH`: what a model file holds — tensors, metadata, totals, and optionally the
/// statistics of every tensor's values.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the tensors and metadata of a GGUF file, a safetensors file or a checkpoint directory.",
        discussion: """
            PATH is a .gguf file, a .safetensors file, a Hugging Face checkpoint directory, or its \
            model.safetensors.index.json. Shapes are printed in the order the file stores them \
            (GGUF: fastest dimension first). Offsets are absolute in the file holding the tensor.
            """)

    @Argument(help: "The model file, checkpoint directory or index to inspect.")
    var path: String

    @Flag(help: "Print {\"format\", \"metadata\", \"tensors\"} as JSON instead of a table.")
    var json = false

    @Flag(help: "Compute min, max, mean, std, absmax (over finite values) and NaN/Inf counts of every decodable tensor.")
    var stats = false

    @Flag(help: "Show arrays longer than 64 items and long strings in full in the metadata table.")
    var full = false

    @Option(help: "Only list tensors whose name matches this regular expression (searched anywhere in the name).")
    var filter: String?

    @Option(help: "Threads for --stats: by default one per core of this machine.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        if let filter {
            do { _ = try Regex(filter) } catch {
                throw ValidationError("--filter '\(filter)' is not a valid regular expression: \(error)")
            }
        }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let source = try ModelFile.open(path)
        if let checkpoint = source as? SafetensorsCheckpoint {
            for ignored in checkpoint.ignoredFiles {
                ErrorReporter.printError("lowbit: note: \(ignored) is not referenced by the checkpoint and was not read")
            }
        }
        var tensors = source.tensors
        if let filter {
            let regex = try Regex(filter)
            tensors = tensors.filter { $0.name.contains(regex) }
        }
        let statistics: [TensorStatistics?]? = stats ? try computeStatistics(tensors, source) : nil

        if json {
            let document = InspectReport.json(source: source, tensors: tensors, statistics: statistics)
            print(document.serialized(pretty: true))
        } else {
            print(InspectReport.table(source: source, tensors: tensors, statistics: statistics, full: full),
                  terminator: "")
        }
    }

    private func computeStatistics(_ tensors: [TensorInfo], _ source: any TensorSource) throws -> [TensorStatistics?] {
        let decodable = tensors.filter { InspectDecoders.decoder(for: $0.type) != nil }
        let bar = ProgressBar(title: "stats", totalItems: decodable.count,
                              totalBytes: decodable.reduce(0) { $0 + $1.byteCount })
        defer { bar.finish() }
        return try TensorStatistics.compute(tensors, in: source, threads: threads,
                                            decoder: InspectDecoders.decoder(for:)) { bytes, done in
            bar.advance(items: done ? 1 : 0, bytes: bytes)
        }
    }
}

/// The decoders `inspect --stats` uses: the plain float types from LowbitFormats, and every GGUF
/// block type the quantization kernels can dequantize.
enum InspectDecoders {
    @Sendable
    static func decoder(for type: TensorType) -> BlockDecoder? {
        if let float = BlockDecoder.floatTypes(type) { return float }
        guard case .ggml(let blockType) = type, let codec = GGUFCodecs.codec(for: blockType) else { return nil }
        // The single-threaded row kernel: TensorStatistics already spreads chunks over threads.
        return BlockDecoder(elementsPerBlock: blockType.blockSize, bytesPerBlock: blockType.bytesPerBlock) {
            source, destination, count in
            codec.dequantize(source, into: destination, count: count)
        }
    }
}

/// The text and JSON renderings of `inspect`.
enum InspectReport {
    /// `{"format", "metadata", "tensors"}`.
    static func json(source: any TensorSource, tensors: [TensorInfo], statistics: [TensorStatistics?]?) -> JSONValue {
        let items: [JSONValue] = tensors.indices.map { i in
            JSONOutput.json(tensors[i], stats: statistics?[i] ?? nil, includeStats: statistics != nil)
        }
        return .object([
            (key: "format", value: .string(source.format.rawValue)),
            (key: "metadata", value: JSONOutput.json(source.metadata)),
            (key: "tensors", value: .array(items)),
        ])
    }

    /// Arrays longer than this are shown as their type and count unless `--full`.
    static let arraySummaryLimit = 64
    /// Strings longer than this are cut unless `--full`.
    static let stringSummaryLimit = 160

    /// The readable report: a summary line, the metadata, the tensor table, totals by dtype and
    /// the parameter count.
    static func table(source: any TensorSource, tensors: [TensorInfo], statistics: [TensorStatistics?]?,
                      full: Bool) -> String {
        var out = ""
        let totalBytes = tensors.reduce(0) { $0 + $1.byteCount }
        let parameters = tensors.reduce(0) { $0 + $1.elementCount }
        var header = "\(source.path): \(source.format.rawValue)"
        if let gguf = source as? GGUFFile { header += " v\(gguf.version), alignment \(gguf.alignment)" }
        if let checkpoint = source as? SafetensorsCheckpoint, checkpoint.shards.count > 1 {
            header += ", \(checkpoint.shards.count) shards"
        }
        header += ", \(source.tensors.count) tensors"
        if tensors.count != source.tensors.count { header += " (\(tensors.count) match the filter)" }
        out += header + "\n\n"

        out += "Metadata (\(source.metadata.count) keys)\n"
        if source.metadata.isEmpty { out += "  (none)\n" }
        for (key, value) in source.metadata {
            out += "  \(key) = \(describe(value, full: full))\n"
        }

        out += "\nTensors\n"
        var columns = ["name", "dtype", "shape", "size", "offset"]
        if statistics != nil { columns += ["min", "max", "mean", "std", "absmax", "nan", "inf"] }
        if source.tensors.contains(where: { $0.file != source.path }) { columns.append("file") }
        var rows: [[String]] = []
        for (i, t) in tensors.enumerated() {
            var row = [t.name, t.type.name, "[" + t.shape.map(String.init).joined(separator: ", ") + "]",
                       formatBytes(t.byteCount), String(t.offset)]
            if let statistics {
                if let s = statistics[i] {
                    row += [s.min, s.max, s.mean, s.std, s.absmax].map(formatNumber)
                    row += [String(s.nanCount), String(s.infCount)]
                } else {
                    row += Array(repeating: "-", count: 7)
                }
            }
            if columns.last == "file" { row.append(t.file) }
            rows.append(row)
        }
        let rightAligned: Set<String> = ["size", "offset", "min", "max", "mean", "std", "absmax", "nan", "inf"]
        out += renderTable(columns: columns, rows: rows, rightAligned: rightAligned)

        out += "\nTotals by dtype\n"
        var byType: [String: (tensors: Int, parameters: Int, bytes: Int)] = [:]
        var order: [String] = []
        for t in tensors {
            if byType[t.type.name] == nil { order.append(t.type.name) }
            byType[t.type.name, default: (0, 0, 0)].tensors += 1
            byType[t.type.name, default: (0, 0, 0)].parameters += t.elementCount
            byType[t.type.name, default: (0, 0, 0)].bytes += t.byteCount
        }
        let totalRows = order.map { name -> [String] in
            let e = byType[name]!
            return [name, String(e.tensors), grouped(e.parameters), formatBytes(e.bytes),
                    e.parameters > 0 ? String(format: "%.2f", Double(e.bytes) * 8 / Double(e.parameters)) : "-"]
        } + [["total", String(tensors.count), grouped(parameters), formatBytes(totalBytes),
              parameters > 0 ? String(format: "%.2f", Double(totalBytes) * 8 / Double(parameters)) : "-"]]
        out += renderTable(columns: ["dtype", "tensors", "parameters", "size", "bits/weight"], rows: totalRows,
                           rightAligned: ["tensors", "parameters", "size", "bits/weight"])
        out += "\nParameters: \(grouped(parameters)) (\(formatCount(parameters)))\n"
        return out
    }

    /// A metadata value for the table: strings quoted and escaped, long arrays as a count.
    static func describe(_ value: MetadataValue, full: Bool) -> String {
        switch value {
        case .string(let s):
            let escaped = JSONValue.string(s).serialized()
            if !full, s.count > stringSummaryLimit {
                let cut = JSONValue.string(String(s.prefix(stringSummaryLimit))).serialized()
                return String(cut.dropLast()) + "...\" (\(s.count) characters)"
            }
            return escaped
        case .array(let type, let items):
            if !full, items.count > arraySummaryLimit { return "[\(type.name) x \(items.count)]" }
            return "[" + items.map { describe($0, full: full) }.joined(separator: ", ") + "]"
        case .float32(let v): return v.description
        case .float64(let v): return v.description
        case .bool(let v): return v ? "true" : "false"
        case .uint8(let v): return String(v)
        case .int8(let v): return String(v)
        case .uint16(let v): return String(v)
        case .int16(let v): return String(v)
        case .uint32(let v): return String(v)
        case .int32(let v): return String(v)
        case .uint64(let v): return String(v)
        case .int64(let v): return String(v)
        }
    }

    /// Columns padded to their widest cell; a dashed line under the header.
    static func renderTable(columns: [String], rows: [[String]], rightAligned: Set<String>) -> String {
        var widths = columns.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            var parts: [String] = []
            for (i, cell) in cells.enumerated() {
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                let isLast = i == cells.count - 1
                parts.append(rightAligned.contains(columns[i]) ? pad + cell : (isLast ? cell : cell + pad))
            }
            return "  " + parts.joined(separator: "  ") + "\n"
        }
        return line(columns) + line(widths.map { String(repeating: "-", count: $0) }) + rows.map(line).joined()
    }

    static func formatBytes(_ bytes: Int) -> String { ProgressBar.formatBytes(bytes) }

    /// `1234567` as `1,234,567`.
    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// `134515008` as `134.5M`.
    static func formatCount(_ n: Int) -> String {
        let v = Double(n)
        if v >= 1e9 { return String(format: "%.2fB", v / 1e9) }
        if v >= 1e6 { return String(format: "%.1fM", v / 1e6) }
        if v >= 1e3 { return String(format: "%.1fK", v / 1e3) }
        return String(n)
    }

    /// A statistic with 5 significant digits; `-` when undefined.
    static func formatNumber(_ v: Double) -> String {
        v.isFinite ? String(format: "%.5g", v) : "-"
    }
}
