import Foundation
import LowbitFormats
import Testing
import LowbitTestSupport

@Suite("JSON parser and printer")
struct JSONParserTests {
    private func kind(of text: String, maxDepth: Int = 64) -> JSONError.Kind? {
        do {
            _ = try JSONValue.parse(text, maxDepth: maxDepth)
            return nil
        } catch let error as JSONError {
            return error.kind
        } catch {
            return nil
        }
    }

    @Test func scalars() throws {
        #expect(try JSONValue.parse("null") == .null)
        #expect(try JSONValue.parse(" true ") == .bool(true))
        #expect(try JSONValue.parse("false") == .bool(false))
        #expect(try JSONValue.parse("0") == .integer(0))
        #expect(try JSONValue.parse("-0") == .integer(0))
        #expect(try JSONValue.parse("-12") == .integer(-12))
        #expect(try JSONValue.parse("9223372036854775807") == .integer(Int64.max))
        #expect(try JSONValue.parse("-9223372036854775808") == .integer(Int64.min))
        #expect(try JSONValue.parse("9223372036854775808") == .unsignedInteger(1 << 63))
        #expect(try JSONValue.parse("18446744073709551615") == .unsignedInteger(UInt64.max))
        #expect(try JSONValue.parse("18446744073709551616") == .number(18446744073709551616.0))
        #expect(try JSONValue.parse("-9223372036854775809") == .number(-9223372036854775809.0))
        #expect(try JSONValue.parse("1.0") == .number(1.0))
        #expect(try JSONValue.parse("1e2") == .number(100))
        #expect(try JSONValue.parse("-2.5E-3") == .number(-0.0025))
        #expect(try JSONValue.parse("1e-400") == .number(0))
        #expect(try JSONValue.parse("0.1") == .number(0.1))
        #expect(try JSONValue.parse("\"\"") == .string(""))
    }

    @Test func stringEscapes() throws {
        #expect(try JSONValue.parse(#""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{8}\u{c}\n\r\t"))
        #expect(try JSONValue.parse(#""\u00e9\u00E9""#) == .string("éé"))
        #expect(try JSONValue.parse(#""\u0000""#) == .string("\u{0}"))
        #expect(try JSONValue.parse(#""\ud83e\udd99""#) == .string("🦙"))
        #expect(try JSONValue.parse(#""x\uD834\uDD1Ey""#) == .string("x𝄞y"))
        #expect(try JSONValue.parse("\"grüße 🦙\"") == .string("grüße 🦙"))
        // Canonically equivalent but different code points are different strings (and keys).
        let decomposed = try JSONValue.parse(#"{"e\u0301": 1, "\u00e9": 2}"#)
        #expect(decomposed.objectValue?.count == 2)
    }

    @Test func containers() throws {
        let v = try JSONValue.parse(#" { "b" : [1, 2.5, "x", null, {"c": []}], "a": {} } "#)
        #expect(v.objectValue?.map(\.key) == ["b", "a"])
        #expect(v["b"]?.arrayValue?.count == 5)
        #expect(v["b"]?.arrayValue?[4]["c"] == .array([]))
        #expect(v["a"] == .object([]))
        #expect(try JSONValue.parse("[]") == .array([]))
        #expect(try JSONValue.parse("[[[]]]") == .array([.array([.array([])])]))
    }

    @Test func rejectsInvalidDocuments() throws {
        let cases: [(String, JSONError.Kind)] = [
            ("", .unexpectedEnd), ("   ", .unexpectedEnd), ("[", .unexpectedEnd), ("[1,", .unexpectedEnd),
            ("{\"a\"", .unexpectedEnd), ("{\"a\":", .unexpectedEnd), ("\"abc", .unexpectedEnd),
            ("\"\\u12", .unexpectedEnd), ("{\"a\":1", .unexpectedEnd),
            ("[1,]", .unexpectedCharacter), ("{\"a\":1,}", .unexpectedCharacter), ("{,}", .unexpectedCharacter),
            ("{a:1}", .unexpectedCharacter), ("[1 2]", .unexpectedCharacter), ("{\"a\" 1}", .unexpectedCharacter),
            ("tru", .unexpectedCharacter), ("nul", .unexpectedCharacter), ("NaN", .unexpectedCharacter),
            ("Infinity", .unexpectedCharacter), ("'a'", .unexpectedCharacter), ("+1", .unexpectedCharacter),
            ("\u{FEFF}1", .unexpectedCharacter), ("// c\n1", .unexpectedCharacter), (".5", .unexpectedCharacter),
            ("01", .invalidNumber), ("-", .invalidNumber), ("1.", .invalidNumber), ("1.e3", .invalidNumber),
            ("1e", .invalidNumber), ("1e+", .invalidNumber), ("-a", .invalidNumber), ("--1", .invalidNumber),
            ("1e400", .numberOutOfRange), ("-1e400", .numberOutOfRange),
            ("\"\\x\"", .invalidEscape), ("\"\\u12G4\"", .invalidEscape), ("\"\\U0041\"", .invalidEscape),
            ("\"\\ud800\"", .invalidUnicode), ("\"\\udc00\"", .invalidUnicode), ("\"\\ud800\\u0041\"", .invalidUnicode),
            ("\"\\ud800x\"", .invalidUnicode),
            ("\"a\nb\"", .controlCharacter), ("\"\t\"", .controlCharacter), ("\"\u{0}\"", .controlCharacter),
            ("{\"a\":1,\"a\":2}", .duplicateKey),
            ("1 2", .trailingCharacters), ("{} x", .trailingCharacters), ("null\u{0}", .trailingCharacters),
        ]
        for (text, expected) in cases {
            #expect(kind(of: text) == expected, "\(text.debugDescription)")
        }
    }

    @Test func rejectsInvalidUTF8() throws {
        let bad: [[UInt8]] = [
            [0x22, 0xFF, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xE0, 0x80, 0xAF, 0x22],  // overlong
            [0x22, 0xED, 0xA0, 0x80, 0x22],  // UTF-8 encoded surrogate
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // beyond U+10FFFF
            [0x22, 0xE2, 0x82, 0x22],  // truncated sequence
            [0x22, 0xC3],  // truncated at end
            [0x22, 0x5C, 0x6E, 0x80, 0x22],  // stray continuation after an escape
        ]
        for bytes in bad {
            do {
                _ = try JSONValue.parse(bytes)
                Issue.record("accepted \(bytes)")
            } catch let error as JSONError {
                #expect(error.kind == .invalidUnicode || error.kind == .unexpectedEnd, "\(bytes): \(error)")
            } catch {
                Issue.record("wrong error type")
            }
        }
        #expect(try JSONValue.parse([0x22, 0xF0, 0x9F, 0xA6, 0x99, 0x22]) == .string("🦙"))
    }

    @Test func duplicateKeysInLargeObjectsAndErrorDetails() throws {
        var members = (0..<100).map { "\"k\($0)\": \($0)" }
        #expect(try JSONValue.parse("{" + members.joined(separator: ",") + "}").objectValue?.count == 100)
        members.append("\"k57\": 0")
        let text = "{" + members.joined(separator: ",") + "}"
        do {
            _ = try JSONValue.parse(text)
            Issue.record("duplicate accepted")
        } catch let error as JSONError {
            #expect(error.kind == .duplicateKey && error.item == "k57")
            #expect(error.offset == text.utf8.count - 9)
            #expect(error.description.contains("k57"))
        }
        // Same keys in different objects are fine.
        #expect(try JSONValue.parse(#"[{"a":1},{"a":2}]"#).arrayValue?.count == 2)
    }

    @Test func depthLimit() throws {
        #expect(kind(of: String(repeating: "[", count: 64) + String(repeating: "]", count: 64)) == nil)
        #expect(kind(of: String(repeating: "[", count: 65) + String(repeating: "]", count: 65)) == .tooDeep)
        #expect(kind(of: "[[1]]", maxDepth: 1) == .tooDeep)
        #expect(kind(of: "1", maxDepth: 0) == nil)
        // A million-deep bomb fails fast without exhausting the stack, even with a huge limit.
        let bomb = String(repeating: "[", count: 1_000_000)
        #expect(kind(of: bomb) == .tooDeep)
        #expect(kind(of: bomb, maxDepth: 10_000_000) == .unexpectedEnd)
        let objects = String(repeating: "{\"a\":", count: 200_000)
        #expect(kind(of: objects, maxDepth: Int.max) == .unexpectedEnd)
    }

    @Test func printerCompactAndPretty() throws {
        let v: JSONValue = .object([
            ("b", .array([.integer(1), .number(2.5), .null, .bool(true)])),
            ("a", .string("q\"\\\n\u{1}é")),
            ("e", .object([])), ("f", .array([])),
        ])
        #expect(v.serialized() == #"{"b":[1,2.5,null,true],"a":"q\"\\\n\u0001é","e":{},"f":[]}"#)
        #expect(v.serialized(sortKeys: true) == #"{"a":"q\"\\\n\u0001é","b":[1,2.5,null,true],"e":{},"f":[]}"#)
        #expect(v.serialized(pretty: true) == """
            {
              "b": [
                1,
                2.5,
                null,
                true
              ],
              "a": "q\\"\\\\\\n\\u0001é",
              "e": {},
              "f": []
            }
            """)
        #expect(try JSONValue.parse(v.serialized(pretty: true)) == v)
    }

    @Test func printerNumbers() throws {
        #expect(JSONValue.number(.nan).serialized() == "null")
        #expect(JSONValue.number(.infinity).serialized() == "null")
        #expect(JSONValue.number(-.infinity).serialized() == "null")
        #expect(JSONValue.integer(Int64.min).serialized() == "-9223372036854775808")
        #expect(JSONValue.unsignedInteger(UInt64.max).serialized() == "18446744073709551615")
        #expect(JSONValue.number(0.1).serialized() == "0.1")
        #expect(JSONValue.number(1).serialized() == "1.0")
        #expect(JSONValue.number(-0.0).serialized() == "-0.0")
        // Shortest round trip for awkward doubles, and the text stays valid JSON.
        var generator = LCG64(seed: 0x9E3779B97F4A7C15)
        let specials: [Double] = [.leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude, 1e16, 1e-7,
                                  123456789012345680, 0.30000000000000004, -1.5e300]
        var doubles = specials
        for _ in 0..<2000 {
            let d = Double(bitPattern: generator.next())
            if d.isFinite { doubles.append(d) }
        }
        for d in doubles {
            let text = JSONValue.number(d).serialized()
            let back = try JSONValue.parse(text)
            #expect(back == .number(d), "\(d) printed as \(text)")
            #expect(text == d.description)
        }
    }

    @Test func printedStringsRoundTrip() throws {
        var scalars = (0..<0x80).map { Character(Unicode.Scalar($0)!) }
        scalars += ["é", "€", "🦙", "\u{2028}", "\u{FFFF}", "\u{10FFFF}"]
        let s = String(scalars)
        let v = JSONValue.object([(s, .string(s))])
        #expect(try JSONValue.parse(v.serialized()) == v)
        // Every control character is escaped.
        #expect(!v.serialized().utf8.contains { $0 < 0x20 })
    }

    @Test func fuzzNeverCrashes() throws {
        // Random mutations of a valid document: every case parses or throws JSONError.
        let seed = Array(#"{"a": [1, -2.5e3, "x\u00e9\ud83e\udd99", true, null], "b": {"c": {}}, "d": "\\\""}"#.utf8)
        var generator = LCG64(seed: 42)
        func next() -> Int { generator.nextHigh31() }
        let alphabet = Array("{}[]\",:\\u0123456789abcdefEe+-.tnul ".utf8) + [0x00, 0x80, 0xC3, 0xED, 0xF4, 0xFF]
        var parsed = 0
        for _ in 0..<20_000 {
            var bytes = seed
            for _ in 0..<(1 + next() % 4) {
                let i = next() % bytes.count
                switch next() % 4 {
                case 0: bytes[i] = alphabet[next() % alphabet.count]
                case 1: bytes.insert(alphabet[next() % alphabet.count], at: i)
                case 2: if bytes.count > 1 { bytes.remove(at: i) }
                default: bytes = Array(bytes[..<i])
                }
                if bytes.isEmpty { bytes = [0x20] }
            }
            do {
                let v = try JSONValue.parse(bytes)
                parsed += 1
                // Whatever parses prints as JSON that parses back to the same value.
                let again = try JSONValue.parse(v.serialized())
                #expect(again == v || again.serialized() == v.serialized())
            } catch is JSONError {
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        #expect(parsed > 100)
    }

    @Test func parsesLargeDocumentsQuickly() throws {
        // A tokenizer-sized vocabulary object (200k keys): linear time, duplicates checked.
        var text = "{"
        for k in 0..<200_000 { text += (k > 0 ? "," : "") + "\"tok\(k)\":\(k)" }
        text += "}"
        let start = Date()
        let v = try JSONValue.parse(text)
        #expect(v.objectValue?.count == 200_000)
        #expect(Date().timeIntervalSince(start) < 20)
    }
}
