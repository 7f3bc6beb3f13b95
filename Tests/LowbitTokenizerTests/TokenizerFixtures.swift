import Foundation
import LowbitFormats
import LowbitTokenizer
import Testing
import LowbitTestSupport

/// Loads the committed fixtures of fixtures/tokenizer/ (made by make_fixtures.py).
enum TokenizerFixtures {
    static let directory = Fixtures.url("tokenizer")

    static func json(_ name: String) throws -> JSONValue {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try JSONValue.parse([UInt8](data))
    }

    static let environment = ProcessInfo.processInfo.environment

    /// The real SmolLM2 GGUF, when present on this machine (scripts/fetch-model.sh puts it in .cache/).
    static let smolLM2Path = CachedInputs.smolLM2Path
    /// The raw botchan.txt from the sentencepiece 0.2.0 sdist, when present.
    static let botchanPath = environment["LOWBIT_BOTCHAN"] ?? "/tmp/tok/sentencepiece-0.2.0/test/botchan.txt"
    /// Lowbit's default evaluation text (scripts/fetch-eval-text.sh OUTPUT), when present.
    static let evalTextPath = CachedInputs.evalTextPath
    /// sentencepiece's test_model.model, next to botchan.txt in the sdist, when present.
    static let sentencePieceModelPath = ProcessInfo.processInfo.environment["LOWBIT_SPM_MODEL"]
        ?? URL(fileURLWithPath: botchanPath).deletingLastPathComponent().appendingPathComponent("test_model.model").path

    /// GGUF metadata from a fixture holding `tokenizer.ggml.*` keys as plain JSON
    /// (token types as {id: type} for the non-normal ones).
    static func ggufMetadata(_ object: JSONValue) -> [(key: String, value: MetadataValue)] {
        let tokenCount = object["tokenizer.ggml.tokens"]?.arrayValue?.count ?? 0
        var result: [(key: String, value: MetadataValue)] = []
        for (key, value) in object.objectValue ?? [] {
            switch (key, value) {
            case ("tokenizer.ggml.token_type", .object(let sparse)):
                var types = [MetadataValue](repeating: .int32(1), count: tokenCount)
                for (id, type) in sparse { types[Int(id)!] = .int32(Int32(type.intValue!)) }
                result.append((key, .array(.int32, types)))
            case (_, .array(let items)):
                if items.first?.stringValue != nil {
                    result.append((key, .array(.string, items.map { .string($0.stringValue!) })))
                } else if key.hasSuffix("scores") {
                    result.append((key, .array(.float32, items.map { .float32(Float($0.doubleValue!)) })))
                } else {
                    result.append((key, .array(.int32, items.map { .int32(Int32($0.intValue!)) })))
                }
            case (_, .string(let s)): result.append((key, .string(s)))
            case (_, .bool(let b)): result.append((key, .bool(b)))
            case (_, .integer(let i)): result.append((key, .uint32(UInt32(i))))
            default: break
            }
        }
        return result
    }

    static func ids(_ value: JSONValue?) -> [[Int32]] {
        (value?.arrayValue ?? []).map { ($0.arrayValue ?? []).map { Int32($0.intValue!) } }
    }

    static func texts(_ cases: JSONValue) -> [String] {
        (cases["texts"]?.arrayValue ?? []).map { $0.stringValue! }
    }

    /// FNV-1a over the little-endian bytes of each id (as make_fixtures.py's fnv1a).
    static func fnv1a(_ ids: [Int32]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for id in ids {
            let u = UInt32(bitPattern: id)
            for shift in stride(from: 0, to: 32, by: 8) {
                h = (h ^ UInt64((u >> UInt32(shift)) & 0xFF)) &* 0x0000_0100_0000_01B3
            }
        }
        return String(h, radix: 16).leftPadded(to: 16)
    }

    /// The options of a fixture key such as "add=1,special=0".
    static func options(_ key: String) -> (addSpecial: Bool, parseSpecial: Bool) {
        (key.contains("add=1"), key.contains("special=1"))
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// Encodes each text with the options of `mode` (a fixture key such as "add=1,special=0") and
/// records one issue that lists the texts whose ids differ from `expected`.
func expectEncodings(_ tokenizer: Tokenizer, texts: [String], expected: [[Int32]], mode: String,
                     sourceLocation: SourceLocation = #_sourceLocation) {
    let options = TokenizerFixtures.options(mode)
    #expect(texts.count == expected.count, "\(texts.count) texts, \(expected.count) expected encodings",
            sourceLocation: sourceLocation)
    var problems: [String] = []
    for (text, want) in zip(texts, expected) {
        let got = tokenizer.encode(text, addSpecial: options.addSpecial, parseSpecial: options.parseSpecial)
        if got != want {
            problems.append("\(String(text.debugDescription.prefix(80))): got \(got.prefix(24)) want \(want.prefix(24))")
        }
    }
    #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))", sourceLocation: sourceLocation)
}
