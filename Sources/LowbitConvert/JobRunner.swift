import Foundation
import LowbitFormats
import LowbitModels
import LowbitQuant

/// What happened to one tensor.
public struct TensorReport: Sendable {
    public var source: String
    public var output: String
    public var encoding: String
    public var reason: TypeChoiceReason
    public var inputBytes: Int
    public var outputBytes: Int
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
    /// Floats per strip (about 16 MB of F32). Strip buffers stay below glibc's largest mmap
    /// threshold (32 MiB), so after the first strip they are recycled from the heap instead of
    /// being mapped, faulted in and zeroed by the kernel afresh every time.
    static let stripElements = 4 << 20

    func run(into out: StripWriter, progress: (Int) -> Void) throws -> TensorReport {
        var accumulator = ErrorMetrics.Accumulator()
        var trailing: [[UInt8]] = []
        switch job.input {
        case .values(let values):
            try out.append(try encodeFloats(values, type: job.encoding))
        case .tensor(let tensor):
            let stripRows = self.stripRows()
            let tensorAbsmax = try perTensorAbsmax(tensor, stripRows: stripRows)
            var scales: [Float] = [], offsets: [Float] = []
            // Dequantized strips for the error metrics, reused across strips: a fresh 16 MB array
            // per strip costs more in page faults and zeroing than the dequantization itself.
            var decoded: [Float] = []
            var row = 0
            while row < job.rows {
                let rows = row..<min(job.rows, row + stripRows)
                if case .copy = job.encoding {
                    try out.append(try rawRows(tensor, rows))
                    if TensorDecoder.canDecode(tensor.type) { _ = try decodeStrip(tensor, rows) }
                } else {
                    let values = try decodeStrip(tensor, rows)
                    try encodeStrip(values, into: out, tensorAbsmax: tensorAbsmax, scales: &scales, offsets: &offsets,
                                    accumulator: &accumulator, decoded: &decoded)
                }
                progress(rows.count * (tensor.byteCount / max(1, job.rows)))
                row = rows.upperBound
            }
            trailing = try trailingParts(scales: scales, offsets: offsets)
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
        if case .fp8(let q) = job.encoding, case .block(let r, _) = q.granularity { unit = lcm(unit, r) }
        let target = max(1, Self.stripElements / max(1, job.rowLength))
        return max(unit, target / unit * unit)
    }

    private func lcm(_ a: Int, _ b: Int) -> Int {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return a / x * b
    }

    /// Decodes rows of the source, puts rotary rows in the output's order, and refuses NaN/Inf.
    func decodeStrip(_ tensor: TensorInfo, _ rows: Range<Int>) throws -> [Float] {
        var values = try TensorDecoder.decode(tensor, from: source, rows: rows)
        if let rot = job.rotary {
            let permutation = try RotaryPermutation(rows: job.rows, heads: rot.heads, file: source.path, item: tensor.name)
            let width = job.rowLength
            let original = values
            values.withUnsafeMutableBufferPointer { dst in
                original.withUnsafeBufferPointer { src in
                    for r in rows {
                        let from = rot.toGGUF ? permutation.hfRow(forGGUFRow: r) : permutation.ggufRow(forHFRow: r)
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
                let shared = ChunkPointers(source: v.baseAddress!, flags: f.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: chunks) { c in
                    let start = c * Self.parallelChunk
                    shared.flags[c] = Self.hasNonFinite(UnsafeBufferPointer(start: shared.source + start,
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
                    let shared = ErrorChunkPointers(parts: p.baseAddress!, original: o.baseAddress!, reconstructed: r.baseAddress!)
                    DispatchQueue.concurrentPerform(iterations: chunks) { c in
                        let start = c * parallelChunk, count = min(n, start + parallelChunk) - start
                        shared.parts[c].add(original: UnsafeBufferPointer(start: shared.original + start, count: count),
                                            reconstructed: UnsafeBufferPointer(start: shared.reconstructed + start, count: count))
                    }
                }
            }
        }
        for part in parts { accumulator.merge(part) }
    }

    func rawRows(_ tensor: TensorInfo, _ rows: Range<Int>) throws -> [UInt8] {
        guard let rowBytes = tensor.type.byteCount(elements: job.rowLength) else {
            throw ConvertError.unsupportedTensor(tensor: tensor.name, reason: "rows are not whole blocks")
        }
        return try source.withBytes(of: tensor) { bytes in
            Array(bytes[(rows.lowerBound * rowBytes)..<(rows.upperBound * rowBytes)])
        }
    }

    func perTensorAbsmax(_ tensor: TensorInfo, stripRows: Int) throws -> Float? {
        guard case .fp8(let q) = job.encoding, q.granularity == .tensor else { return nil }
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

    func encodeFloats(_ values: [Float], type: OutputEncoding) throws -> [UInt8] {
        switch type {
        case .gguf(let t) where t.isFloat:
            return Self.floatFormat(t).encode(values)
        case .float(let d):
            return Self.floatFormat(d).encode(values)
        default:
            throw ConvertError.unsupportedTensor(tensor: job.outputName, reason: "computed values must be stored as floats")
        }
    }

    func encodeStrip(_ values: [Float], into out: StripWriter, tensorAbsmax: Float?,
                     scales: inout [Float], offsets: inout [Float],
                     accumulator: inout ErrorMetrics.Accumulator, decoded scratch: inout [Float]) throws {
        let width = job.rowLength
        let count = values.count
        switch job.encoding {
        case .copy:
            preconditionFailure("copies are handled without decoding")
        case .float(let d):
            try out.append(Self.floatFormat(d).encode(values))
        case .gguf(let t) where t.isFloat:
            try out.append(Self.floatFormat(t).encode(values))
        case .gguf(let t):
            let bytes = count / t.blockSize * t.bytesPerBlock
            var encoded = [UInt8](repeating: 0, count: bytes)
            try values.withUnsafeBufferPointer { src in
                try encoded.withUnsafeMutableBytes { dst in
                    try TensorEncoder.quantize(rows: src, rowLength: width, as: t, into: dst, name: job.outputName)
                }
            }
            if measureError {
                try Self.measure(values, scratch: &scratch, accumulator: &accumulator) { d in
                    try encoded.withUnsafeBytes { try TensorDecoder.decode($0, as: .ggml(t), into: d, name: job.outputName) }
                }
            }
            try out.append(encoded)
        case .fp8(let q):
            let stripRows = count / width
            let scaleCount = q.scaleShape(rows: stripRows, columns: width).reduce(1, *)
            var codes = [UInt8](repeating: 0, count: count)
            var stripScales = [Float](repeating: 0, count: scaleCount)
            values.withUnsafeBufferPointer { src in
                codes.withUnsafeMutableBufferPointer { c in
                    stripScales.withUnsafeMutableBufferPointer { s in
                        q.quantize(src, rowLength: width, tensorAbsmax: tensorAbsmax, codes: c, scales: s)
                    }
                }
            }
            if measureError {
                Self.measure(values, scratch: &scratch, accumulator: &accumulator) { d in
                    codes.withUnsafeBufferPointer { c in
                        stripScales.withUnsafeBufferPointer { q.dequantize(codes: c, scales: $0, rowLength: width, into: d) }
                    }
                }
            }
            if q.granularity == .tensor {
                scales = [stripScales[0]]
            } else {
                scales += stripScales
            }
            try out.append(codes)
        case .compressedInt(let q), .mlxInt(let q):
            let stripRows = count / width
            var packed = [UInt32](repeating: 0, count: stripRows * q.wordsPerRow(rowLength: width))
            let groups = stripRows * q.groupsPerRow(rowLength: width)
            var stripScales = [Float](repeating: 0, count: groups)
            var stripOffsets = [Float](repeating: 0, count: q.hasOffsets ? groups : 0)
            values.withUnsafeBufferPointer { src in
                packed.withUnsafeMutableBufferPointer { p in
                    stripScales.withUnsafeMutableBufferPointer { s in
                        stripOffsets.withUnsafeMutableBufferPointer { o in
                            q.quantize(src, rowLength: width, packed: p, scales: s, offsets: q.hasOffsets ? o : nil)
                        }
                    }
                }
            }
            if measureError {
                Self.measure(values, scratch: &scratch, accumulator: &accumulator) { d in
                    packed.withUnsafeBufferPointer { p in
                        stripScales.withUnsafeBufferPointer { s in
                            stripOffsets.withUnsafeBufferPointer { o in
                                q.dequantize(packed: p, scales: s, offsets: q.hasOffsets ? o : nil, rowLength: width, into: d)
                            }
                        }
                    }
                }
            }
            scales += stripScales
            offsets += stripOffsets
            try out.append(CompressedTensorsLayout.littleEndianBytes(packed))
        }
    }

    /// The parts written after the strips: scales, shapes, zero points or biases.
    func trailingParts(scales: [Float], offsets: [Float]) throws -> [[UInt8]] {
        switch job.encoding {
        case .fp8(let q):
            return [q.scaleFormat.encode(scales)]
        case .compressedInt(let q):
            var parts = [q.scaleFormat.encode(scales), CompressedTensorsLayout.shapeBytes(rows: job.rows, columns: job.rowLength)]
            if q.hasOffsets {
                let words = CompressedTensorsLayout.packZeroPoints(offsets, rows: job.rows,
                                                                   groups: q.groupsPerRow(rowLength: job.rowLength), bits: q.bits)
                parts.append(CompressedTensorsLayout.littleEndianBytes(words))
            }
            return parts
        case .mlxInt(let q):
            return [q.scaleFormat.encode(scales), q.scaleFormat.encode(offsets)]
        default:
            return []
        }
    }

    static func floatFormat(_ t: GGMLType) -> FloatFormat {
        switch t {
        case .f16: .f16
        case .bf16: .bf16
        case .f64: .f64
        default: .f32
        }
    }

    static func floatFormat(_ d: SafetensorsDType) -> FloatFormat {
        switch d {
        case .F16: .f16
        case .BF16: .bf16
        case .F64: .f64
        default: .f32
        }
    }
}

/// Pointers shared by the chunks of ``JobRunner/checkFinite(_:tensor:)`` (each chunk writes its own flag).
private struct ChunkPointers: @unchecked Sendable {
    let source: UnsafePointer<Float>
    let flags: UnsafeMutablePointer<Bool>
}

/// Pointers shared by the chunks of ``JobRunner/accumulateError(original:reconstructed:into:)``.
private struct ErrorChunkPointers: @unchecked Sendable {
    let parts: UnsafeMutablePointer<ErrorMetrics.Accumulator>
    let original: UnsafePointer<Float>
    let reconstructed: UnsafePointer<Float>
}
