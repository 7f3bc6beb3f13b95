import Foundation
import LowbitFormats
import LowbitSystem

/// Integer quantization with one scale (and optionally an offset) per group of `groupSize`
/// consecutive elements of a row, packed densely into 32-bit words (``BitPacking``).
///
/// Two conventions, each reproducing its framework's arithmetic:
///
/// - ``Convention/compressedTensors(symmetric:)`` — compressed-tensors / llm-compressor
///   (`pack-quantized`, what vLLM loads). Signed codes `q` in `[qmin, qmax] = [-2^(b-1), 2^(b-1)-1]`,
///   stored as `q + 2^(b-1)`. Symmetric: `scale = max(|min|, |max|) / ((qmax - qmin) / 2)`
///   (7.5 for INT4, 127.5 for INT8 — not 7 or 127), `q = clamp(round(x / scale))`.
///   Asymmetric: with `min <= 0 <= max` widened to include zero,
///   `scale = (max - min) / (qmax - qmin)`, `zp = round(clamp(qmin - min / scale))`,
///   `q = clamp(round(x / scale + zp))`, `x ≈ (q - zp) * scale`. `round` is `torch.round`:
///   half to even. A zero scale (an all-zero group) becomes the scale format's machine epsilon,
///   so the group dequantizes to exact zeros; its zero point is 0.
/// - ``Convention/mlxAffine`` — MLX `mx.quantize` (affine mode): codes `u` in `[0, 2^b - 1]`,
///   `x ≈ u * scale + bias`; scale and bias are chosen so that the endpoint of larger magnitude
///   is exact (the scale is negative when that endpoint is the maximum), computed in `Float`
///   and stored rounded to the source dtype; `u = clamp(rint((x - bias) / scale))`.
///
/// The optional ``ScaleSearch`` replaces the closed-form scale (and offset) by the one that
/// minimises the squared error of each group. Given an importance vector, each group's
/// parameters instead minimise the error weighted as llama.cpp weights its legacy quants, over
/// llama.cpp's candidate grid (``ImportanceSearch``), with or without a ``ScaleSearch``.
///
/// The API works on strips of rows so that a converter can stream a huge tensor: quantize any
/// number of whole rows at a time, in any order. Work is spread over rows on `threads` threads.
public struct IntGroupQuantizer: Sendable {
    /// Whose arithmetic and code convention to follow.
    public enum Convention: Hashable, Sendable {
        /// compressed-tensors `pack-quantized`; asymmetric stores integer zero points.
        case compressedTensors(symmetric: Bool)
        /// MLX affine quantization (scales and float biases).
        case mlxAffine
    }

    /// Bits per code, 2...8.
    public let bits: Int
    /// Elements per group; must divide the row length.
    public let groupSize: Int
    /// Whose arithmetic and code convention to follow.
    public let convention: Convention
    /// The format scales (and MLX biases) are stored in; quantization uses the rounded scale
    /// (compressed-tensors) so stored values reproduce the codes exactly.
    public let scaleFormat: FloatFormat
    /// `.f32`, or `.bf16` / `.f16` to round every intermediate as PyTorch does on tensors of
    /// that dtype (compressed-tensors convention only; MLX computes in `Float`).
    public let arithmetic: FloatFormat
    /// An optional error-minimising search for each group's scale and offset.
    public let search: ScaleSearch?
    /// Threads used by ``quantize(_:rowLength:importance:packed:scales:offsets:)``.
    public var threads: Int

    /// A quantizer of `bits` (2...8) per code in groups of `groupSize` elements; `arithmetic`
    /// must be `.f32`, `.bf16` or `.f16`.
    public init(bits: Int, groupSize: Int, convention: Convention, scaleFormat: FloatFormat = .bf16,
                arithmetic: FloatFormat = .f32, search: ScaleSearch? = nil,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        precondition((2...8).contains(bits), "bits must be 2...8")
        precondition(groupSize > 0, "group size must be positive")
        precondition([.f32, .bf16, .f16].contains(arithmetic), "arithmetic must be f32, bf16 or f16")
        self.bits = bits
        self.groupSize = groupSize
        self.convention = convention
        self.scaleFormat = scaleFormat
        self.arithmetic = arithmetic
        self.search = search
        self.threads = max(1, threads)
    }

    /// Whether the layout stores a per-group offset (zero point or bias).
    package var hasOffsets: Bool {
        switch convention {
        case .compressedTensors(let symmetric): !symmetric
        case .mlxAffine: true
        }
    }

    /// Groups per row (`rowLength / groupSize`).
    public func groupsPerRow(rowLength: Int) -> Int { rowLength / groupSize }

    /// Packed 32-bit words per row (`ceil(rowLength * bits / 32)`).
    public func wordsPerRow(rowLength: Int) -> Int { BitPacking.wordCount(codes: rowLength, bits: bits) }

    // MARK: Streaming API

    /// Quantizes whole rows of `rowLength` floats.
    ///
    /// - Parameters:
    ///   - source: `rows * rowLength` floats, row-major; all finite.
    ///   - importance: optional per-column importance (`rowLength` values >= 0, an importance
    ///     matrix's vector): each group's parameters then minimise llama.cpp's weighted error
    ///     (see ``IntGroupQuantizer``), in place of ``search`` or the closed form.
    ///   - packed: receives `rows * wordsPerRow` words (code `i` of a row at bits `i*bits`).
    ///   - scales: receives `rows * groupsPerRow` scales, already rounded to ``scaleFormat``.
    ///   - offsets: when ``hasOffsets``, receives `rows * groupsPerRow` zero points
    ///     (compressed-tensors; integers in `[qmin, qmax]`) or biases (MLX, rounded to
    ///     ``scaleFormat``); may be nil otherwise.
    public func quantize(_ source: UnsafeBufferPointer<Float>, rowLength: Int,
                         importance: UnsafeBufferPointer<Float>? = nil,
                         packed: UnsafeMutableBufferPointer<UInt32>,
                         scales: UnsafeMutableBufferPointer<Float>,
                         offsets: UnsafeMutableBufferPointer<Float>?) {
        precondition(rowLength > 0 && rowLength % groupSize == 0,
                     "group size \(groupSize) does not divide the row length \(rowLength)")
        precondition(source.count % rowLength == 0, "source is not a whole number of rows")
        let rows = source.count / rowLength
        let groups = groupsPerRow(rowLength: rowLength)
        let words = wordsPerRow(rowLength: rowLength)
        precondition(packed.count >= rows * words, "packed buffer too small")
        precondition(scales.count >= rows * groups, "scale buffer too small")
        precondition(!hasOffsets || (offsets?.count ?? 0) >= rows * groups, "offset buffer missing or too small")
        if let importance { precondition(importance.count == rowLength, "importance needs one weight per column") }
        guard rows > 0 else { return }
        let job = IntGroupRowJob(source: source.baseAddress!, importance: importance?.baseAddress,
                         packed: packed.baseAddress!, scales: scales.baseAddress!,
                         offsets: hasOffsets ? offsets!.baseAddress! : nil,
                         rowLength: rowLength, words: words, groups: groups)
        let chunks = min(rows, threads == 1 ? 1 : threads * 8)
        let quantizer = self
        Parallel.forEach(chunks) { chunk in
            let start = rows * chunk / chunks, end = rows * (chunk + 1) / chunks
            quantizer.quantizeRows(start..<end, job)
        }
    }

    /// Decodes whole rows back to floats (`x ≈ (code - half - zp) * scale` or `code * scale + bias`).
    public func dequantize(packed: UnsafeBufferPointer<UInt32>, scales: UnsafeBufferPointer<Float>,
                           offsets: UnsafeBufferPointer<Float>?, rowLength: Int,
                           into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(rowLength > 0 && rowLength % groupSize == 0, "group size does not divide the row")
        precondition(destination.count % rowLength == 0, "destination is not a whole number of rows")
        let rows = destination.count / rowLength
        let groups = groupsPerRow(rowLength: rowLength)
        let words = wordsPerRow(rowLength: rowLength)
        precondition(packed.count >= rows * words && scales.count >= rows * groups, "input too small")
        precondition(!hasOffsets || (offsets?.count ?? 0) >= rows * groups, "offsets missing")
        let half = Float(1 << (bits - 1))
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: rowLength) { codes in
            for r in 0..<rows {
                BitPacking.unpack(packed.baseAddress! + r * words, count: rowLength, bits: bits,
                                  into: codes.baseAddress!)
                for g in 0..<groups {
                    let s = scales[r * groups + g]
                    let o = hasOffsets ? offsets![r * groups + g] : 0
                    let out = destination.baseAddress! + r * rowLength + g * groupSize
                    let c = codes.baseAddress! + g * groupSize
                    switch convention {
                    case .compressedTensors:
                        for i in 0..<groupSize { out[i] = (Float(c[i]) - half - o) * s }
                    case .mlxAffine:
                        for i in 0..<groupSize { out[i] = Float(c[i]) * s + o }
                    }
                }
            }
        }
    }

    // MARK: Array conveniences

    /// The quantized form of a whole matrix.
    public struct Result: Sendable, Equatable {
        /// `rows * wordsPerRow` packed words.
        public var packed: [UInt32]
        /// `rows * groupsPerRow` scales (rounded to the scale format).
        public var scales: [Float]
        /// Zero points or biases (`rows * groupsPerRow`), or nil for symmetric schemes.
        public var offsets: [Float]?

        /// A result of `packed` words, `scales` and `offsets` (nil for symmetric schemes).
        public init(packed: [UInt32], scales: [Float], offsets: [Float]?) {
            self.packed = packed
            self.scales = scales
            self.offsets = offsets
        }
    }

    /// Quantizes a row-major matrix held in an array.
    public func quantize(_ values: [Float], rowLength: Int, importance: [Float]? = nil) -> Result {
        let rows = values.count / rowLength
        var packed = [UInt32](repeating: 0, count: rows * wordsPerRow(rowLength: rowLength))
        var scales = [Float](repeating: 0, count: rows * groupsPerRow(rowLength: rowLength))
        var offsets = [Float](repeating: 0, count: hasOffsets ? scales.count : 0)
        let imp = importance ?? []
        values.withUnsafeBufferPointer { src in
            imp.withUnsafeBufferPointer { impBuffer in
                packed.withUnsafeMutableBufferPointer { p in
                    scales.withUnsafeMutableBufferPointer { s in
                        offsets.withUnsafeMutableBufferPointer { o in
                            quantize(src, rowLength: rowLength, importance: importance == nil ? nil : impBuffer,
                                     packed: p, scales: s, offsets: hasOffsets ? o : nil)
                        }
                    }
                }
            }
        }
        return Result(packed: packed, scales: scales, offsets: hasOffsets ? offsets : nil)
    }

    /// Dequantizes a ``Result`` back to a row-major matrix.
    public func dequantize(_ result: Result, rowLength: Int) -> [Float] {
        let rows = result.scales.count / groupsPerRow(rowLength: rowLength)
        var out = [Float](repeating: 0, count: rows * rowLength)
        result.packed.withUnsafeBufferPointer { p in
            result.scales.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { o in
                    if let offsets = result.offsets {
                        offsets.withUnsafeBufferPointer { dequantize(packed: p, scales: s, offsets: $0, rowLength: rowLength, into: o) }
                    } else {
                        dequantize(packed: p, scales: s, offsets: nil, rowLength: rowLength, into: o)
                    }
                }
            }
        }
        return out
    }
}

/// Raw pointers of one quantization call, shared by the worker threads of ``Parallel`` (each
/// writes only its own rows).
struct IntGroupRowJob {
    let source: UnsafePointer<Float>
    let importance: UnsafePointer<Float>?
    let packed: UnsafeMutablePointer<UInt32>
    let scales: UnsafeMutablePointer<Float>
    let offsets: UnsafeMutablePointer<Float>?
    let rowLength: Int
    let words: Int
    let groups: Int
}

extension IntGroupQuantizer {
    /// Quantizes `rows` of a job on the calling thread.
    func quantizeRows(_ rows: Range<Int>, _ job: IntGroupRowJob) {
        switch (convention, arithmetic) {
        case (.compressedTensors, .bf16): quantizeRows(rows, job, BF16Arithmetic.self)
        case (.compressedTensors, .f16): quantizeRows(rows, job, F16Arithmetic.self)
        default: quantizeRows(rows, job, F32Arithmetic.self)
        }
    }

    private func quantizeRows<R: IntermediateRounding>(_ rows: Range<Int>, _ job: IntGroupRowJob, _: R.Type) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: job.rowLength) { codeBuffer in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: job.importance == nil ? 1 : job.rowLength) { weightBuffer in
                let codes = codeBuffer.baseAddress!, weights = weightBuffer.baseAddress!
                for r in rows {
                    let row = job.source + r * job.rowLength
                    if let importance = job.importance {
                        ImportanceSearch.rowWeights(row, count: job.rowLength, importance: importance, into: weights)
                    }
                    for g in 0..<job.groups {
                        let x = row + g * groupSize
                        let params = job.importance == nil
                            ? groupParameters(x, nil, R.self)
                            : ImportanceSearch.best(x, count: groupSize, weights: weights + g * groupSize,
                                                    quantizer: self, R.self)
                        job.scales[r * job.groups + g] = params.storedScale
                        job.offsets?[r * job.groups + g] = params.storedOffset
                        encode(x, params, into: codes + g * groupSize, R.self)
                    }
                    BitPacking.pack(codes, count: job.rowLength, bits: bits, into: job.packed + r * job.words)
                }
            }
        }
    }

    /// The parameters of one group: closed form, or searched.
    @inline(__always)
    func groupParameters<R: IntermediateRounding>(_ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>?,
                                                   _: R.Type) -> IntGroupParameters {
        if let search {
            return search.best(x, count: groupSize, weights: weights, quantizer: self, R.self)
        }
        return groupParametersClosedForm(x, R.self)
    }

    /// compressed-tensors symmetric: `scale = absmax / ((qmax - qmin) / 2)`.
    @inline(__always)
    func ctSymmetric<R: IntermediateRounding>(_ x: UnsafePointer<Float>, _: R.Type) -> IntGroupParameters {
        ctSymmetric(absmax: Self.absmax(x, count: groupSize), shrink: 1, R.self)
    }

    /// compressed-tensors symmetric parameters for a (possibly shrunk) absolute maximum.
    @inline(__always)
    func ctSymmetric<R: IntermediateRounding>(absmax: Float, shrink: Float, _: R.Type) -> IntGroupParameters {
        let halfRange = Float((1 << bits) - 1) / 2
        let scale = scaleFormat.roundTrip(R.apply(R.apply(absmax * shrink) / halfRange))
        return ctParameters(scale: scale, zeroPoint: 0)
    }

    /// compressed-tensors asymmetric (zero point).
    @inline(__always)
    func ctAsymmetric<R: IntermediateRounding>(_ x: UnsafePointer<Float>, _: R.Type) -> IntGroupParameters {
        let (lo, hi) = Self.minMax(x, count: groupSize)
        return ctAsymmetric(min: lo, max: hi, shrink: 1, R.self)
    }

    /// compressed-tensors asymmetric parameters for a range (widened to include 0, then
    /// optionally shrunk).
    @inline(__always)
    func ctAsymmetric<R: IntermediateRounding>(min: Float, max: Float, shrink: Float, _: R.Type) -> IntGroupParameters {
        let lo = R.apply(Swift.min(min, 0) * shrink)
        let hi = R.apply(Swift.max(max, 0) * shrink)
        let qmin = -Float(1 << (bits - 1)), qmax = Float(1 << (bits - 1)) - 1
        let scale = scaleFormat.roundTrip(R.apply(R.apply(hi - lo) / (qmax - qmin)))
        guard scale > 0 else { return ctParameters(scale: 0, zeroPoint: 0) }
        let zp = R.apply(qmin - R.apply(lo / scale))
        let zeroPoint = Float(roundedToInt32(Swift.min(Swift.max(zp, qmin), qmax)))
        return ctParameters(scale: scale, zeroPoint: zeroPoint)
    }

    /// Packs a compressed-tensors scale / zero point, replacing a zero scale by epsilon.
    @inline(__always)
    func ctParameters(scale: Float, zeroPoint: Float) -> IntGroupParameters {
        let s = scale == 0 ? scaleFormat.machineEpsilon : scale
        return IntGroupParameters(scale: s, offset: zeroPoint, storedScale: s, storedOffset: zeroPoint)
    }

    /// MLX affine parameters (`fast::Quantize` on the CPU).
    @inline(__always)
    func mlxAffine(_ x: UnsafePointer<Float>) -> IntGroupParameters {
        let (lo, hi) = Self.minMax(x, count: groupSize)
        let levels = Float((1 << bits) - 1)
        let lowEdge = Swift.abs(lo) > Swift.abs(hi)
        var scale = Swift.max((hi - lo) / levels, 1e-7)
        if !lowEdge { scale = -scale }
        let edge = lowEdge ? lo : hi
        let q0 = (edge / scale).rounded(.toNearestOrEven)
        var bias: Float = 0
        if q0 != 0 {
            scale = edge / q0
            bias = edge
        }
        return mlxParameters(scale: scale, bias: bias)
    }

    @inline(__always)
    func mlxParameters(scale: Float, bias: Float) -> IntGroupParameters {
        IntGroupParameters(scale: scale, offset: bias, storedScale: scaleFormat.roundTrip(scale),
                        storedOffset: scaleFormat.roundTrip(bias))
    }

    /// Writes the unsigned codes of one group.
    @inline(__always)
    func encode<R: IntermediateRounding>(_ x: UnsafePointer<Float>, _ p: IntGroupParameters,
                                         into codes: UnsafeMutablePointer<UInt8>, _: R.Type) {
        switch convention {
        case .compressedTensors(let symmetric):
            let half = Int32(1 << (bits - 1))
            let qmin = -Float(half), qmax = Float(half - 1)
            let s = p.scale
            if symmetric {
                for i in 0..<groupSize {
                    let v = Swift.min(Swift.max(R.apply(x[i] / s), qmin), qmax)
                    codes[i] = UInt8(truncatingIfNeeded: roundedToInt32(v) &+ half)
                }
            } else {
                let zp = p.offset
                for i in 0..<groupSize {
                    let v = Swift.min(Swift.max(R.apply(R.apply(x[i] / s) + zp), qmin), qmax)
                    codes[i] = UInt8(truncatingIfNeeded: roundedToInt32(v) &+ half)
                }
            }
        case .mlxAffine:
            let levels = Float((1 << bits) - 1)
            let s = p.scale, b = p.offset
            for i in 0..<groupSize {
                let v = Swift.min(Swift.max((x[i] - b) / s, 0), levels)
                codes[i] = UInt8(truncatingIfNeeded: roundedToInt32(v))
            }
        }
    }

    /// Largest magnitude of `count` floats (integer compare of the magnitude bits, which
    /// orders non-negative floats and vectorises).
    @inline(__always)
    static func absmax(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var m: UInt32 = 0
        for i in 0..<count {
            let a = x[i].bitPattern & 0x7FFF_FFFF
            m = a > m ? a : m
        }
        return Float(bitPattern: m)
    }

    /// Minimum and maximum of `count` floats.
    @inline(__always)
    static func minMax(_ x: UnsafePointer<Float>, count: Int) -> (Float, Float) {
        // Map each float to an Int32 that orders like it (flip the magnitude bits of negatives),
        // so the reduction is integer min/max, which vectorises (float min/max with NaN rules
        // does not).
        var lo = Int32.max, hi = Int32.min
        for i in 0..<count {
            let b = Int32(bitPattern: x[i].bitPattern)
            let key = b ^ ((b >> 31) & 0x7FFF_FFFF)
            lo = key < lo ? key : lo
            hi = key > hi ? key : hi
        }
        @inline(__always) func float(_ key: Int32) -> Float {
            Float(bitPattern: UInt32(bitPattern: key ^ ((key >> 31) & 0x7FFF_FFFF)))
        }
        return count == 0 ? (.infinity, -.infinity) : (float(lo), float(hi))
    }
}

/// One group's parameters: the values used to compute codes, and the values stored (the same
/// for compressed-tensors, rounded to the scale format for MLX).
struct IntGroupParameters {
    var scale: Float
    var offset: Float
    var storedScale: Float
    var storedOffset: Float
}
