import Foundation
import LowbitFormats
import Testing
import LowbitTokenizer

/// The hand-written split patterns against Python's `regex` module, split behaviours, and the
/// table of llama.cpp pre-tokenizer names.
@Suite struct PreTokenizerTests {
    @Test(arguments: ["gpt2", "llama3", "qwen2", "numbers", "numberRuns", "asciiDigitTriples", "punctuationRun"])
    func patternMatchesPythonRegex(_ name: String) throws {
        let fixture = try TokenizerFixtures.json("split-patterns.json")[name]
        let regex = try #require(fixture?["regex"]?.stringValue)
        let pattern = try #require(SplitPattern(regex: regex), "regex not recognised: \(regex)")
        #expect(pattern.regex == regex)
        var failures: [String] = []
        for item in fixture?["cases"]?.arrayValue ?? [] {
            let text = item.arrayValue![0].stringValue!
            let expected = item.arrayValue![1].arrayValue!.map { $0.arrayValue!.map { $0.intValue! } }
            let got = pattern.matches(in: text).map { [$0.lowerBound, $0.upperBound] }
            if got != expected { failures.append("\(text.debugDescription): got \(got) want \(expected)") }
        }
        #expect(failures.isEmpty, "\(failures.prefix(5).joined(separator: "\n"))")
    }

    @Test func llamaCppSpellingsAreRecognised() {
        let expanded = #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        #expect(SplitPattern(regex: expanded) == .llama3)
        #expect(SplitPattern(regex: #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#) == .gpt2)
        #expect(SplitPattern(regex: #"\w+"#) == nil)
    }

    /// Hugging Face's documented example: "the-final--countdown" split on "-".
    @Test func splitBehaviors() {
        func pieces(_ behavior: SplitBehavior, invert: Bool = false) -> [String] {
            PreTokenizer(steps: [.init(.punctuationRun, behavior, invert: invert)]).words(in: "the-final--countdown")
        }
        #expect(pieces(.isolated) == ["the", "-", "final", "--", "countdown"])
        #expect(pieces(.removed) == ["the", "final", "countdown"])
        #expect(pieces(.mergedWithPrevious) == ["the-", "final--", "countdown"])
        #expect(pieces(.mergedWithNext) == ["the", "-final", "--countdown"])
        #expect(pieces(.contiguous) == ["the", "-", "final", "--", "countdown"])
        #expect(pieces(.removed, invert: true) == ["-", "--"])
    }

    @Test func tableNamesAndUnknownConfigurations() throws {
        #expect(try PreTokenizerTable.name(for: PreTokenizer(steps: [.init(.llama3)]), ignoreMerges: true) == "llama-bpe")
        #expect(try PreTokenizerTable.name(for: PreTokenizer(steps: [.init(.numbers(individual: true)), .init(.gpt2)]),
                                           ignoreMerges: false) == "smollm")
        #expect(try PreTokenizerTable.name(for: PreTokenizer(steps: [.init(.gpt2)]), ignoreMerges: false) == "gpt-2")
        #expect(try PreTokenizerTable.name(for: PreTokenizer(steps: [.init(.qwen2)]), ignoreMerges: false) == "qwen2")
        #expect(try PreTokenizerTable.entry(named: "").name == "default")
        #expect(try PreTokenizerTable.entry(named: "llama3").name == "llama-bpe")
        let error = #expect(throws: TokenizerError.self) {
            try PreTokenizerTable.name(for: PreTokenizer(steps: [.init(.gpt2), .init(.numbers(individual: true))]),
                                       ignoreMerges: false)
        }
        #expect(error?.kind == .unknownPreTokenizer)
        #expect(throws: TokenizerError.self) { try PreTokenizerTable.entry(named: "tekken") }
    }

    /// A tokenizer.json whose pre-tokenizer Lowbit does not implement is refused by name.
    @Test func unsupportedTokenizerJSONIsRefused() throws {
        func json(_ pre: String) throws -> JSONValue {
            try JSONValue.parse(#"{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":\#(pre)}"#)
        }
        for (pre, field) in [(#"{"type":"Whitespace"}"#, "pre_tokenizer"),
                             (#"{"type":"Split","pattern":{"Regex":"\\w+"},"behavior":"Isolated","invert":false}"#, "pre_tokenizer.pattern.Regex"),
                             (#"{"type":"ByteLevel","add_prefix_space":true}"#, "pre_tokenizer.add_prefix_space"),
                             ("null", "pre_tokenizer")] {
            let error = #expect(throws: TokenizerError.self) { try Tokenizer(tokenizerJSON: try json(pre)) }
            #expect(error?.item == field)
        }
        let unknown = #expect(throws: TokenizerError.self) {
            try TokenizerExport(tokenizerJSON: try json(#"{"type":"Sequence","pretokenizers":[{"type":"Digits","individual_digits":false},{"type":"ByteLevel","use_regex":true}]}"#), config: nil)
        }
        #expect(unknown?.kind == .unknownPreTokenizer)
    }

    @Test func ggufErrorsNameTheKey() {
        let missing = #expect(throws: TokenizerError.self) { try Tokenizer(ggufMetadata: []) }
        #expect(missing?.item == "tokenizer.ggml.model")
        let bert = #expect(throws: TokenizerError.self) {
            try Tokenizer(ggufMetadata: [("tokenizer.ggml.model", .string("bert")),
                                         ("tokenizer.ggml.tokens", .array(.string, [.string("a")]))])
        }
        #expect(bert?.kind == .unsupported)
        let pre = #expect(throws: TokenizerError.self) {
            try Tokenizer(ggufMetadata: [("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("nonsense")),
                                         ("tokenizer.ggml.tokens", .array(.string, [.string("a")])),
                                         ("tokenizer.ggml.merges", .array(.string, []))])
        }
        #expect(pre?.kind == .unknownPreTokenizer)
    }

    /// Added tokens with lstrip / rstrip swallow the whitespace beside them; non-special added
    /// tokens are matched even when special tokens are not parsed.
    @Test func addedTokenStripping() throws {
        let source = #"""
        {"added_tokens":[{"id":3,"content":"<m>","special":true,"lstrip":true,"rstrip":false},
                         {"id":4,"content":"[x]","special":false,"lstrip":false,"rstrip":true}],
         "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},
         "model":{"type":"BPE","vocab":{"a":0,"Ġ":1,"b":2,"<m>":3,"[x]":4,"<":5,"m":6,">":7},"merges":[]}}
        """#
        let tokenizer = try Tokenizer(tokenizerJSON: try JSONValue.parse(source))
        #expect(tokenizer.encode("a  <m>b", parseSpecial: true) == [0, 3, 2])
        #expect(tokenizer.encode("a  <m>b", parseSpecial: false) == [0, 1, 1, 5, 6, 7, 2])
        #expect(tokenizer.encode("a[x]  b") == [0, 4, 2])
        #expect(tokenizer.tokenTypes[4] == .userDefined && tokenizer.tokenTypes[3] == .control)
    }
}
