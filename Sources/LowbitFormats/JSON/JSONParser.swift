/// The kinds of problem the JSON parser reports; tests and callers match on them.
public enum JSONErrorKind: String, Sendable, LocatedErrorSubject {
    case unexpectedEnd, unexpectedCharacter, invalidNumber, numberOutOfRange
    case invalidEscape, invalidUnicode, controlCharacter, duplicateKey, tooDeep
    case trailingCharacters

    /// JSON errors start with `invalid JSON`.
    public static var subject: String { "invalid JSON" }
}

/// Why a JSON document was rejected, and where: `offset` is the byte offset in the input, `item`
/// the object key involved (set for ``JSONErrorKind/duplicateKey``), `file` empty until the
/// caller that read the file adds it with ``LocatedError/located(in:)``.
///
/// The parser is strict (RFC 8259): no comments, no trailing commas, no leading zeros, no
/// non-finite numbers, no invalid UTF-8, no lone surrogates, no duplicate keys in an object.
public typealias JSONError = LocatedError<JSONErrorKind>

extension JSONValue {
    /// Parses one JSON document (RFC 8259) from UTF-8 `bytes`.
    ///
    /// - Integers written without fraction or exponent become ``integer(_:)`` when they fit in
    ///   Int64, ``unsignedInteger(_:)`` when they fit in UInt64, ``number(_:)`` otherwise.
    /// - Objects keep their key order; a key that appears twice in one object is an error
    ///   (keys are compared by their exact code points).
    /// - Arrays and objects nest at most `maxDepth` levels deep. The parser is iterative, so
    ///   no input can overflow the stack, and it allocates in proportion to the input.
    /// - Throws: ``JSONError`` with the byte offset and the reason.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        return try parser.parseDocument()
    }

    /// Parses one JSON document from a string (see ``parse(_:maxDepth:)``).
    public static func parse(_ string: String, maxDepth: Int = 64) throws -> JSONValue {
        var copy = string
        return try copy.withUTF8 { try parse(UnsafeRawBufferPointer($0), maxDepth: maxDepth) }
    }

    /// Parses one JSON document from UTF-8 `bytes`.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64) throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0, maxDepth: maxDepth) }
    }
}

/// An object key compared and hashed by its exact UTF-8 bytes (Swift's `String` equality
/// treats canonically equivalent strings as equal, JSON does not).
struct ExactKey: Hashable {
    let string: String

    static func == (a: ExactKey, b: ExactKey) -> Bool { sameCodePoints(a.string, b.string) }

    /// Whether two strings have the same code points. `String ==` (fast, memcmp for ASCII)
    /// rejects almost every pair; only strings it calls equal need the byte comparison.
    @inline(__always)
    static func sameCodePoints(_ a: String, _ b: String) -> Bool {
        a == b && a.utf8.elementsEqual(b.utf8)
    }

    func hash(into hasher: inout Hasher) {
        let done: Void? = string.utf8.withContiguousStorageIfAvailable {
            hasher.combine(bytes: UnsafeRawBufferPointer($0))
        }
        if done == nil {
            for byte in string.utf8 { hasher.combine(byte) }
        }
    }
}

/// The byte-level JSON parser behind ``JSONValue/parse(_:maxDepth:)``.
struct JSONParser {
    private let bytes: UnsafeRawBufferPointer
    private let maxDepth: Int
    private var index = 0

    /// An array or object being filled.
    private struct Frame {
        var isObject: Bool
        var items: [JSONValue] = []
        var members: [(key: String, value: JSONValue)] = []
        /// Keys seen so far, built only once an object grows past a few members.
        var keySet: Set<ExactKey>? = nil
        /// The key whose value is being parsed.
        var pendingKey = ""
    }

    /// Objects up to this many members check duplicates by a linear scan.
    private static let linearKeyLimit = 12

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = max(0, maxDepth)
    }

    mutating func parseDocument() throws -> JSONValue {
        let value = try parseValue()
        skipWhitespace()
        if index < bytes.count {
            throw JSONError(.trailingCharacters, offset: index,
                "unexpected \(describe(bytes[index])) after the end of the document")
        }
        return value
    }

    // MARK: - Structure

    private mutating func parseValue() throws -> JSONValue {
        var stack: [Frame] = []
        nextValue: while true {
            skipWhitespace()
            guard index < bytes.count else { throw endError("a value") }
            var current: JSONValue
            switch bytes[index] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let isObject = bytes[index] == UInt8(ascii: "{")
                guard stack.count < maxDepth else {
                    throw JSONError(.tooDeep, offset: index, "arrays and objects nest deeper than \(maxDepth) levels")
                }
                index += 1
                skipWhitespace()
                let close = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
                if index < bytes.count, bytes[index] == close {
                    index += 1
                    current = isObject ? .object([]) : .array([])
                } else {
                    var frame = Frame(isObject: isObject)
                    if isObject { frame.pendingKey = try parseKey() }
                    stack.append(frame)
                    continue nextValue
                }
            case UInt8(ascii: "\""):
                current = .string(try parseString())
            case UInt8(ascii: "t"):
                try expectLiteral("true")
                current = .bool(true)
            case UInt8(ascii: "f"):
                try expectLiteral("false")
                current = .bool(false)
            case UInt8(ascii: "n"):
                try expectLiteral("null")
                current = .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                current = try parseNumber()
            default:
                throw JSONError(.unexpectedCharacter, offset: index, "expected a value, found \(describe(bytes[index]))")
            }

            // Attach the finished value to its container; close containers as they end.
            while !stack.isEmpty {
                let top = stack.count - 1
                skipWhitespace()
                if stack[top].isObject {
                    stack[top].members.append((key: stack[top].pendingKey, value: current))
                    guard index < bytes.count else { throw endError("',' or '}'") }
                    if bytes[index] == UInt8(ascii: ",") {
                        index += 1
                        skipWhitespace()
                        let keyOffset = index
                        let key = try parseKey()
                        try checkDuplicate(key, in: &stack[top], offset: keyOffset)
                        stack[top].pendingKey = key
                        continue nextValue
                    }
                    guard bytes[index] == UInt8(ascii: "}") else {
                        throw JSONError(.unexpectedCharacter, offset: index,
                            "expected ',' or '}' in object, found \(describe(bytes[index]))")
                    }
                    index += 1
                    current = .object(stack.removeLast().members)
                } else {
                    stack[top].items.append(current)
                    guard index < bytes.count else { throw endError("',' or ']'") }
                    if bytes[index] == UInt8(ascii: ",") {
                        index += 1
                        continue nextValue
                    }
                    guard bytes[index] == UInt8(ascii: "]") else {
                        throw JSONError(.unexpectedCharacter, offset: index,
                            "expected ',' or ']' in array, found \(describe(bytes[index]))")
                    }
                    index += 1
                    current = .array(stack.removeLast().items)
                }
            }
            return current
        }
    }

    /// Parses `"key"` followed by `:`.
    private mutating func parseKey() throws -> String {
        guard index < bytes.count else { throw endError("an object key") }
        guard bytes[index] == UInt8(ascii: "\"") else {
            throw JSONError(.unexpectedCharacter, offset: index,
                "expected a string key in object, found \(describe(bytes[index]))")
        }
        let key = try parseString()
        skipWhitespace()
        guard index < bytes.count else { throw endError("':'") }
        guard bytes[index] == UInt8(ascii: ":") else {
            throw JSONError(.unexpectedCharacter, offset: index, "expected ':' after object key, found \(describe(bytes[index]))")
        }
        index += 1
        return key
    }

    private func checkDuplicate(_ key: String, in frame: inout Frame, offset: Int) throws {
        let duplicate: Bool
        if frame.keySet == nil, frame.members.count < JSONParser.linearKeyLimit {
            duplicate = frame.members.contains { ExactKey.sameCodePoints($0.key, key) }
        } else {
            if frame.keySet == nil {
                frame.keySet = Set(frame.members.map { ExactKey(string: $0.key) })
            }
            duplicate = !frame.keySet!.insert(ExactKey(string: key)).inserted
        }
        if duplicate {
            throw JSONError(.duplicateKey, item: key, offset: offset, "key \"\(key)\" appears twice in one object")
        }
    }

    private mutating func expectLiteral(_ word: StaticString) throws {
        let start = index
        let length = word.utf8CodeUnitCount
        let matches = word.withUTF8Buffer { w -> Bool in
            guard bytes.count - index >= length else { return false }
            for k in 0..<length where bytes[index + k] != w[k] { return false }
            return true
        }
        guard matches else {
            throw JSONError(.unexpectedCharacter, offset: start, "expected '\(word)'")
        }
        index += length
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    // MARK: - Numbers

    private mutating func parseNumber() throws -> JSONValue {
        let start = index
        var negative = false
        if bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        guard index < bytes.count, isDigit(bytes[index]) else {
            throw JSONError(.invalidNumber, offset: index, "expected a digit in number")
        }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, isDigit(bytes[index]) {
                throw JSONError(.invalidNumber, offset: start, "numbers must not have leading zeros")
            }
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        let integerEnd = index
        var isInteger = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else {
                throw JSONError(.invalidNumber, offset: index, "expected a digit after the decimal point")
            }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else {
                throw JSONError(.invalidNumber, offset: index, "expected a digit in the exponent")
            }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }

        if isInteger {
            var magnitude: UInt64 = 0
            var overflow = false
            for k in (negative ? start + 1 : start)..<integerEnd {
                let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(UInt64(bytes[k] - UInt8(ascii: "0")))
                if o1 || o2 { overflow = true; break }
                magnitude = s
            }
            if !overflow {
                if !negative {
                    if magnitude <= UInt64(Int64.max) { return .integer(Int64(magnitude)) }
                    return .unsignedInteger(magnitude)
                }
                if magnitude <= UInt64(Int64.max) { return .integer(-Int64(magnitude)) }
                if magnitude == UInt64(Int64.max) + 1 { return .integer(Int64.min) }
            }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw JSONError(.numberOutOfRange, offset: start, "number \(text.prefix(40)) is out of the range of a Double")
        }
        return .number(value)
    }

    @inline(__always) private func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    // MARK: - Strings

    /// Parses a string starting at the opening quote.
    private mutating func parseString() throws -> String {
        index += 1  // opening quote
        let start = index
        // Fast path: no escapes.
        while true {
            guard index < bytes.count else { throw endError("the closing '\"' of a string") }
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 {
                throw JSONError(.controlCharacter, offset: index,
                    "control character 0x\(String(b, radix: 16)) must be escaped in a string")
            }
            index += b < 0x80 ? 1 : try utf8SequenceLength(at: index)
        }
        // Slow path: decode escapes into a buffer.
        var buffer = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while true {
            guard index < bytes.count else { throw endError("the closing '\"' of a string") }
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                index += 1
                return String(decoding: buffer, as: UTF8.self)
            }
            if b == UInt8(ascii: "\\") {
                try parseEscape(into: &buffer)
            } else if b < 0x20 {
                throw JSONError(.controlCharacter, offset: index,
                    "control character 0x\(String(b, radix: 16)) must be escaped in a string")
            } else if b < 0x80 {
                buffer.append(b)
                index += 1
            } else {
                let n = try utf8SequenceLength(at: index)
                buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<(index + n)]))
                index += n
            }
        }
    }

    private mutating func parseEscape(into buffer: inout [UInt8]) throws {
        let escapeStart = index
        index += 1
        guard index < bytes.count else { throw endError("an escape sequence") }
        let c = bytes[index]
        index += 1
        switch c {
        case UInt8(ascii: "\""): buffer.append(0x22)
        case UInt8(ascii: "\\"): buffer.append(0x5C)
        case UInt8(ascii: "/"): buffer.append(0x2F)
        case UInt8(ascii: "b"): buffer.append(0x08)
        case UInt8(ascii: "f"): buffer.append(0x0C)
        case UInt8(ascii: "n"): buffer.append(0x0A)
        case UInt8(ascii: "r"): buffer.append(0x0D)
        case UInt8(ascii: "t"): buffer.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try parseHex4()
            if scalar >= 0xD800, scalar <= 0xDBFF {
                guard bytes.count - index >= 2, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                else {
                    throw JSONError(.invalidUnicode, offset: escapeStart, "high surrogate \\u\(hex(scalar)) is not followed by a low surrogate")
                }
                index += 2
                let low = try parseHex4()
                guard low >= 0xDC00, low <= 0xDFFF else {
                    throw JSONError(.invalidUnicode, offset: escapeStart,
                        "high surrogate \\u\(hex(scalar)) is followed by \\u\(hex(low)), not a low surrogate")
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if scalar >= 0xDC00, scalar <= 0xDFFF {
                throw JSONError(.invalidUnicode, offset: escapeStart, "lone low surrogate \\u\(hex(scalar))")
            }
            appendUTF8(scalar, to: &buffer)
        default:
            throw JSONError(.invalidEscape, offset: escapeStart, "invalid escape '\\\(Unicode.Scalar(c))' in string")
        }
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard bytes.count - index >= 4 else { throw endError("four hex digits after \\u") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let digit: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(b - UInt8(ascii: "A") + 10)
            default:
                throw JSONError(.invalidEscape, offset: index, "expected a hex digit in \\u escape, found \(describe(b))")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    private func hex(_ v: UInt32) -> String {
        let s = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    private func appendUTF8(_ scalar: UInt32, to buffer: inout [UInt8]) {
        switch scalar {
        case ..<0x80:
            buffer.append(UInt8(scalar))
        case ..<0x800:
            buffer.append(UInt8(0xC0 | scalar >> 6))
            buffer.append(UInt8(0x80 | scalar & 0x3F))
        case ..<0x10000:
            buffer.append(UInt8(0xE0 | scalar >> 12))
            buffer.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            buffer.append(UInt8(0x80 | scalar & 0x3F))
        default:
            buffer.append(UInt8(0xF0 | scalar >> 18))
            buffer.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            buffer.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            buffer.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    /// The length of the well-formed UTF-8 sequence (2 to 4 bytes) at `at`, whose first byte is
    /// >= 0x80; throws for overlong forms, surrogates, values beyond U+10FFFF and truncation.
    private func utf8SequenceLength(at: Int) throws -> Int {
        let b0 = bytes[at]
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch b0 {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default:
            throw JSONError(.invalidUnicode, offset: at, "invalid UTF-8 byte 0x\(String(b0, radix: 16))")
        }
        guard bytes.count - at >= length else {
            throw JSONError(.invalidUnicode, offset: at, "truncated UTF-8 sequence")
        }
        let b1 = bytes[at + 1]
        guard b1 >= low, b1 <= high else {
            throw JSONError(.invalidUnicode, offset: at, "invalid UTF-8 sequence")
        }
        for k in 2..<length {
            guard bytes[at + k] & 0xC0 == 0x80 else {
                throw JSONError(.invalidUnicode, offset: at, "invalid UTF-8 sequence")
            }
        }
        return length
    }

    // MARK: - Errors

    private func endError(_ expected: String) -> JSONError {
        JSONError(.unexpectedEnd, offset: index, "input ends where \(expected) was expected")
    }

    private func describe(_ b: UInt8) -> String {
        if b >= 0x21, b < 0x7F { return "'\(Unicode.Scalar(b))'" }
        return "byte 0x\(String(b, radix: 16))"
    }
}
