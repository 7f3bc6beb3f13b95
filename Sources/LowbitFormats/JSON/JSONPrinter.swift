extension JSONValue {
    /// The value as JSON text (RFC 8259), UTF-8 characters written as they are.
    ///
    /// - Parameters:
    ///   - pretty: two-space indentation, one member or element per line, `": "` after keys.
    ///   - sortKeys: object members in code-point order of their keys instead of stored order.
    /// - Integers print exactly; doubles print in the shortest form that reads back to the same
    ///   value (a whole double keeps its `.0`, so it parses back as ``number(_:)``); NaN and
    ///   infinities, which JSON cannot express, print as `null`. Strings escape `"`, `\` and
    ///   control characters.
    public func serialized(pretty: Bool = false, sortKeys: Bool = false) -> String {
        var printer = JSONPrinter(pretty: pretty, sortKeys: sortKeys)
        printer.write(self, indent: 0)
        return String(decoding: printer.output, as: UTF8.self)
    }
}

/// Builds the UTF-8 bytes of ``JSONValue/serialized(pretty:sortKeys:)``.
struct JSONPrinter {
    let pretty: Bool
    let sortKeys: Bool
    var output: [UInt8] = []

    init(pretty: Bool, sortKeys: Bool) {
        self.pretty = pretty
        self.sortKeys = sortKeys
        output.reserveCapacity(256)
    }

    mutating func write(_ value: JSONValue, indent: Int) {
        switch value {
        case .null: append("null")
        case .bool(let b): append(b ? "true" : "false")
        case .integer(let v): append(String(v))
        case .unsignedInteger(let v): append(String(v))
        case .number(let v): append(v.isFinite ? v.description : "null")
        case .string(let s): writeString(s)
        case .array(let items):
            if items.isEmpty { return append("[]") }
            output.append(UInt8(ascii: "["))
            for (k, item) in items.enumerated() {
                if k > 0 { output.append(UInt8(ascii: ",")) }
                newline(indent + 1)
                write(item, indent: indent + 1)
            }
            newline(indent)
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            if members.isEmpty { return append("{}") }
            let ordered = sortKeys
                ? members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                : members
            output.append(UInt8(ascii: "{"))
            for (k, member) in ordered.enumerated() {
                if k > 0 { output.append(UInt8(ascii: ",")) }
                newline(indent + 1)
                writeString(member.key)
                output.append(UInt8(ascii: ":"))
                if pretty { output.append(UInt8(ascii: " ")) }
                write(member.value, indent: indent + 1)
            }
            newline(indent)
            output.append(UInt8(ascii: "}"))
        }
    }

    private mutating func newline(_ indent: Int) {
        guard pretty else { return }
        output.append(0x0A)
        output.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * indent))
    }

    private mutating func append(_ s: String) {
        output.append(contentsOf: s.utf8)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    mutating func writeString(_ s: String) {
        output.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): output.append(0x5C); output.append(b)
            case UInt8(ascii: "\\"): output.append(0x5C); output.append(b)
            case 0x0A: output.append(0x5C); output.append(UInt8(ascii: "n"))
            case 0x0D: output.append(0x5C); output.append(UInt8(ascii: "r"))
            case 0x09: output.append(0x5C); output.append(UInt8(ascii: "t"))
            case 0x08: output.append(0x5C); output.append(UInt8(ascii: "b"))
            case 0x0C: output.append(0x5C); output.append(UInt8(ascii: "f"))
            case ..<0x20:
                output.append(contentsOf: "\\u00".utf8)
                output.append(JSONPrinter.hexDigits[Int(b >> 4)])
                output.append(JSONPrinter.hexDigits[Int(b & 0xF)])
            default: output.append(b)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}
