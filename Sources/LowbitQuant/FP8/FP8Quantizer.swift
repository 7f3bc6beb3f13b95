import Foundation
import LowbitFormats
import LowbitSystem

/// FP8 (E4M3 "fn" or E5M2) weight quantization with scales per tensor, per row, or per
/// `R x C` block: `code = fp8(clamp(x / scale, -max, max))`, `x ≈ float(code) * scale`, with
/// `scale = absmax / max` (max = 448 for E4M3, 57344 for E5M2).
///
/// - Per tensor: one scale; needs the absolute maximum of the whole tensor first
///   (``absmax(of:threads:)`` on each strip, then the maximum of those).
/// - Per row: Meta's Llama 3.1 405B recipe and compressed-tensors `channel` strategy: scale
///   shape `[rows, 1]`.
/// - Per block: DeepSeek-V3 and compressed-tensors `FP8_BLOCK` (128 x 128): scale shape
///   `[ceil(rows / R), ceil(columns / C)]`; edge blocks are smaller and their absmax covers only
///   the elements they hold (compressed-tensors pads with zeros, which does not change it).
///
/// Values are clamped to the largest finite value before the cast, so codes are never NaN
/// or infinite (for finite input). A scale of zero (an all-zero row, block or tensor) is
/// replaced by the scale format's machine epsilon — compressed-tensors does exactly this
/// (`calculate_qparams`: `scales = where(scales == 0, finfo(scale_dtype).eps, scales)`) —
/// so the codes are zeros and dequantize to exact zeros, with no 0/0.
///
/// `scaleFormat` is the dtype scales are stored in (`.f32` as Meta and DeepSeek store them;
/// compressed-tensors uses the checkpoint's dtype, usually `.bf16`); quantization divides by
/// the rounded scale. `arithmetic: .bf16` additionally rounds `x / scale` to BF16 before the
/// cast, as PyTorch does when compressed-tensors quantizes a BF16 tensor.
public struct FP8Quantizer: Sendable {
    /// Which elements share a scale.
    public enum Granularity: Hashable, Sendable {
        /// One scale for the whole tensor.
        case tensor
        /// One scale per row (shape `[rows, 1]`).
        case row
        /// One scale per `rows × columns` block (edge blocks are smaller).
        case block(rows: Int, columns: Int)

        /// DeepSeek-V3 / compressed-tensors `FP8_BLOCK`.
        public static let block128 = Granularity.block(rows: 128, columns: 128)
    }

    /// The element format of the codes.
    public let variant: FP8Variant
    /// Which elements share a scale.
    public let granularity: Granularity
    /// The dtype scales are stored in (and rounded to).
    public let scaleFormat: FloatFormat
    /// The precision `x / scale` is computed in (`.f32`, or `.bf16`/`.f16` as PyTorch on such tensors).
    public let arithmetic: FloatFormat
    /// Threads for whole-tensor quantization.
    public var threads: Int
    /// An optional search for each row's or block's scale (``FP8ClipSearch``), weighted by the
    /// importance vector when one is given; nil keeps `absmax / max`.
    public let clipSearch: FP8ClipSearch?

    /// A quantizer to `variant` codes with scales of `granularity`.
    public init(variant: FP8Variant = .e4m3, granularity: Granularity = .row,
                scaleFormat: FloatFormat = .f32, arithmetic: FloatFormat = .f32,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount, clipSearch: FP8ClipSearch? = nil) {
        precondition([.f32, .bf16, .f16].contains(arithmetic), "arithmetic must be f32, bf16 or f16")
        if case .block(let r, let c) = granularity { precondition(r > 0 && c > 0, "empty block") }
        self.variant = variant
        self.granularity = granularity
        self.scaleFormat = scaleFormat
        self.arithmetic = arithmetic
        self.threads = max(1, threads)
        self.clipSearch = clipSearch
    }

    /// The shape of the scale tensor for a `rows x columns` weight (`[1]`, `[rows, 1]`, or the
    /// block grid).
    public func scaleShape(rows: Int, columns: Int) -> [Int] {
        switch granularity {
        case .tensor: [1]
        case .row: [rows, 1]
        case .block(let r, let c): [(rows + r - 1) / r, (columns + c - 1) / c]
        }
    }

    /// The scale for a group whose absolute maximum is `absmax`: `absmax / max`, rounded to
    /// the scale format, with zero replaced by epsilon.
    public func scale(absmax: Float) -> Float {
        let raw: Float
        switch arithmetic {
        case .bf16: raw = BF16Arithmetic.apply(absmax / variant.maxFinite)
        case .f16: raw = F16Arithmetic.apply(absmax / variant.maxFinite)
        default: raw = absmax / variant.maxFinite
        }
        let s = scaleFormat.roundTrip(raw)
        return s == 0 ? scaleFormat.machineEpsilon : s
    }

    /// The largest magnitude in `values` (for per-tensor scales, computed strip by strip).
    public static func absmax(of values: UnsafeBufferPointer<Float>,
                              threads: Int = ProcessInfo.processInfo.activeProcessorCount) -> Float {
        guard let base = values.baseAddress, !values.isEmpty else { return 0 }
        let chunks = max(1, min(threads * 4, values.count / 65_536))
        if chunks == 1 { return IntGroupQuantizer.absmax(base, count: values.count) }
        let results = UnsafeMutableBufferPointer<Float>.allocate(capacity: chunks)
        defer { results.deallocate() }
        let n = values.count
        Parallel.forEach(chunks) { c in
            let start = n * c / chunks, end = n * (c + 1) / chunks
            results[c] = IntGroupQuantizer.absmax(base + start, count: end - start)
        }
        return results.max() ?? 0
    }

    /// Quantizes a strip of whole rows.
    ///
    /// - Parameters:
    ///   - source: `stripRows * rowLength` floats, all finite. For block granularity the strip
    ///     must start on a block-row boundary of the tensor (any number of rows; only the last
    ///     strip may end inside a block row).
    ///   - tensorAbsmax: the absolute maximum of the whole tensor (required per tensor).
    ///   - importance: optional per-column importance (`rowLength` values >= 0) that weights the
    ///     error of the ``clipSearch``; ignored without a search or per tensor.
    ///   - codes: receives `stripRows * rowLength` FP8 bytes.
    ///   - scales: receives the strip's scales: 1 (tensor), `stripRows` (row), or
    ///     `ceil(stripRows / R) * ceil(rowLength / C)` (block, row-major).
    public func quantize(_ source: UnsafeBufferPointer<Float>, rowLength: Int, tensorAbsmax: Float? = nil,
                         importance: UnsafeBufferPointer<Float>? = nil,
                         codes: UnsafeMutableBufferPointer<UInt8>, scales: UnsafeMutableBufferPointer<Float>) {
        precondition(rowLength > 0 && source.count % rowLength == 0, "source is not a whole number of rows")
        let rows = source.count / rowLength
        precondition(codes.count >= source.count, "code buffer too small")
        let shape = scaleShape(rows: rows, columns: rowLength)
        precondition(scales.count >= shape.reduce(1, *), "scale buffer too small")
        guard rows > 0 else {
            if granularity == .tensor, let tensorAbsmax { scales[0] = scale(absmax: tensorAbsmax) }
            return
        }
        if let importance { precondition(importance.count == rowLength, "importance needs one weight per column") }
        let job = FP8Job(source: source.baseAddress!, importance: importance?.baseAddress, codes: codes.baseAddress!,
                         scales: scales.baseAddress!, rows: rows, rowLength: rowLength)
        switch granularity {
        case .tensor:
            guard let tensorAbsmax else { preconditionFailure("per-tensor FP8 needs the tensor's absmax") }
            let s = scale(absmax: tensorAbsmax)
            scales[0] = s
            parallel(rows) { r in encodeRow(job, r, scale: s) }
        case .row:
            parallel(rows) { r in
                let row = job.source + r * rowLength
                let m = IntGroupQuantizer.absmax(row, count: rowLength)
                let s = clipSearch.map {
                    searchedScale(job, firstRow: r, rows: 1, column: 0, width: rowLength, absmax: m,
                                  weights: searchWeights(job, firstRow: r, rows: 1), $0)
                } ?? scale(absmax: m)
                job.scales[r] = s
                encodeRow(job, r, scale: s)
            }
        case .block(let blockRows, let blockColumns):
            let bands = (rows + blockRows - 1) / blockRows
            let blocksPerRow = (rowLength + blockColumns - 1) / blockColumns
            parallel(bands) { band in
                let first = band * blockRows, last = min(rows, first + blockRows)
                let bandScales = job.scales + band * blocksPerRow
                let weights = searchWeights(job, firstRow: first, rows: last - first)
                for b in 0..<blocksPerRow {
                    let c0 = b * blockColumns, width = min(blockColumns, rowLength - c0)
                    var m: Float = 0
                    for r in first..<last {
                        m = max(m, IntGroupQuantizer.absmax(job.source + r * rowLength + c0, count: width))
                    }
                    bandScales[b] = clipSearch.map {
                        searchedScale(job, firstRow: first, rows: last - first, column: c0, width: width, absmax: m,
                                      weights: weights, $0)
                    } ?? scale(absmax: m)
                }
                for r in first..<last {
                    for b in 0..<blocksPerRow {
                        let c0 = b * blockColumns, width = min(blockColumns, rowLength - c0)
                        encode(job.source + r * rowLength + c0, count: width, scale: bandScales[b],
                               into: job.codes + r * rowLength + c0)
                    }
                }
            }
        }
    }

    /// Decodes a strip of rows: `float(code) * scale`. `scales` are laid out as
    /// ``quantize(_:rowLength:tensorAbsmax:codes:scales:)`` writes them.
    public func dequantize(codes: UnsafeBufferPointer<UInt8>, scales: UnsafeBufferPointer<Float>,
                           rowLength: Int, into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(rowLength > 0 && codes.count % rowLength == 0 && destination.count >= codes.count,
                     "buffers do not hold whole rows")
        let rows = codes.count / rowLength
        let table = variant == .e4m3 ? FP8.e4m3Table : FP8.e5m2Table
        table.withUnsafeBufferPointer { t in
            // Scales are constant over runs of `width` columns of a row.
            let width: Int
            switch granularity {
            case .tensor, .row: width = rowLength
            case .block(_, let bc): width = bc
            }
            for r in 0..<rows {
                var c0 = 0
                while c0 < rowLength {
                    let s: Float
                    switch granularity {
                    case .tensor: s = scales[0]
                    case .row: s = scales[r]
                    case .block(let br, let bc): s = scales[(r / br) * ((rowLength + bc - 1) / bc) + c0 / bc]
                    }
                    let end = min(rowLength, c0 + width)
                    for c in c0..<end { destination[r * rowLength + c] = t[Int(codes[r * rowLength + c])] * s }
                    c0 = end
                }
            }
        }
    }

    // MARK: Array conveniences

    /// FP8 codes and scales of a whole matrix.
    public struct Result: Sendable, Equatable {
        /// One FP8 code per value, row-major.
        public var codes: [UInt8]
        /// Row-major, shaped as ``scaleShape(rows:columns:)``.
        public var scales: [Float]
    }

    /// Quantizes a whole row-major matrix held in an array.
    public func quantize(_ values: [Float], rowLength: Int, importance: [Float]? = nil) -> Result {
        let rows = values.count / rowLength
        var codes = [UInt8](repeating: 0, count: values.count)
        var scales = [Float](repeating: 0, count: scaleShape(rows: rows, columns: rowLength).reduce(1, *))
        values.withUnsafeBufferPointer { src in
            let m: Float? = granularity == .tensor ? Self.absmax(of: src, threads: threads) : nil
            (importance ?? []).withUnsafeBufferPointer { imp in
                codes.withUnsafeMutableBufferPointer { c in
                    scales.withUnsafeMutableBufferPointer { s in
                        quantize(src, rowLength: rowLength, tensorAbsmax: m, importance: importance == nil ? nil : imp,
                                 codes: c, scales: s)
                    }
                }
            }
        }
        return Result(codes: codes, scales: scales)
    }

    /// Dequantizes a ``Result``.
    public func dequantize(_ result: Result, rowLength: Int) -> [Float] {
        var out = [Float](repeating: 0, count: result.codes.count)
        result.codes.withUnsafeBufferPointer { c in
            result.scales.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { dequantize(codes: c, scales: s, rowLength: rowLength, into: $0) }
            }
        }
        return out
    }

    // MARK: Kernels

    private func encodeRow(_ job: FP8Job, _ r: Int, scale: Float) {
        encode(job.source + r * job.rowLength, count: job.rowLength, scale: scale,
               into: job.codes + r * job.rowLength)
    }

    /// `codes[i] = fp8(clamp(R(x[i] / scale)))`, specialised per variant and arithmetic.
    func encode(_ x: UnsafePointer<Float>, count: Int, scale: Float, into codes: UnsafeMutablePointer<UInt8>) {
        switch (variant, arithmetic) {
        case (.e4m3, .bf16): Self.encode(x, count, scale, codes, E4M3Cast.self, BF16Arithmetic.self)
        case (.e4m3, .f16): Self.encode(x, count, scale, codes, E4M3Cast.self, F16Arithmetic.self)
        case (.e4m3, _): Self.encode(x, count, scale, codes, E4M3Cast.self, F32Arithmetic.self)
        case (.e5m2, .bf16): Self.encode(x, count, scale, codes, E5M2Cast.self, BF16Arithmetic.self)
        case (.e5m2, .f16): Self.encode(x, count, scale, codes, E5M2Cast.self, F16Arithmetic.self)
        case (.e5m2, _): Self.encode(x, count, scale, codes, E5M2Cast.self, F32Arithmetic.self)
        }
    }

    @inline(__always)
    private static func encode<C: FP8Cast, R: IntermediateRounding>(
        _ x: UnsafePointer<Float>, _ count: Int, _ scale: Float, _ codes: UnsafeMutablePointer<UInt8>,
        _: C.Type, _: R.Type
    ) {
        let hi = C.maxFinite, lo = -C.maxFinite
        for i in 0..<count {
            let v = R.apply(x[i] / scale)
            codes[i] = C.cast(v < lo ? lo : (v > hi ? hi : v))
        }
    }

    private func parallel(_ count: Int, _ body: (Int) -> Void) {
        let chunks = min(count, threads == 1 ? 1 : threads * 8)
        if chunks <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        Parallel.forEach(chunks) { c in
            for i in (count * c / chunks)..<(count * (c + 1) / chunks) { body(i) }
        }
    }
}

/// The buffers and shape of one strip being quantized (each row is written by one thread).
struct FP8Job {
    let source: UnsafePointer<Float>
    let importance: UnsafePointer<Float>?
    let codes: UnsafeMutablePointer<UInt8>
    let scales: UnsafeMutablePointer<Float>
    let rows: Int
    let rowLength: Int
}

/// The saturating-free cast of a clamped value to one FP8 variant.
@usableFromInline
protocol FP8Cast {
    static var maxFinite: Float { get }
    static func cast(_ value: Float) -> UInt8
}

@usableFromInline
enum E4M3Cast: FP8Cast {
    @inlinable static var maxFinite: Float { 448 }
    @inlinable @inline(__always) static func cast(_ value: Float) -> UInt8 { FP8.e4m3(value) }
}

@usableFromInline
enum E5M2Cast: FP8Cast {
    @inlinable static var maxFinite: Float { 57344 }
    @inlinable @inline(__always) static func cast(_ value: Float) -> UInt8 { FP8.e5m2(value) }
}
