/// Decoding of GGUF metadata values (every ``GGUFValueType``, nested arrays included).
extension GGUFByteReader {
    /// Reads a value type number.
    mutating func readValueType(_ what: String, key: String) throws -> GGUFValueType {
        let raw = try read(UInt32.self, what, item: key)
        guard let type = GGUFValueType(rawValue: raw) else {
            throw FormatError(.unknownType, file: file, item: key,
                "\(what) is \(raw), which is not a GGUF value type (0...12)")
        }
        return type
    }

    /// Reads one value of `type`.
    /// - Parameters:
    ///   - depth: how many arrays enclose this value.
    ///   - budget: values the file may still materialise; decremented per array element.
    mutating func readValue(_ type: GGUFValueType, key: String, depth: Int = 0,
                            budget: inout Int) throws -> MetadataValue {
        switch type {
        case .uint8: return .uint8(try read(UInt8.self, "a uint8 value", item: key))
        case .int8: return .int8(try read(Int8.self, "an int8 value", item: key))
        case .uint16: return .uint16(try read(UInt16.self, "a uint16 value", item: key))
        case .int16: return .int16(try read(Int16.self, "an int16 value", item: key))
        case .uint32: return .uint32(try read(UInt32.self, "a uint32 value", item: key))
        case .int32: return .int32(try read(Int32.self, "an int32 value", item: key))
        case .uint64: return .uint64(try read(UInt64.self, "a uint64 value", item: key))
        case .int64: return .int64(try read(Int64.self, "an int64 value", item: key))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self, "a float32 value", item: key)))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self, "a float64 value", item: key)))
        case .bool:
            let offset = position
            let byte = try read(UInt8.self, "a bool value", item: key)
            guard byte <= 1 else {
                throw FormatError(.badMetadata, file: file, item: key,
                    "bool at offset \(offset) is \(byte); only 0 and 1 are valid")
            }
            return .bool(byte == 1)
        case .string:
            return .string(try readString("a string value", item: key, strict: false))
        case .array:
            guard depth < GGUFFormat.maxArrayDepth else {
                throw FormatError(.limitExceeded, file: file, item: key,
                    "arrays are nested more than \(GGUFFormat.maxArrayDepth) deep at offset \(position)")
            }
            let elementType = try readValueType("array element type", key: key)
            let count = try readCount(elementSize: elementType.minimumEncodedSize,
                                      "count of the \(elementType.name) array", item: key)
            guard count <= budget else {
                throw FormatError(.limitExceeded, file: file, item: key,
                    "the metadata holds more than \(GGUFFormat.maxMetadataValues) values in all")
            }
            budget -= count
            return .array(elementType, try readElements(elementType, count: count, key: key,
                                                        depth: depth, budget: &budget))
        }
    }

    /// Reads `count` array elements of `type`.
    private mutating func readElements(_ type: GGUFValueType, count: Int, key: String, depth: Int,
                                       budget: inout Int) throws -> [MetadataValue] {
        var values: [MetadataValue] = []
        values.reserveCapacity(count)
        for _ in 0..<count {
            values.append(try readValue(type, key: key, depth: depth + 1, budget: &budget))
        }
        return values
    }
}
