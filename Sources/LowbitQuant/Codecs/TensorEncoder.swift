import Foundation
import LowbitFormats
import LowbitSystem

/// Quantizes rows of floats into any GGML type with a codec in ``GGUFCodecs`` (F32, F16, BF16,
/// the legacy blocks, the K-quants and IQ4), in parallel over rows.
///
/// Results do not depend on the number of threads: each row is quantized on its own.
public enum TensorEncoder {
    /// Quantizes `rows` (a whole number of rows of `rowLength` floats) as `type` into `destination`,
    /// which must hold exactly `rowCount * (rowLength / blockSize) * bytesPerBlock` bytes.
    /// - Parameters:
    ///   - importance: optional per-column weights (`rowLength` of them) for codecs that search
    ///     their scales (an importance matrix); others ignore it.
    ///   - name: labels errors.
    ///   - threads: how many threads to use (all cores by default; benchmarks pass 1 or 2).
    /// - Throws: ``QuantError`` if `type` has no codec, the row length does not fit its blocks or
    ///   a buffer has the wrong size.
    public static func quantize(rows: UnsafeBufferPointer<Float>, rowLength: Int, as type: GGMLType,
                                into destination: UnsafeMutableRawBufferPointer,
                                importance: [Float]? = nil, name: String = "",
                                threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        guard let codec = GGUFCodecs.codec(for: type) else {
            throw QuantError(.unsupportedType, item: name, "Lowbit cannot quantize to \(type.name)")
        }
        guard rowLength > 0, rows.count % rowLength == 0 else {
            throw QuantError(.badShape, item: name, "\(rows.count) values are not whole rows of \(rowLength)")
        }
        guard rowLength % type.blockSize == 0 else {
            throw QuantError(.badShape, item: name,
                             "row length \(rowLength) is not a multiple of the \(type.name) block size \(type.blockSize)")
        }
        let rowCount = rows.count / rowLength
        let rowBytes = rowLength / type.blockSize * type.bytesPerBlock
        guard destination.count == rowCount * rowBytes else {
            throw QuantError(.badSize, item: name,
                             "destination holds \(destination.count) bytes, \(rowCount) rows of \(type.name) need \(rowCount * rowBytes)")
        }
        if let importance, importance.count != rowLength {
            throw QuantError(.badArgument, item: name,
                             "importance has \(importance.count) weights for rows of \(rowLength)")
        }
        guard rowCount > 0 else { return }
        let source = rows.baseAddress!, target = destination.baseAddress!
        func run(_ weights: UnsafePointer<Float>?) {
            Parallel.forChunks(rowCount, minimumPerChunk: Swift.max(1, (1 << 15) / rowLength), threads: threads) { range in
                if weights == nil {
                    // Without weights every row is quantized alike: one call covers the chunk.
                    codec.quantize(source + range.lowerBound * rowLength,
                                   into: target + range.lowerBound * rowBytes,
                                   count: range.count * rowLength, importance: nil)
                } else {
                    for r in range {
                        codec.quantize(source + r * rowLength, into: target + r * rowBytes,
                                       count: rowLength, importance: weights)
                    }
                }
            }
        }
        if let importance {
            importance.withUnsafeBufferPointer { run($0.baseAddress) }
        } else {
            run(nil)
        }
    }

    /// Quantizes `values` (rows of `rowLength`) as `type` and returns the bytes.
    public static func quantize(_ values: [Float], rowLength: Int, as type: GGMLType,
                                importance: [Float]? = nil, name: String = "") throws -> [UInt8] {
        guard rowLength > 0, rowLength % type.blockSize == 0, values.count % rowLength == 0 else {
            throw QuantError(.badShape, item: name,
                             "\(values.count) values are not whole rows of \(rowLength) in blocks of \(type.blockSize)")
        }
        let count = values.count / type.blockSize * type.bytesPerBlock
        var out = [UInt8](repeating: 0, count: count)
        try values.withUnsafeBufferPointer { src in
            try out.withUnsafeMutableBytes { dst in
                try quantize(rows: src, rowLength: rowLength, as: type, into: dst, importance: importance, name: name)
            }
        }
        return out
    }
}
