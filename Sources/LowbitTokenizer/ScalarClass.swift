/// The character classes pre-tokenizer patterns test (`\p{L}`, `\p{N}`, `\s`, `\p{P}`, `[\r\n]`).
struct ScalarClass: OptionSet, Sendable {
    let rawValue: UInt8

    static let letter = ScalarClass(rawValue: 1)
    static let number = ScalarClass(rawValue: 2)
    static let whitespace = ScalarClass(rawValue: 4)
    static let punctuation = ScalarClass(rawValue: 8)
    /// `\r` or `\n`.
    static let newline = ScalarClass(rawValue: 16)

    private static let ascii: [ScalarClass] = (0..<128).map { classify(UInt32($0)) }

    /// The classes of one scalar value; ASCII from a table, the rest from Unicode properties.
    @inline(__always)
    static func of(_ value: UInt32) -> ScalarClass {
        value < 128 ? ascii[Int(value)] : classify(value)
    }

    private static func classify(_ value: UInt32) -> ScalarClass {
        guard let scalar = Unicode.Scalar(value) else { return [] }
        let properties = scalar.properties
        var result: ScalarClass = []
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            result.insert(.letter)
        case .decimalNumber, .letterNumber, .otherNumber:
            result.insert(.number)
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            result.insert(.punctuation)
        default:
            break
        }
        if properties.isWhitespace { result.insert(.whitespace) }
        if value == 0x0A || value == 0x0D { result.insert(.newline) }
        return result
    }
}

/// One run of text decoded to Unicode scalars with their classes and UTF-8 offsets, which the
/// pre-tokenizer splits by scalar index and the BPE model then reads as bytes.
struct ScalarText {
    var scalars: [UInt32] = []
    var classes: [ScalarClass] = []
    /// UTF-8 offset of each scalar in the source bytes, plus one final entry for the end.
    var byteOffsets: [Int] = []

    /// Decodes well-formed UTF-8 `bytes[range]` (as produced from a Swift String).
    init(_ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>) {
        scalars.reserveCapacity(range.count)
        classes.reserveCapacity(range.count)
        byteOffsets.reserveCapacity(range.count + 1)
        var i = range.lowerBound
        while i < range.upperBound {
            let b0 = UInt32(bytes[i])
            var value: UInt32
            var length: Int
            if b0 < 0x80 {
                value = b0; length = 1
            } else if b0 < 0xE0 {
                value = b0 & 0x1F; length = 2
            } else if b0 < 0xF0 {
                value = b0 & 0x0F; length = 3
            } else {
                value = b0 & 0x07; length = 4
            }
            length = min(length, range.upperBound - i)
            for k in 1..<max(length, 1) { value = (value << 6) | (UInt32(bytes[i + k]) & 0x3F) }
            byteOffsets.append(i)
            scalars.append(value)
            classes.append(ScalarClass.of(value))
            i += length
        }
        byteOffsets.append(range.upperBound)
    }

    var count: Int { scalars.count }
}
