import Foundation
import LowbitFormats
import LowbitModels
import LowbitQuant
import LowbitSystem

/// What happened to one tensor.
public struct TensorReport: Sendable {
    /// The input tensor's name (or the output's, for computed values).
    public var source: String
    /// The output weight's name.
    public var output: String
    /// The encoding's name (`Q4_K`, `INT4_G128`, `copy`).
    public var encoding: String
    /// Why the encoding was chosen.
    public var reason: TypeChoiceReason
    /// Bytes read.
    public var inputBytes: Int
    /// Bytes written.
    public var outputBytes: Int
    /// Values converted.
    public var elements: Int
    /// Quantization error against the (dequantized) source values, when measured.
    public var error: ErrorMetrics?
}

/// Runs one ``TensorJob``: reads its source in row strips, reorders rotary rows, checks for
/// non-finite values, encodes, and hands the bytes to the writer. Memory stays at a few strips
/// however large the tensor is.
struct JobRunner {
    let job: TensorJob
    let source: any TensorSource
    let measureError: Bool
    /// Results a calibrated method chose (GPTQ), packed instead of rounding where the job's
    /// layout is an INT layout.
    var calibrated: (any CalibratedEncodings)? = nil
    /// Floats per strip (about 16 MB of F32). Strip buffers stay below glibc's largest mmap
    /// threshold (32 MiB), so after the first strip they are recycled from the heap instead of
    /// being mapped, faulted in and zeroed by the kernel afresh every time.
    static let stripElements = 4 << 20

    func run(into out: StripWriter, progress: (Int) -> Void) throws -> TensorReport {
        var accumulator = ErrorMetrics.Accumulator()
        var trailing: [[UInt8]] = []
        switch job.input {
        case .values(let values):
            try out.append(try encodeFloats(values))
        case .tensor(let tensor):
            let stripRows = self.stripRows()
            let tensorAbsmax = try perTensorAbsmax(tensor, stripRows: stripRows)
            var trailer = LayoutTrailer()
            // Dequantized strips for the error metrics, reused across strips: a fresh 16 MB array
            // per strip costs more in page faults and zeroing than the dequantization itself.
            var decoded: [Float] = []
            let precomputed = try calibratedResult(tensor)
            var row = 0
            while row < job.rows {
                let rows = row..<min(job.rows, row + stripRows, importanceRows(from: row).rows.upperBound)
                if case .copy = job.encoding {
                    try out.append(try rawRows(tensor, rows))
                    if TensorDecoder.canDecode(tensor.type) { _ = try decodeStrip(tensor, rows) }
                } else if let (layout, result) = precomputed {
                    let values = try decodeStrip(tensor, rows)
                    let strip = layout.encode(precomputed: try stripResult(result, rows: rows, quantizer: layout.quantizer),
                                              rowLength: job.rowLength, trailer: &trailer)
                    if measureError {
                        try Self.measure(values, scratch: &decoded, accumulator: &accumulator, decode: strip.dequantize)
                    }
                    try out.append(strip.bytes)
                } else {
                    let values = try decodeStrip(tensor, rows)
                    try encodeStrip(values, importance: importanceRows(from: rows.lowerBound).vector.map(Array.init),
                                    into: out, tensorAbsmax: tensorAbsmax, trailer: &trailer,
                                    accumulator: &accumulator, decoded: &decoded)
                }
                progress(rows.count * (tensor.byteCount / max(1, job.rows)))
                row = rows.upperBound
            }
            trailing = job.encoding.layout?.finish(trailer, rows: job.rows, columns: job.rowLength) ?? []
            source.release(tensor)
        }
        for part in trailing { try out.append(part) }
        return TensorReport(source: job.sourceName, output: job.outputName, encoding: job.encoding.name,
                            reason: job.reason, inputBytes: job.inputBytes, outputBytes: job.outputBytes,
                            elements: job.rows * job.rowLength,
                            error: measureError && job.encoding.isQuantized ? accumulator.metrics : nil)
    }

    /// Rows per strip: about ``stripElements`` floats, a whole number of rotary heads and of
    /// 128-row FP8 blocks.
    func stripRows() -> Int {
        var unit = 1
        if let rot = job.rotary { unit = job.rows / rot.heads }
        if let layout = job.encoding.layout { unit = lcm(unit, layout.stripRowMultiple) }
        let target = max(1, Self.stripElements / max(1, job.rowLength))
        return max(unit, target / unit * unit)
    }

    private func lcm(_ a: Int, _ b: Int) -> Int {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return a / x * b
    }

    /// The rows that share `row`'s importance vector (all of them, but for a weight of several
    /// matrices, the rows of `row`'s matrix), and that vector; strips never straddle two.
    func importanceRows(from row: Int) -> (rows: Range<Int>, vector: ArraySlice<Float>?) {
        guard let importance = job.importance, importance.count > job.rowLength, job.rowLength > 0 else {
            return (0..<job.rows, job.importance?[...])
        }
        let perMatrix = max(1, job.rows / (importance.count / job.rowLength))
        let m = row / perMatrix
        return ((m * perMatrix)..<((m + 1) * perMatrix),
                importance[(m * job.rowLength)..<((m + 1) * job.rowLength)])
    }

    /// The calibrated result of the job's tensor and the INT layout that packs it, when the
    /// method encoded the tensor and the job stores it with an INT layout.
    func calibratedResult(_ tensor: TensorInfo) throws -> (any IntGroupWeightLayout, IntGroupQuantizer.Result)? {
        guard let calibrated, let layout = job.encoding.layout as? any IntGroupWeightLayout,
              let result = try calibrated.result(for: tensor.name, quantizer: layout.quantizer,
                                                 rows: job.rows, columns: job.rowLength) else { return nil }
        return (layout, result)
    }

    /// The output rows `rows` of a whole-tensor result stored in the source's row order: each
    /// output row takes its source row's codes, scales and offsets (see ``sourceRow(_:)``).
    func stripResult(_ whole: IntGroupQuantizer.Result, rows: Range<Int>, quantizer q: IntGroupQuantizer) throws -> IntGroupQuantizer.Result {
        let words = q.wordsPerRow(rowLength: job.rowLength), groups = q.groupsPerRow(rowLength: job.rowLength)
        var strip = IntGroupQuantizer.Result(packed: [], scales: [], offsets: whole.offsets == nil ? nil : [])
        strip.packed.reserveCapacity(rows.count * words)
        strip.scales.reserveCapacity(rows.count * groups)
        let map = try sourceRows()
        for r in rows {
            let from = map(r)
            strip.packed += whole.packed[(from * words)..<((from + 1) * words)]
            strip.scales += whole.scales[(from * groups)..<((from + 1) * groups)]
            if let offsets = whole.offsets { strip.offsets! += offsets[(from * groups)..<((from + 1) * groups)] }
        }
        return strip
    }

    /// The source row that output row `r` is made of: itself, or for Q/K rows reordered between
    /// GGUF's and Hugging Face's rotary layouts, its row in the source's layout.
    func sourceRows() throws -> (Int) -> Int {
        guard let rot = job.rotary else { return { $0 } }
        let permutation = try RotaryPermutation(rows: job.rows, heads: rot.heads, file: source.path, item: job.sourceName)
        return { rot.toGGUF ? permutation.hfRow(forGGUFRow: $0) : permutation.ggufRow(forHFRow: $0) }
    }

    /// Decodes rows of the source, puts rotary rows in the output's order, and refuses NaN/Inf.
    func decodeStrip(_ tensor: TensorInfo, _ rows: Range<Int>) throws -> [Float] {
        var values = try TensorDecoder.decode(tensor, from: source, rows: rows)
        job.transform?.apply(to: &values, rows: rows, rowLength: job.rowLength)
        if job.rotary != nil {
            let map = try sourceRows()
            let width = job.rowLength
            let original = values
            values.withUnsafeMutableBufferPointer { dst in
                original.withUnsafeBufferPointer { src in
                    for r in rows {
                        let from = map(r)
                        let s = (from - rows.lowerBound) * width, d = (r - rows.lowerBound) * width
                        for i in 0..<width { dst[d + i] = src[s + i] }
                    }
                }
            }
        }
        try checkFinite(values, tensor: tensor)
        return values
    }

    func checkFinite(_ values: [Float], tensor: TensorInfo) throws {
        var nonFinite = false
        values.withUnsafeBufferPointer { v in
            let n = v.count
            let chunks = (n + Self.parallelChunk - 1) / Self.parallelChunk
            guard chunks > 1 else { nonFinite = Self.hasNonFinite(v); return }
            var flags = [Bool](repeating: false, count: chunks)
            flags.withUnsafeMutableBufferPointer { f in
                Parallel.forEach(chunks) { c in
                    let start = c * Self.parallelChunk
                    f[c] = Self.hasNonFinite(UnsafeBufferPointer(start: v.baseAddress! + start,
                                                                 count: min(n, start + Self.parallelChunk) - start))
                }
            }
            nonFinite = flags.contains(true)
        }
        guard nonFinite else { return }
        let nan = values.filter(\.isNaN).count
        throw ConvertError.nonFiniteWeights(tensor: tensor.name, file: tensor.file, nan: nan,
                                            inf: values.filter(\.isInfinite).count)
    }

    /// Elements per parallel chunk of the whole-strip passes (finiteness check, error metrics).
    static let parallelChunk = 1 << 18

    static func hasNonFinite(_ v: UnsafeBufferPointer<Float>) -> Bool {
        var bad: UInt32 = 0
        for x in v { bad |= (x.bitPattern & 0x7F80_0000) == 0x7F80_0000 ? 1 : 0 }
        return bad != 0
    }

    /// Adds a strip's error to `accumulator`, in fixed chunks on all cores merged in order (so the
    /// result does not depend on scheduling).
    /// Reconstructs a strip into the reused `scratch` buffer with `decode`, then adds its error
    /// against `values` to `accumulator`.
    static func measure(_ values: [Float], scratch: inout [Float], accumulator: inout ErrorMetrics.Accumulator,
                        decode: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        if scratch.count != values.count { scratch = [Float](repeating: 0, count: values.count) }
        var decoded = scratch
        scratch = []  // keep one owner, so writing `decoded` does not copy it
        defer { scratch = decoded }
        try decoded.withUnsafeMutableBufferPointer { try decode($0) }
        accumulateError(original: values, reconstructed: decoded, into: &accumulator)
    }

    static func accumulateError(original: [Float], reconstructed: [Float], into accumulator: inout ErrorMetrics.Accumulator) {
        let n = original.count
        let chunks = (n + parallelChunk - 1) / parallelChunk
        guard chunks > 1 else {
            original.withUnsafeBufferPointer { o in reconstructed.withUnsafeBufferPointer { accumulator.add(original: o, reconstructed: $0) } }
            return
        }
        var parts = [ErrorMetrics.Accumulator](repeating: ErrorMetrics.Accumulator(), count: chunks)
        parts.withUnsafeMutableBufferPointer { p in
            original.withUnsafeBufferPointer { o in
                reconstructed.withUnsafeBufferPointer { r in
                    Parallel.forEach(chunks) { c in
                        let start = c * parallelChunk, count = min(n, start + parallelChunk) - start
                        p[c].add(original: UnsafeBufferPointer(start: o.baseAddress! + start, count: count),
                                 reconstructed: UnsafeBufferPointer(start: r.baseAddress! + start, count: count))
                    }
                }
            }
        }
        for part in parts { accumulator.merge(part) }
    }

    func rawRows(_ tensor: TensorInfo, _ rows: Range<Int>) throws -> [UInt8] {
        guard let rowBytes = tensor.type.byteCount(elements: job.rowLength) else {
            throw ConvertError.unsupportedTensor(tensor: tensor.name, file: tensor.file, reason: "rows are not whole blocks")
        }
        return try source.withBytes(of: tensor) { bytes in
            Array(bytes[(rows.lowerBound * rowBytes)..<(rows.upperBound * rowBytes)])
        }
    }

    func perTensorAbsmax(_ tensor: TensorInfo, stripRows: Int) throws -> Float? {
        guard job.encoding.layout?.needsTensorAbsmax == true else { return nil }
        var absmax: Float = 0
        var row = 0
        while row < job.rows {
            let rows = row..<min(job.rows, row + stripRows)
            let values = try decodeStrip(tensor, rows)
            absmax = max(absmax, values.withUnsafeBufferPointer { FP8Quantizer.absmax(of: $0) })
            row = rows.upperBound
        }
        return absmax
    }

    /// Computed values (a vector), stored in the job's float layout.
    func encodeFloats(_ values: [Float]) throws -> [UInt8] {
        guard let layout = job.encoding.layout, !layout.isQuantized else {
            throw ConvertError.unsupportedTensor(tensor: job.outputName, reason: "computed values must be stored as floats")
        }
        var trailer = LayoutTrailer()
        return try layout.encode(values, rowLength: values.count, tensorAbsmax: nil, importance: nil, name: job.outputName, trailer: &trailer).bytes
    }

    /// Encodes a strip with the job's layout, measures its error when asked, and writes it.
    func encodeStrip(_ values: [Float], importance: [Float]?, into out: StripWriter, tensorAbsmax: Float?,
                     trailer: inout LayoutTrailer, accumulator: inout ErrorMetrics.Accumulator,
                     decoded scratch: inout [Float]) throws {
        guard let layout = job.encoding.layout else { preconditionFailure("copies are handled without decoding") }
        let strip = try layout.encode(values, rowLength: job.rowLength, tensorAbsmax: tensorAbsmax, importance: importance, name: job.outputName,
                                      trailer: &trailer)
        if measureError && layout.isQuantized {
            try Self.measure(values, scratch: &scratch, accumulator: &accumulator, decode: strip.dequantize)
        }
        try out.append(strip.bytes)
    }
}
