import LowbitFormats
import LowbitSystem

/// Decodes stored tensors to `Float`, whatever their type: the plain float formats of both
/// container formats (F32, F16, BF16, F64, F8_E4M3, F8_E5M2, F8_E8M0) and every GGML block type
/// with a codec in ``GGUFCodecs``.
///
/// Rows are rows of the tensor's matrix view (``TensorInfo/rowCount`` rows of
/// ``TensorInfo/rowLength`` elements). Large requests are decoded in parallel over rows.
public enum TensorDecoder {
    /// Whether tensors of `type` can be decoded.
    public static func canDecode(_ type: TensorType) -> Bool {
        elementDecoder(for: type) != nil
    }

    /// Decodes rows `rows` (all rows when nil) of `tensor` into a new array.
    /// - Throws: ``QuantError`` if the type cannot be decoded, the rows lie outside the tensor or
    ///   the stored bytes do not match the shape; errors of `source` as they come.
    public static func decode(_ tensor: TensorInfo, from source: any TensorSource,
                              rows: Range<Int>? = nil) throws -> [Float] {
        let rows = rows ?? 0..<tensor.rowCount
        guard rows.lowerBound >= 0, rows.upperBound <= tensor.rowCount else {
            throw QuantError(.badSize, file: tensor.file, item: tensor.name,
                             "rows \(rows.lowerBound)..<\(rows.upperBound) lie outside the \(tensor.rowCount) rows of the tensor")
        }
        let count = rows.count * tensor.rowLength
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try decode(tensor, from: source, rows: rows, into: UnsafeMutableBufferPointer(rebasing: buffer[0..<count]))
            initialized = count
        }
    }

    /// Decodes rows `rows` of `tensor` into `destination`, which must hold exactly
    /// `rows.count * tensor.rowLength` floats.
    public static func decode(_ tensor: TensorInfo, from source: any TensorSource, rows: Range<Int>,
                              into destination: UnsafeMutableBufferPointer<Float>) throws {
        let width = tensor.rowLength
        guard rows.lowerBound >= 0, rows.upperBound <= tensor.rowCount else {
            throw QuantError(.badSize, file: tensor.file, item: tensor.name,
                             "rows \(rows.lowerBound)..<\(rows.upperBound) lie outside the \(tensor.rowCount) rows of the tensor")
        }
        guard destination.count == rows.count * width else {
            throw QuantError(.badSize, file: tensor.file, item: tensor.name,
                             "destination holds \(destination.count) floats, rows \(rows) need \(rows.count * width)")
        }
        guard let decoder = elementDecoder(for: tensor.type) else {
            throw QuantError(.unsupportedType, file: tensor.file, item: tensor.name, "tensors of type \(tensor.type.name) cannot be decoded")
        }
        guard let rowBytes = tensor.type.byteCount(elements: width),
              let totalBytes = tensor.type.byteCount(elements: tensor.elementCount) else {
            throw QuantError(.badShape, file: tensor.file, item: tensor.name,
                             "rows of \(width) elements are not whole blocks of type \(tensor.type.name)")
        }
        try source.withBytes(of: tensor) { bytes in
            guard bytes.count == totalBytes else {
                throw QuantError(.badSize, file: tensor.file, item: tensor.name,
                                 "\(bytes.count) stored bytes do not hold \(tensor.elementCount) elements of type \(tensor.type.name)")
            }
            guard !rows.isEmpty, width > 0 else { return }
            decodeRows(bytes.baseAddress! + rows.lowerBound * rowBytes, rowBytes: rowBytes, rows: rows.count,
                       width: width, into: destination.baseAddress!, decoder: decoder)
        }
    }

    /// Decodes `bytes` holding elements of `type` into `destination` (as many floats as the bytes
    /// hold; for block types a whole number of blocks). `name` labels errors.
    public static func decode(_ bytes: UnsafeRawBufferPointer, as type: TensorType,
                              into destination: UnsafeMutableBufferPointer<Float>, name: String = "") throws {
        guard let decoder = elementDecoder(for: type) else {
            throw QuantError(.unsupportedType, item: name, "tensors of type \(type.name) cannot be decoded")
        }
        guard let needed = type.byteCount(elements: destination.count), needed == bytes.count else {
            throw QuantError(.badSize, item: name,
                             "\(bytes.count) bytes do not hold \(destination.count) elements of type \(type.name)")
        }
        guard destination.count > 0 else { return }
        // View the buffer as rows of about 4096 elements (whole blocks) so large buffers decode
        // in parallel; the remainder is a whole number of blocks too.
        let block = decoder.elementsPerBlock
        let width = Swift.max(block, 4096 / block * block)
        let rowBytes = width / block * decoder.bytesPerBlock
        let fullRows = destination.count / width
        decodeRows(bytes.baseAddress!, rowBytes: rowBytes, rows: fullRows, width: width,
                   into: destination.baseAddress!, decoder: decoder)
        let rest = destination.count - fullRows * width
        if rest > 0 {
            decoder.decode(bytes.baseAddress! + fullRows * rowBytes, destination.baseAddress! + fullRows * width, rest)
        }
    }

    /// A ``BlockDecoder`` (the hook of `TensorStatistics`) for every type ``canDecode(_:)``
    /// accepts, so that statistics cover quantized tensors too.
    @Sendable
    package static func blockDecoder(for type: TensorType) -> BlockDecoder? {
        elementDecoder(for: type)
    }

    static func elementDecoder(for type: TensorType) -> BlockDecoder? {
        if let format = type.floatFormat { return .float(format) }
        guard case .ggml(let ggml) = type, let codec = GGUFCodecs.codec(for: ggml) else { return nil }
        return BlockDecoder(elementsPerBlock: ggml.blockSize, bytesPerBlock: ggml.bytesPerBlock) { s, d, n in
            codec.dequantize(s, into: d, count: n)
        }
    }

    private static func decodeRows(_ source: UnsafeRawPointer, rowBytes: Int, rows: Int, width: Int,
                                   into destination: UnsafeMutablePointer<Float>, decoder: BlockDecoder) {
        Parallel.forChunks(rows, minimumPerChunk: Swift.max(1, (1 << 16) / width)) { range in
            decoder.decode(source + range.lowerBound * rowBytes, destination + range.lowerBound * width,
                           range.count * width)
        }
    }
}
