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
