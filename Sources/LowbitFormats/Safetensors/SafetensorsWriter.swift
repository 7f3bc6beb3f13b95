/// Writes a safetensors file from a plan, streaming the tensor bytes.
///
/// The header (all names, dtypes, shapes and offsets) is written first, as compact JSON with
/// `__metadata__` first and the tensors in plan order, padded with spaces so that the data
/// section starts at a multiple of 8. Tensor data then follows in plan order, contiguously
/// (safetensors has no padding between tensors). Output goes to a temporary file that
/// ``finish()`` renames into place; a writer dropped or failing earlier leaves nothing behind.
public final class SafetensorsWriter: TensorWriter {
    /// The final path of the output.
    public let path: String
    /// The planned tensors with their absolute offsets in the output.
    public let tensors: [TensorInfo]
    /// Total bytes of tensor data the plan holds.
    public let dataByteCount: Int
    /// Bytes of tensor data appended so far.
    public private(set) var dataBytesWritten = 0

    private var file: AtomicFile?
    /// The ``ContentHash`` of the whole file, once ``finish()`` succeeded on a writer created
    /// with `hashing: true`.
    public private(set) var contentHash: ContentHash?
    /// The file's size once ``finish()`` succeeded.
    public private(set) var finishedSize: Int?
    private var buffer: [UInt8] = []
    private static let bufferCapacity = 1 << 20

    /// Plans the file and writes its header.
    ///
    /// - Parameters:
    ///   - tensors: names, dtypes and row-major shapes, in the order their data will follow.
    ///     Types must be safetensors dtypes, or plain ggml types (F32, F16, BF16, F64, I8..I64),
    ///     which are written under their safetensors names.
    ///   - metadata: `__metadata__` string pairs (keys must be unique).
    ///   - hashing: also hash every byte written (``contentHash``), for resumable outputs.
    /// - Throws: ``FormatError`` for duplicate names, unknown or quantized types, sizes that do
    ///   not fill whole bytes or overflow, or an I/O failure.
    public init(path: String, tensors: [PlannedTensor], metadata: [(key: String, value: String)] = [],
                hashing: Bool = false) throws {
        self.path = path
        var seenNames = Set<ExactKey>()
        var infos: [TensorInfo] = []
        infos.reserveCapacity(tensors.count)
        var members: [(key: String, value: JSONValue)] = []
        members.reserveCapacity(tensors.count + 1)

        if !metadata.isEmpty {
            var seenKeys = Set<ExactKey>()
            for (key, _) in metadata where !seenKeys.insert(ExactKey(string: key)).inserted {
                throw FormatError(.duplicateName, file: path, item: key, "metadata key '\(key)' is given twice")
            }
            members.append((SafetensorsHeader.metadataKey, .object(metadata.map { ($0.key, .string($0.value)) })))
        }
        var position = 0
        var plannedRanges: [(name: String, dtype: SafetensorsDType, shape: [Int], begin: Int, end: Int)] = []
        for planned in tensors {
            let name = planned.name
            guard name != SafetensorsHeader.metadataKey else {
                throw FormatError(.badHeader, file: path, item: name, "'\(name)' is reserved for metadata")
            }
            guard seenNames.insert(ExactKey(string: name)).inserted else {
                throw FormatError(.duplicateName, file: path, item: name, "the plan names this tensor twice")
            }
            guard let dtype = SafetensorsWriter.dtype(for: planned.type) else {
                throw FormatError(.unknownType, file: path, item: name,
                    "type \(planned.type.name) cannot be stored in a safetensors file")
            }
            var elements = 1
            for d in planned.shape {
                guard d >= 0 else {
                    throw FormatError(.badShape, file: path, item: name, "negative dimension in shape \(planned.shape)")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow else {
                    throw FormatError(.overflow, file: path, item: name, "element count of shape \(planned.shape) overflows")
                }
                elements = product
            }
            guard let bytes = TensorType.safetensors(dtype).byteCount(elements: elements) else {
                throw FormatError(.badSize, file: path, item: name,
                    "\(elements) elements of \(dtype.name) do not fill whole bytes, or their size overflows")
            }
            let (end, overflow) = position.addingReportingOverflow(bytes)
            guard !overflow else {
                throw FormatError(.overflow, file: path, item: name, "total data size overflows")
            }
            plannedRanges.append((name, dtype, planned.shape, position, end))
            position = end
        }
        for t in plannedRanges {
            members.append((t.name, .object([
                ("dtype", .string(t.dtype.name)),
                ("shape", .array(t.shape.map { .integer(Int64($0)) })),
                ("data_offsets", .array([.integer(Int64(t.begin)), .integer(Int64(t.end))])),
            ])))
        }
        var header = Array(JSONValue.object(members).serialized().utf8)
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))
        guard header.count <= SafetensorsHeader.maxHeaderLength else {
            throw FormatError(.limitExceeded, file: path,
                "header would be \(header.count) bytes, more than readers accept (\(SafetensorsHeader.maxHeaderLength))")
        }
        let dataOffset = 8 + header.count
        infos = plannedRanges.map {
            TensorInfo(name: $0.name, type: .safetensors($0.dtype), shape: $0.shape,
                       offset: dataOffset + $0.begin, byteCount: $0.end - $0.begin, file: path)
        }
        self.tensors = infos
        self.dataByteCount = position

        let file = try AtomicFile(path: path, hashing: hashing)
        var length = UInt64(header.count).littleEndian
        try withUnsafeBytes(of: &length) { try file.write($0) }
        try file.write(header)
        self.file = file
        buffer.reserveCapacity(SafetensorsWriter.bufferCapacity)
    }

    /// The safetensors dtype that stores `type`, if any.
    public static func dtype(for type: TensorType) -> SafetensorsDType? {
        switch type {
        case .safetensors(let d): d
        case .ggml(.f32): .F32
        case .ggml(.f16): .F16
        case .ggml(.bf16): .BF16
        case .ggml(.f64): .F64
        case .ggml(.i8): .I8
        case .ggml(.i16): .I16
        case .ggml(.i32): .I32
        case .ggml(.i64): .I64
        case .ggml: nil
        }
    }

    /// The tensor the next appended byte belongs to, or nil when all data has been written.
    public var currentTensor: TensorInfo? {
        let absolute = (tensors.first?.offset ?? 0) + dataBytesWritten
        return tensors.first { $0.byteCount > 0 && $0.byteRange.contains(absolute) }
    }

    /// Appends the next bytes of tensor data, in plan order; throws if they run past the planned
    /// tensors or the write fails.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard let file else {
            throw FormatError(.io, file: path, "append after finish() or after a failed write")
        }
        guard bytes.count <= dataByteCount - dataBytesWritten else {
            throw FormatError(.badSize, file: path, item: tensors.last?.name,
                "\(bytes.count) more bytes given, but only \(dataByteCount - dataBytesWritten) of the planned \(dataByteCount) remain")
        }
        do {
            if buffer.count + bytes.count <= SafetensorsWriter.bufferCapacity {
                buffer.append(contentsOf: bytes)
            } else {
                try flush(file)
                if bytes.count >= SafetensorsWriter.bufferCapacity / 2 {
                    try file.write(bytes)
                } else {
                    buffer.append(contentsOf: bytes)
                }
            }
        } catch {
            self.file = nil  // drops the temporary file
            throw error
        }
        dataBytesWritten += bytes.count
    }

    /// Appends `bytes` (see ``append(_:)-(UnsafeRawBufferPointer)``).
    public func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append($0) }
    }

    /// Checks that every planned byte was written, then commits the file under its final name.
    public func finish() throws {
        guard let file else {
            throw FormatError(.io, file: path, "finish() called twice or after a failed write")
        }
        guard dataBytesWritten == dataByteCount else {
            let missing = currentTensor?.name
            throw FormatError(.badSize, file: path, item: missing,
                "only \(dataBytesWritten) of the planned \(dataByteCount) data bytes were written")
        }
        do {
            try flush(file)
            try file.commit()
            contentHash = file.contentHash
            finishedSize = file.bytesWritten
        } catch {
            self.file = nil
            throw error
        }
        self.file = nil
    }

    private func flush(_ file: AtomicFile) throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try file.write($0) }
        buffer.removeAll(keepingCapacity: true)
    }
}
