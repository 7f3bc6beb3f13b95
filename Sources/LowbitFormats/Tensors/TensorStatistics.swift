import Dispatch
import Foundation
import LowbitSystem

/// Summary statistics of a tensor's values: range, mean and standard deviation over the finite
/// values, and counts of NaN and infinite values (NaN and Inf are data, not format errors).
///
/// Values are decoded chunk by chunk, each chunk's sums are accumulated in `Double`, and chunks
/// are merged with Chan's parallel formula, so the result does not depend on how the work was
/// split between threads. ``std`` is the population standard deviation (numpy's default, ddof 0).
public struct TensorStatistics: Sendable, Equatable {
    /// Number of finite values.
    public var count: Int
    /// Smallest finite value (NaN when there is none).
    public var min: Double
    /// Largest finite value (NaN when there is none).
    public var max: Double
    /// Mean of the finite values (NaN when there is none).
    public var mean: Double
    /// Sum of squared deviations from ``mean`` over the finite values.
    public var sumOfSquaredDeviations: Double
    /// Number of NaN values.
    public var nanCount: Int
    /// Number of infinite values (either sign).
    public var infCount: Int

    /// Two statistics are equal when every field is identical, NaN fields included (so that
    /// results can be compared for determinism).
    public static func == (a: TensorStatistics, b: TensorStatistics) -> Bool {
        a.count == b.count && a.nanCount == b.nanCount && a.infCount == b.infCount
            && a.min.bitPattern == b.min.bitPattern && a.max.bitPattern == b.max.bitPattern
            && a.mean.bitPattern == b.mean.bitPattern
            && a.sumOfSquaredDeviations.bitPattern == b.sumOfSquaredDeviations.bitPattern
    }

    /// Statistics of no values at all.
    public static let empty = TensorStatistics(count: 0, min: .nan, max: .nan, mean: .nan,
                                               sumOfSquaredDeviations: 0, nanCount: 0, infCount: 0)

    /// Statistics with the given fields (as ``merged(with:)`` and the tests build them).
    public init(count: Int, min: Double, max: Double, mean: Double, sumOfSquaredDeviations: Double,
                nanCount: Int, infCount: Int) {
        self.count = count
        self.min = min
        self.max = max
        self.mean = mean
        self.sumOfSquaredDeviations = sumOfSquaredDeviations
        self.nanCount = nanCount
        self.infCount = infCount
    }

    /// Population standard deviation of the finite values (NaN when there is none).
    public var std: Double { count > 0 ? (sumOfSquaredDeviations / Double(count)).squareRoot() : .nan }

    /// Largest absolute finite value (NaN when there is none).
    public var absmax: Double { count > 0 ? Swift.max(Swift.abs(min), Swift.abs(max)) : .nan }

    /// The statistics of the values of `self` and `other` together (Chan et al.).
    public func merged(with other: TensorStatistics) -> TensorStatistics {
        if other.count == 0 {
            var r = self
            r.nanCount += other.nanCount
            r.infCount += other.infCount
            return r
        }
        if count == 0 {
            var r = other
            r.nanCount += nanCount
            r.infCount += infCount
            return r
        }
        let n = count + other.count
        let delta = other.mean - mean
        let fraction = Double(other.count) / Double(n)
        return TensorStatistics(
            count: n, min: Swift.min(min, other.min), max: Swift.max(max, other.max),
            mean: mean + delta * fraction,
            sumOfSquaredDeviations: sumOfSquaredDeviations + other.sumOfSquaredDeviations
                + delta * delta * Double(count) * fraction,
            nanCount: nanCount + other.nanCount, infCount: infCount + other.infCount)
    }

    /// The statistics of `values`.
    public init(_ values: UnsafeBufferPointer<Float>) {
        guard let base = values.baseAddress, !values.isEmpty else {
            self = .empty
            return
        }
        self = TensorStatistics.fastChunk(base, values.count) ?? TensorStatistics.exactChunk(base, values.count)
    }

    /// The statistics of `values`.
    public init(_ values: [Float]) {
        self = values.withUnsafeBufferPointer { TensorStatistics($0) }
    }

    /// One pass over values expected to be finite: four independent lanes of `Float` partial
    /// sums over blocks of 64 values (16 per lane) shifted by the first value, folded into
    /// `Double` sums per block. (Measured: these scalar lanes run about 3x faster than the
    /// stdlib `SIMD16` types, whose generic min/max and loads are not vectorised well.) Returns
    /// nil if any value or partial sum is not finite; the caller then uses ``exactChunk(_:_:)``.
    @usableFromInline
    static func fastChunk(_ p: UnsafePointer<Float>, _ n: Int) -> TensorStatistics? {
        let shift = p[0]
        guard shift.isFinite else { return nil }
        var sum = 0.0, squares = 0.0
        // `x < m ? x : m` never picks a NaN; NaN and Inf still poison the sums, which is checked.
        var mn0 = shift, mn1 = shift, mn2 = shift, mn3 = shift
        var mx0 = shift, mx1 = shift, mx2 = shift, mx3 = shift
        var i = 0
        while i + 64 <= n {
            var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
            var q0: Float = 0, q1: Float = 0, q2: Float = 0, q3: Float = 0
            var j = i
            while j < i + 64 {
                let xa = p[j], xb = p[j + 1], xc = p[j + 2], xd = p[j + 3]
                mn0 = xa < mn0 ? xa : mn0; mn1 = xb < mn1 ? xb : mn1
                mn2 = xc < mn2 ? xc : mn2; mn3 = xd < mn3 ? xd : mn3
                mx0 = xa > mx0 ? xa : mx0; mx1 = xb > mx1 ? xb : mx1
                mx2 = xc > mx2 ? xc : mx2; mx3 = xd > mx3 ? xd : mx3
                let a = xa - shift, b = xb - shift, c = xc - shift, d = xd - shift
                s0 += a; s1 += b; s2 += c; s3 += d
                q0 += a * a; q1 += b * b; q2 += c * c; q3 += d * d
                j += 4
            }
            sum += Double(s0 + s1 + s2 + s3)
            squares += Double(q0 + q1 + q2 + q3)
            i += 64
        }
        var mn = Swift.min(Swift.min(mn0, mn1), Swift.min(mn2, mn3))
        var mx = Swift.max(Swift.max(mx0, mx1), Swift.max(mx2, mx3))
        while i < n {
            let x = p[i]
            mn = x < mn ? x : mn
            mx = x > mx ? x : mx
            let d = Double(x) - Double(shift)
            sum += d
            squares += d * d
            i += 1
        }
        guard sum.isFinite, squares.isFinite, mn.isFinite, mx.isFinite else { return nil }
        let count = Double(n)
        let meanShifted = sum / count
        let m2 = Swift.max(0, squares - sum * meanShifted)
        return TensorStatistics(count: n, min: Double(mn), max: Double(mx),
                                mean: Double(shift) + meanShifted, sumOfSquaredDeviations: m2,
                                nanCount: 0, infCount: 0)
    }

    /// A scalar pass in `Double` that skips and counts non-finite values.
    @usableFromInline
    static func exactChunk(_ p: UnsafePointer<Float>, _ n: Int) -> TensorStatistics {
        var count = 0, nan = 0, inf = 0
        var mn = Double.infinity, mx = -Double.infinity
        var mean = 0.0, m2 = 0.0
        for i in 0..<n {
            let x = Double(p[i])
            if x.isNaN { nan += 1; continue }
            if x.isInfinite { inf += 1; continue }
            count += 1
            mn = Swift.min(mn, x)
            mx = Swift.max(mx, x)
            let delta = x - mean
            mean += delta / Double(count)
            m2 += delta * (x - mean)
        }
        if count == 0 {
            return TensorStatistics(count: 0, min: .nan, max: .nan, mean: .nan,
                                    sumOfSquaredDeviations: 0, nanCount: nan, infCount: inf)
        }
        return TensorStatistics(count: count, min: mn, max: mx, mean: mean, sumOfSquaredDeviations: m2,
                                nanCount: nan, infCount: inf)
    }
}

/// Decodes whole blocks of one tensor type into `Float`s: a plain float format (one element per
/// "block") or a quantized block type whose kernel lives in another module and is passed in.
public struct BlockDecoder: Sendable {
    /// Elements in one block.
    public var elementsPerBlock: Int
    /// Bytes of one block.
    public var bytesPerBlock: Int
    /// Decodes `count` elements (a multiple of ``elementsPerBlock``) from `source` (any alignment).
    public var decode: @Sendable (_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>,
                                  _ count: Int) -> Void

    /// A decoder for blocks of `elementsPerBlock` values in `bytesPerBlock` bytes.
    public init(elementsPerBlock: Int, bytesPerBlock: Int,
                decode: @escaping @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>, Int) -> Void) {
        self.elementsPerBlock = elementsPerBlock
        self.bytesPerBlock = bytesPerBlock
        self.decode = decode
    }

    /// The decoder of a plain float format.
    public static func float(_ format: FloatFormat) -> BlockDecoder {
        BlockDecoder(elementsPerBlock: 1, bytesPerBlock: format.byteWidth) { source, destination, count in
            format.decode(source, into: destination, count: count)
        }
    }

    /// The decoder for the plain float types (``TensorType/floatFormat``); nil for other types.
    @Sendable
    public static func floatTypes(_ type: TensorType) -> BlockDecoder? {
        type.floatFormat.map(BlockDecoder.float)
    }
}

extension TensorStatistics {
    /// Computes the statistics of `tensors` of `source`, streaming through the mapped bytes in
    /// chunks of about `chunkElements` values, on `threads` threads.
    ///
    /// - Parameters:
    ///   - decoder: finds the decoder of a tensor type; tensors whose type it does not know get
    ///     nil statistics. The default decodes the plain float types; a caller that links the
    ///     quantization kernels passes one that knows the block types too.
    ///   - progress: called (from worker threads) after each chunk with the bytes it covered and
    ///     whether it completed its tensor.
    /// - Returns: one entry per tensor, in the order given.
    /// - Throws: ``FormatError`` if a tensor's bytes lie outside its file or do not match its shape.
    public static func compute(
        _ tensors: [TensorInfo], in source: any TensorSource,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount,
        chunkElements: Int = 1 << 20,
        decoder: @Sendable (TensorType) -> BlockDecoder? = BlockDecoder.floatTypes,
        progress: (@Sendable (_ bytes: Int, _ tensorDone: Bool) -> Void)? = nil
    ) throws -> [TensorStatistics?] {
        // Plan: every decodable tensor becomes one or more chunks of whole blocks.
        var decoders = [BlockDecoder?](repeating: nil, count: tensors.count)
        var items: [WorkItem] = []
        var chunksPerTensor = [Int](repeating: 0, count: tensors.count)
        for (index, tensor) in tensors.enumerated() {
            guard let d = decoder(tensor.type) else { continue }
            let elements = tensor.elementCount
            guard elements % d.elementsPerBlock == 0,
                  (elements / d.elementsPerBlock).multipliedReportingOverflow(by: d.bytesPerBlock)
                      == (tensor.byteCount, false)
            else {
                throw FormatError(.badSize, file: tensor.file, item: tensor.name,
                    "\(tensor.byteCount) bytes do not hold \(elements) elements of type \(tensor.type.name)")
            }
            decoders[index] = d
            let blocks = elements / d.elementsPerBlock
            let blocksPerChunk = Swift.max(1, chunkElements / d.elementsPerBlock)
            var start = 0
            repeat {
                let n = Swift.min(blocksPerChunk, blocks - start)
                items.append(WorkItem(tensor: index, firstBlock: start, blocks: n))
                chunksPerTensor[index] += 1
                start += n
            } while start < blocks
        }

        let shared = SharedState(items: items, chunksPerTensor: chunksPerTensor)
        let workers = Swift.max(1, Swift.min(threads, items.count))
        // Each chunk is decoded in pieces of about `pieceElements` values, so the per-thread
        // scratch stays small (64 KB) and in cache whatever the chunk size or block type.
        let pieceElements = 16_384
        let maxBlock = decoders.compactMap { $0?.elementsPerBlock }.max() ?? 1
        let scratchCapacity = Swift.max(pieceElements, maxBlock)
        let immutableDecoders = decoders
        Parallel.forEach(workers) { _ in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCapacity)
            defer { scratch.deallocate() }
            while let itemIndex = shared.next() {
                let item = shared.items[itemIndex]
                let tensor = tensors[item.tensor]
                let d = immutableDecoders[item.tensor]!
                let count = item.blocks * d.elementsPerBlock
                let byteStart = item.firstBlock * d.bytesPerBlock
                let byteCount = item.blocks * d.bytesPerBlock
                do {
                    let stats = try source.withBytes(of: tensor) { bytes -> TensorStatistics in
                        guard count > 0, let base = bytes.baseAddress else { return .empty }
                        let blocksPerPiece = Swift.max(1, pieceElements / d.elementsPerBlock)
                        var result = TensorStatistics.empty
                        var block = 0
                        while block < item.blocks {
                            let n = Swift.min(blocksPerPiece, item.blocks - block)
                            let elements = n * d.elementsPerBlock
                            d.decode(base + byteStart + block * d.bytesPerBlock, scratch, elements)
                            result = result.merged(with: TensorStatistics(UnsafeBufferPointer(start: scratch, count: elements)))
                            block += n
                        }
                        return result
                    }
                    let done = shared.finish(itemIndex, stats)
                    if done { source.release(tensor) }
                    progress?(byteCount, done)
                } catch {
                    shared.fail(error)
                }
            }
        }
        if let error = shared.error { throw error }

        var result = [TensorStatistics?](repeating: nil, count: tensors.count)
        for (i, item) in items.enumerated() {
            result[item.tensor] = (result[item.tensor] ?? .empty).merged(with: shared.results[i])
        }
        return result
    }

    private struct WorkItem: Sendable {
        var tensor: Int
        var firstBlock: Int
        var blocks: Int
    }

    /// The work queue and results shared by the worker threads, behind one lock (taken once per
    /// chunk of about a million values, so it costs nothing measurable).
    private final class SharedState: @unchecked Sendable {
        let items: [WorkItem]
        private(set) var results: [TensorStatistics]
        private(set) var error: (any Error)?
        private var remaining: [Int]
        private var nextIndex = 0
        private let lock = NSLock()

        init(items: [WorkItem], chunksPerTensor: [Int]) {
            self.items = items
            self.results = [TensorStatistics](repeating: .empty, count: items.count)
            self.remaining = chunksPerTensor
        }

        /// The next chunk to process, or nil when all are taken or an error stopped the work.
        func next() -> Int? {
            lock.lock()
            defer { lock.unlock() }
            guard error == nil, nextIndex < items.count else { return nil }
            nextIndex += 1
            return nextIndex - 1
        }

        /// Stores a chunk's result; returns whether it was the last chunk of its tensor.
        func finish(_ index: Int, _ stats: TensorStatistics) -> Bool {
            lock.lock()
            defer { lock.unlock() }
            results[index] = stats
            remaining[items[index].tensor] -= 1
            return remaining[items[index].tensor] == 0
        }

        func fail(_ error: any Error) {
            lock.lock()
            defer { lock.unlock() }
            if self.error == nil { self.error = error }
        }
    }
}
