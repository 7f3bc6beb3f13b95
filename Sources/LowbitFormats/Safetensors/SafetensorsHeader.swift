/// The validated header of a safetensors file: what every tensor is and where its bytes are.
///
/// Parsing checks every rule of `formats/safetensors.md` and never trusts the file: the header
/// length is bounded by the file size and ``maxHeaderLength``; the header is strict JSON nested
/// at most ``maxHeaderDepth`` levels; every shape and byte count is overflow-checked; the
/// tensors' byte ranges must tile the data section exactly. Any violation throws a
/// ``FormatError`` naming the file, the tensor or key, and the problem.
public struct SafetensorsHeader: Sendable {
    /// Headers longer than this (100 MB, the limit of the reference implementation) are refused.
    public static let maxHeaderLength = 100_000_000
    /// Arrays and objects in the header nest at most this deep (a valid header needs 3).
    public static let maxHeaderDepth = 16
    /// The `__metadata__` key.
    public static let metadataKey = "__metadata__"

    /// The length N of the JSON header, as the first 8 bytes state it.
    public let headerLength: Int
    /// Absolute file offset of the data section (8 + N).
    public let dataOffset: Int
    /// Bytes in the data section.
    public let dataLength: Int
    /// `__metadata__` entries in header order, as ``MetadataValue/string(_:)``.
    public let metadata: [(key: String, value: MetadataValue)]
    /// Tensors ordered by their position in the file; offsets are absolute.
    public let tensors: [TensorInfo]

    /// Parses and validates a header.
    ///
    /// - Parameters:
    ///   - prefix: the first bytes of the file; at least 8 + N of them (the whole file does).
    ///   - fileSize: the size of the whole file in bytes.
    ///   - path: the file path, used in errors and as ``TensorInfo/file``.
    public init(prefix: UnsafeRawBufferPointer, fileSize: Int, path: String) throws {
        guard fileSize >= 8, prefix.count >= 8 else {
            throw FormatError(.truncated, file: path,
                "file is \(fileSize) bytes, too short for the 8-byte header length of a safetensors file")
        }
        let declared = prefix.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
        guard declared <= UInt64(SafetensorsHeader.maxHeaderLength) else {
            throw FormatError(.limitExceeded, file: path,
                "header length \(declared) exceeds the limit of \(SafetensorsHeader.maxHeaderLength) bytes")
        }
        let n = Int(declared)
        guard n <= fileSize - 8 else {
            throw FormatError(.truncated, file: path,
                "header length \(n) runs past the end of the file (\(fileSize) bytes, \(fileSize - 8) after the length field)")
        }
        guard prefix.count >= 8 + n else {
            throw FormatError(.truncated, file: path, "only \(prefix.count) bytes of the \(8 + n)-byte header were given")
        }
        headerLength = n
        dataOffset = 8 + n
        dataLength = fileSize - dataOffset

        let json: JSONValue
        do {
            json = try JSONValue.parse(UnsafeRawBufferPointer(rebasing: prefix[8..<(8 + n)]),
                                       maxDepth: SafetensorsHeader.maxHeaderDepth)
        } catch let error as JSONError {
            if error.kind == .duplicateKey {
                throw FormatError(.duplicateName, file: path, item: error.item,
                    "the header names '\(error.item ?? "")' twice (header byte \(error.offset ?? 0))")
            }
            throw FormatError(.badHeader, file: path,
                "header is not valid JSON: \(error.reason) (header byte \(error.offset ?? 0), file byte \(8 + (error.offset ?? 0)))")
        }
        guard case .object(let entries) = json else {
            throw FormatError(.badHeader, file: path, "header is not a JSON object")
        }

        var metadata: [(key: String, value: MetadataValue)] = []
        var parsed: [(info: TensorInfo, begin: Int, end: Int)] = []
        parsed.reserveCapacity(entries.count)
        for (name, value) in entries {
            if name == SafetensorsHeader.metadataKey {
                metadata = try SafetensorsHeader.parseMetadata(value, path: path)
                continue
            }
            parsed.append(try SafetensorsHeader.parseTensor(name: name, value, dataOffset: dataOffset,
                                                            dataLength: dataLength, path: path))
        }
        // File order: by start offset, then end (zero-sized tensors first), then header order.
        let order = parsed.indices.sorted {
            (parsed[$0].begin, parsed[$0].end, $0) < (parsed[$1].begin, parsed[$1].end, $1)
        }
        var position = 0
        var previous: String? = nil
        for k in order {
            let t = parsed[k]
            if t.begin > position {
                let after = previous.map { "after '\($0)' " } ?? "at the start of the data section "
                throw FormatError(.badOffset, file: path, item: t.info.name,
                    "hole of \(t.begin - position) unclaimed bytes \(after)(data bytes \(position)..<\(t.begin)) before '\(t.info.name)'")
            }
            if t.begin < position {
                throw FormatError(.badOffset, file: path, item: t.info.name,
                    "data bytes \(t.begin)..<\(t.end) of '\(t.info.name)' overlap '\(previous ?? "")', which ends at \(position)")
            }
            position = t.end
            previous = t.info.name
        }
        if position != dataLength {
            let after = previous.map { "after the last tensor '\($0)'" } ?? "and the header names no tensors"
            throw FormatError(.badOffset, file: path, item: previous,
                "data section has \(dataLength - position) bytes that no tensor claims \(after) (data bytes \(position)..<\(dataLength))")
        }
        self.metadata = metadata
        self.tensors = order.map { parsed[$0].info }
    }

    private static func parseMetadata(_ value: JSONValue, path: String) throws -> [(key: String, value: MetadataValue)] {
        switch value {
        case .null:
            return []
        case .object(let members):
            return try members.map { member in
                guard case .string(let s) = member.value else {
                    throw FormatError(.badMetadata, file: path, item: member.key,
                        "__metadata__ values must be strings, found \(member.value.serialized().prefix(60))")
                }
                return (key: member.key, value: .string(s))
            }
        default:
            throw FormatError(.badMetadata, file: path, item: metadataKey, "__metadata__ must be an object of strings")
        }
    }

    private static func parseTensor(name: String, _ value: JSONValue, dataOffset: Int, dataLength: Int,
                                    path: String) throws -> (info: TensorInfo, begin: Int, end: Int) {
        guard case .object = value else {
            throw FormatError(.badHeader, file: path, item: name, "tensor entry is not a JSON object")
        }
        guard let dtypeValue = value["dtype"] else {
            throw FormatError(.badHeader, file: path, item: name, "tensor entry has no \"dtype\"")
        }
        guard case .string(let dtypeName) = dtypeValue else {
            throw FormatError(.badHeader, file: path, item: name, "\"dtype\" is not a string")
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw FormatError(.unknownType, file: path, item: name, "unknown dtype '\(dtypeName)'")
        }

        guard let shapeValue = value["shape"] else {
            throw FormatError(.badShape, file: path, item: name, "tensor entry has no \"shape\"")
        }
        guard case .array(let dims) = shapeValue else {
            throw FormatError(.badShape, file: path, item: name, "\"shape\" is not an array")
        }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        var elements = 1
        for dim in dims {
            let d: Int
            switch dim {
            case .integer(let v) where v >= 0:
                d = Int(v)
            case .integer(let v):
                throw FormatError(.badShape, file: path, item: name, "negative dimension \(v) in shape")
            case .unsignedInteger(let v):
                throw FormatError(.overflow, file: path, item: name, "dimension \(v) in shape is too large")
            default:
                throw FormatError(.badShape, file: path, item: name,
                    "shape entries must be non-negative integers, found \(dim.serialized().prefix(40))")
            }
            shape.append(d)
            // Checked left to right (even past a zero dimension), so that no later product of
            // this shape can overflow.
            let (product, overflow) = elements.multipliedReportingOverflow(by: d)
            if overflow {
                throw FormatError(.overflow, file: path, item: name,
                    "element count of shape \(dims.map { $0.serialized() }) overflows a 64-bit integer")
            }
            elements = product
        }
        let (bits, bitsOverflow) = elements.multipliedReportingOverflow(by: dtype.bitsPerElement)
        if bitsOverflow {
            throw FormatError(.overflow, file: path, item: name,
                "byte size of shape \(shape) in \(dtypeName) overflows a 64-bit integer")
        }
        guard bits % 8 == 0 else {
            throw FormatError(.badSize, file: path, item: name,
                "\(elements) elements of \(dtypeName) (\(dtype.bitsPerElement) bits each) do not fill whole bytes")
        }
        let byteCount = bits / 8

        guard let offsetsValue = value["data_offsets"] else {
            throw FormatError(.badOffset, file: path, item: name, "tensor entry has no \"data_offsets\"")
        }
        guard case .array(let offsets) = offsetsValue, offsets.count == 2 else {
            throw FormatError(.badOffset, file: path, item: name, "\"data_offsets\" is not an array of two integers")
        }
        var bounds: [Int] = []
        for o in offsets {
            switch o {
            case .integer(let v) where v >= 0:
                bounds.append(Int(v))
            case .integer, .unsignedInteger:
                throw FormatError(.badOffset, file: path, item: name,
                    "data offset \(o.serialized()) lies outside the data section of \(dataLength) bytes")
            default:
                throw FormatError(.badOffset, file: path, item: name,
                    "data offsets must be non-negative integers, found \(o.serialized().prefix(40))")
            }
        }
        let begin = bounds[0], end = bounds[1]
        guard begin <= end else {
            throw FormatError(.badOffset, file: path, item: name, "data offsets [\(begin), \(end)] end before they begin")
        }
        guard end <= dataLength else {
            throw FormatError(.badOffset, file: path, item: name,
                "data offsets [\(begin), \(end)] run past the end of the data section (\(dataLength) bytes)")
        }
        guard end - begin == byteCount else {
            throw FormatError(.badSize, file: path, item: name,
                "shape \(shape) of \(dtypeName) needs \(byteCount) bytes but data offsets [\(begin), \(end)] span \(end - begin)")
        }
        let info = TensorInfo(name: name, type: .safetensors(dtype), shape: shape,
                              offset: dataOffset + begin, byteCount: byteCount, file: path)
        return (info, begin, end)
    }
}
