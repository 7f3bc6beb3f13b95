/// Serialises the GGUF header, metadata and tensor infos into bytes (little-endian).
struct GGUFEncoder {
    private(set) var bytes: [UInt8] = []
    let file: String

    init(file: String) {
        self.file = file
    }

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(string: String) {
        append(UInt64(string.utf8.count))
        bytes.append(contentsOf: string.utf8)
    }

    mutating func appendZeros(_ count: Int) {
        bytes.append(contentsOf: repeatElement(0, count: count))
    }

    /// Appends the magic and the written version.
    mutating func appendMagicAndVersion() {
        bytes.append(contentsOf: GGUFFormat.magic)
        append(GGUFFormat.writtenVersion)
    }

    /// Appends a key-value: the key, the value type, the value.
    mutating func append(key: String, value: MetadataValue) throws {
        append(string: key)
        append(value.ggufType.rawValue)
        try append(value: value, key: key)
    }

    /// Appends a value without its type; arrays are checked to hold only their declared type.
    mutating func append(value: MetadataValue, key: String) throws {
        switch value {
        case .uint8(let v): append(v)
        case .int8(let v): append(v)
        case .uint16(let v): append(v)
        case .int16(let v): append(v)
        case .uint32(let v): append(v)
        case .int32(let v): append(v)
        case .uint64(let v): append(v)
        case .int64(let v): append(v)
        case .float32(let v): append(v.bitPattern)
        case .float64(let v): append(v.bitPattern)
        case .bool(let v): append(UInt8(v ? 1 : 0))
        case .string(let v): append(string: v)
        case .array(let elementType, let elements):
            append(elementType.rawValue)
            append(UInt64(elements.count))
            for element in elements {
                guard element.ggufType == elementType else {
                    throw FormatError(.badMetadata, file: file, item: key,
                        "an array declared as \(elementType.name) holds a \(element.ggufType.name)")
                }
                try append(value: element, key: key)
            }
        }
    }
}
