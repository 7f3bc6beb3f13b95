/// A JSON document, with object keys kept in their order.
///
/// Lowbit parses JSON itself (safetensors headers, `config.json`, `tokenizer.json`) so that it can
/// bound what a hostile file makes it allocate and reject duplicate keys, and prints it itself so
/// that output is stable and large integers stay exact.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number written with no fraction or exponent that fits in Int64.
    case integer(Int64)
    /// An unsigned integer beyond Int64 (`__metadata__` of some files, u64 GGUF values).
    case unsignedInteger(UInt64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    /// Structural equality; objects compare their keys in order.
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.integer(let x), .integer(let y)): x == y
        case (.unsignedInteger(let x), .unsignedInteger(let y)): x == y
        case (.number(let x), .number(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        case (.object(let x), .object(let y)):
            x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    /// The member `key` of an object (first match), or nil.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members.first(where: { $0.key == key })?.value }
        return nil
    }

    /// The string, if this is one.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The number as an `Int`, if it is a number that is exactly an integer in range.
    public var intValue: Int? {
        switch self {
        case .integer(let v): Int(exactly: v)
        case .unsignedInteger(let v): Int(exactly: v)
        case .number(let v): Int(exactly: v)
        default: nil
        }
    }

    /// The number as a `Double`, if this is a number.
    public var doubleValue: Double? {
        switch self {
        case .integer(let v): Double(v)
        case .unsignedInteger(let v): Double(v)
        case .number(let v): v
        default: nil
        }
    }

    /// The boolean, if this is one.
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The elements, if this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The members in document order, if this is an object.
    public var objectValue: [(key: String, value: JSONValue)]? {
        if case .object(let o) = self { return o }
        return nil
    }
}
