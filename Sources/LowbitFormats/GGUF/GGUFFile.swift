/// A GGUF model file (version 2 or 3, little-endian), memory-mapped and validated when opened.
///
/// Opening checks the whole layout (see `formats/gguf.md`): the header, every metadata value,
/// every tensor info, alignment, block sizes, byte ranges inside the file and without overlaps,
/// unique names and keys. A file that breaks any rule raises a ``FormatError`` naming the file,
/// the key or tensor, and what is wrong. Tensor bytes are handed out zero-copy from the mapping.
public final class GGUFFile: TensorSource {
    /// The path the file was opened with.
    public let path: String
    /// Always ``ModelFormat/gguf``.
    public var format: ModelFormat { .gguf }
    /// The format version in the header (2 or 3).
    public let version: UInt32
    /// The alignment of tensor data: `general.alignment`, or 32 when the file does not set it.
    public let alignment: Int
    /// The absolute offset where the tensor data section starts (aligned to ``alignment``).
    public let dataOffset: Int
    /// The key-values in file order.
    public let metadata: [(key: String, value: MetadataValue)]
    /// The tensors in file order; ``TensorInfo/shape`` is in `ne` order (fastest first) and
    /// ``TensorInfo/offset`` is absolute.
    public let tensors: [TensorInfo]
    private let mapping: MappedFile

    /// Maps and validates the GGUF file at `path`.
    public init(path: String) throws {
        let mapping = try MappedFile(path: path)
        let layout = try mapping.withBytes(0..<mapping.count) { bytes in
            var parser = GGUFParser(GGUFByteReader(bytes, file: path))
            return try parser.parse()
        }
        self.path = path
        self.mapping = mapping
        version = layout.version
        alignment = layout.alignment
        dataOffset = layout.dataOffset
        metadata = layout.metadata
        tensors = layout.tensors
    }

    /// The size of the file in bytes.
    public var fileSize: Int { mapping.count }

    /// Calls `body` with the tensor's bytes, straight from the mapping; throws if the tensor is not
    /// in this file or its range is not inside it.
    public func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard tensor.file == path else {
            throw FormatError(.missingTensor, file: path, item: tensor.name,
                "the tensor belongs to \(tensor.file), not to this file")
        }
        let (end, overflow) = tensor.offset.addingReportingOverflow(tensor.byteCount)
        guard !overflow, tensor.offset >= 0, tensor.byteCount >= 0 else {
            throw FormatError(.badOffset, file: path, item: tensor.name, "the byte range overflows")
        }
        return try mapping.withBytes(tensor.offset..<end, item: tensor.name, body)
    }

    /// Checks that the file has not shrunk or been replaced since it was opened (see
    /// ``MappedFile/checkIntact(item:)``).
    public func checkIntact(_ tensor: TensorInfo) throws -> String? {
        try mapping.checkIntact(item: tensor.name)
    }

    /// Lets the kernel drop the tensor's pages from memory.
    public func release(_ tensor: TensorInfo) {
        let (end, overflow) = tensor.offset.addingReportingOverflow(tensor.byteCount)
        guard !overflow, tensor.offset >= 0, tensor.byteCount >= 0 else { return }
        mapping.release(tensor.offset..<end)
    }
}

/// The parsed layout of a GGUF file.
struct GGUFLayout {
    var version: UInt32
    var alignment: Int
    var dataOffset: Int
    var metadata: [(key: String, value: MetadataValue)]
    var tensors: [TensorInfo]
}

/// Reads and validates the header, metadata and tensor infos of a GGUF file.
struct GGUFParser {
    private var reader: GGUFByteReader
    private var file: String { reader.file }

    init(_ reader: GGUFByteReader) {
        self.reader = reader
    }

    /// A tensor info as stored, before its offset is made absolute.
    private struct RawTensor {
        var name: String
        var type: GGMLType
        var shape: [Int]
        var relativeOffset: Int
        var byteCount: Int
    }

    mutating func parse() throws -> GGUFLayout {
        let version = try readHeaderStart()
        let tensorCount = try reader.readCount(elementSize: GGUFFormat.minTensorInfoSize,
                                               "tensor count", item: nil)
        let keyValueCount = try reader.readCount(elementSize: GGUFFormat.minKeyValueSize,
                                                 "key-value count", item: nil)
        let (metadata, alignment) = try readMetadata(count: keyValueCount)
        let raw = try readTensorInfos(count: tensorCount)
        // The cursor is inside the file, so rounding it up cannot overflow an Int.
        let dataOffset = GGUFFormat.align(reader.position, to: alignment) ?? Int.max
        let tensors = try place(raw, dataOffset: dataOffset, alignment: alignment)
        try checkOverlaps(tensors)
        return GGUFLayout(version: version, alignment: alignment, dataOffset: dataOffset,
                          metadata: metadata, tensors: tensors)
    }

    /// Checks the magic and reads the version.
    private mutating func readHeaderStart() throws -> UInt32 {
        guard reader.remaining >= 4 else {
            throw FormatError(.truncated, file: file,
                "the file is \(reader.remaining) bytes long, too short to hold the GGUF magic")
        }
        let found = (0..<4).map { reader.bytes[$0] }
        guard found == GGUFFormat.magic else {
            let shown = found.map { b in (0x20...0x7e).contains(b) ? String(UnicodeScalar(b)) : "\\x\(String(b, radix: 16))" }
            throw FormatError(.badMagic, file: file,
                "not a GGUF file: it starts with \"\(shown.joined())\" instead of \"GGUF\"")
        }
        _ = try reader.read(UInt32.self, "magic", item: nil)
        let version = try reader.read(UInt32.self, "version", item: nil)
        if version & 0xFFFF == 0, (1...GGUFFormat.supportedVersions.upperBound).contains(version.byteSwapped) {
            throw FormatError(.unsupportedVersion, file: file,
                "this is a big-endian GGUF file (version \(version.byteSwapped) stored big-endian); "
                + "only little-endian GGUF files are supported")
        }
        guard GGUFFormat.supportedVersions.contains(version) else {
            let hint = version == 1 ? " (version 1 used 32-bit counts; re-convert the model with a current tool)" : ""
            throw FormatError(.unsupportedVersion, file: file,
                "GGUF version \(version) is not supported; Lowbit reads versions 2 and 3\(hint)")
        }
        return version
    }

    /// Reads the key-values; returns them with the alignment they set.
    private mutating func readMetadata(count: Int) throws -> ([(key: String, value: MetadataValue)], Int) {
        var metadata: [(key: String, value: MetadataValue)] = []
        metadata.reserveCapacity(count)
        var seen = Set<String>(minimumCapacity: count)
        var alignment = GGUFFormat.defaultAlignment
        var budget = GGUFFormat.maxMetadataValues
        for index in 0..<count {
            let keyOffset = reader.position
            let key = try reader.readString("key of key-value #\(index)", item: nil, strict: true)
            guard !key.isEmpty else {
                throw FormatError(.badMetadata, file: file, "key-value #\(index) at offset \(keyOffset) has an empty key")
            }
            guard key.utf8.count <= GGUFFormat.maxKeyLength else {
                throw FormatError(.badMetadata, file: file, item: String(key.prefix(64)) + "...",
                    "key is \(key.utf8.count) bytes long; GGUF allows at most \(GGUFFormat.maxKeyLength)")
            }
            guard seen.insert(key).inserted else {
                throw FormatError(.duplicateName, file: file, item: key,
                    "key appears twice (second time at offset \(keyOffset))")
            }
            let type = try reader.readValueType("value type", key: key)
            let value = try reader.readValue(type, key: key, budget: &budget)
            if key == GGUFFormat.alignmentKey {
                alignment = try Self.alignment(from: value, file: file)
            }
            metadata.append((key: key, value: value))
        }
        return (metadata, alignment)
    }

    /// Validates the value of `general.alignment`.
    static func alignment(from value: MetadataValue, file: String) throws -> Int {
        guard case .uint32(let raw) = value else {
            throw FormatError(.badMetadata, file: file, item: GGUFFormat.alignmentKey,
                "must be a UINT32, but is a \(value.ggufType.name)")
        }
        guard GGUFFormat.isValidAlignment(Int(raw)) else {
            throw FormatError(.badAlignment, file: file, item: GGUFFormat.alignmentKey,
                "is \(raw); the alignment must be a nonzero power of two")
        }
        return Int(raw)
    }

    /// Reads the tensor infos and checks each on its own (shape, type, block size, size).
    private mutating func readTensorInfos(count: Int) throws -> [RawTensor] {
        var tensors: [RawTensor] = []
        tensors.reserveCapacity(count)
        var seen = Set<String>(minimumCapacity: count)
        for index in 0..<count {
            let infoOffset = reader.position
            let name = try reader.readString("name of tensor #\(index)", item: nil, strict: true)
            guard !name.isEmpty else {
                throw FormatError(.badHeader, file: file, "tensor #\(index) at offset \(infoOffset) has an empty name")
            }
            guard seen.insert(name).inserted else {
                throw FormatError(.duplicateName, file: file, item: name,
                    "two tensors have this name (second at offset \(infoOffset))")
            }
            let dims = try reader.read(UInt32.self, "dimension count", item: name)
            guard dims <= GGUFFormat.maxDimensions else {
                throw FormatError(.badShape, file: file, item: name,
                    "has \(dims) dimensions; GGUF allows at most \(GGUFFormat.maxDimensions)")
            }
            var shape: [Int] = []
            // The product of the nonzero dimensions must fit, so that the element count
            // computed in any order (by any consumer of the shape) cannot overflow.
            var nonzeroProduct = 1
            var overflowed = false
            for d in 0..<Int(dims) {
                let ne = try reader.read(UInt64.self, "dimension \(d)", item: name)
                guard ne <= UInt64(Int64.max) else {
                    throw FormatError(.badShape, file: file, item: name,
                        "dimension \(d) is \(ne), beyond the signed 64-bit range (a negative ne)")
                }
                shape.append(Int(ne))
                let (product, o) = nonzeroProduct.multipliedReportingOverflow(by: max(Int(ne), 1))
                nonzeroProduct = product
                overflowed = overflowed || o
            }
            let typeID = try reader.read(UInt32.self, "type", item: name)
            let offset = try reader.read(UInt64.self, "data offset", item: name)
            guard !overflowed else {
                throw FormatError(.overflow, file: file, item: name,
                    "the product of the dimensions of shape \(shape) overflows 64 bits")
            }
            let elements = shape.contains(0) ? 0 : nonzeroProduct
            guard let type = GGMLType(rawValue: typeID) else {
                throw FormatError(.unknownType, file: file, item: name,
                    "has unknown ggml type id \(typeID)")
            }
            let rowLength = shape.first ?? 1
            guard rowLength % type.blockSize == 0 else {
                throw FormatError(.badShape, file: file, item: name,
                    "row length ne[0] = \(rowLength) is not a multiple of the \(type.name) block size \(type.blockSize)")
            }
            let (byteCount, o) = (elements / type.blockSize).multipliedReportingOverflow(by: type.bytesPerBlock)
            guard !o else {
                throw FormatError(.overflow, file: file, item: name,
                    "the byte size of \(elements) \(type.name) elements overflows 64 bits")
            }
            guard offset <= UInt64(Int.max) else {
                throw FormatError(.badOffset, file: file, item: name, "data offset \(offset) is beyond any file size")
            }
            tensors.append(RawTensor(name: name, type: type, shape: shape, relativeOffset: Int(offset),
                                     byteCount: byteCount))
        }
        return tensors
    }

    /// Makes offsets absolute and checks alignment and that every range lies inside the file.
    private func place(_ raw: [RawTensor], dataOffset: Int, alignment: Int) throws -> [TensorInfo] {
        let size = reader.bytes.count
        return try raw.map { t in
            guard t.relativeOffset % alignment == 0 else {
                throw FormatError(.badAlignment, file: file, item: t.name,
                    "data offset \(t.relativeOffset) is not a multiple of the alignment \(alignment)")
            }
            guard dataOffset <= size else {
                throw FormatError(.truncated, file: file, item: t.name,
                    "the file ends at \(size) bytes, before its tensor data section at \(dataOffset)")
            }
            let (start, o1) = dataOffset.addingReportingOverflow(t.relativeOffset)
            guard !o1, start <= size else {
                throw FormatError(.badOffset, file: file, item: t.name,
                    "data starts at \(o1 ? "beyond 2^63" : String(start)) (data section at \(dataOffset) + \(t.relativeOffset)), "
                    + "past the end of the file (\(size) bytes)")
            }
            let (end, o2) = start.addingReportingOverflow(t.byteCount)
            guard !o2, end <= size else {
                throw FormatError(.truncated, file: file, item: t.name,
                    "its \(t.byteCount) bytes at offset \(start) run past the end of the file (\(size) bytes)")
            }
            return TensorInfo(name: t.name, type: .ggml(t.type), shape: t.shape, offset: start,
                              byteCount: t.byteCount, file: file)
        }
    }

    /// Checks that no two tensors share a byte.
    private func checkOverlaps(_ tensors: [TensorInfo]) throws {
        let ordered = tensors.filter { $0.byteCount > 0 }.sorted { $0.offset < $1.offset }
        for (a, b) in zip(ordered, ordered.dropFirst()) where b.offset < a.offset + a.byteCount {
            throw FormatError(.badOffset, file: file, item: b.name,
                "its bytes \(b.offset)..<\(b.offset + b.byteCount) overlap tensor '\(a.name)' "
                + "(\(a.offset)..<\(a.offset + a.byteCount))")
        }
    }
}
