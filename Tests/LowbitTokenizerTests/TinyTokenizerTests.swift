import Foundation
import LowbitFormats
import Testing
import LowbitTokenizer

/// Small BPE tokenizers trained by make_fixtures.py in three styles (Llama 3 split regex with
/// ignore_merges and a BOS template, GPT-2 ByteLevel regex with array merges, Qwen 2 split regex
/// with NFC), checked against `tokenizers` (tokenizer.json) and llama.cpp (a GGUF written from it).
@Suite struct TinyTokenizerTests {
    static let cases = Result { try TokenizerFixtures.json("tiny-cases.json") }
    static let styles = ["llama3", "gpt2", "qwen2"]
    static let modes = ["add=1,special=0", "add=1,special=1"]

    static func tokenizerJSON(_ style: String) throws -> JSONValue {
        try TokenizerFixtures.json("tiny-\(style).tokenizer.json")
    }

    @Test(arguments: styles, modes)
    func tokenizerJSONMatchesHuggingFace(_ style: String, _ mode: String) throws {
        let cases = try Self.cases.get()
        let tokenizer = try Tokenizer(tokenizerJSON: try Self.tokenizerJSON(style))
        expectEncodings(tokenizer, texts: TokenizerFixtures.texts(cases),
                        expected: TokenizerFixtures.ids(cases["tokenizers"]?[style]?[mode]), mode: mode)
    }

    /// tokenizer.json -> GGUF metadata (as the converter writes it) -> tokenizer, against llama.cpp
    /// reading a GGUF with that vocabulary. (Qwen 2's NFC normalizer is not part of GGUF; llama.cpp
    /// does not normalize, and neither does the GGUF tokenizer.)
    @Test(arguments: styles, modes)
    func exportedGGUFMatchesLlamaCpp(_ style: String, _ mode: String) throws {
        let cases = try Self.cases.get()
        let export = try TokenizerExport(tokenizerJSON: try Self.tokenizerJSON(style), config: nil)
        let tokenizer = try Tokenizer(ggufMetadata: export.ggufMetadata)
        expectEncodings(tokenizer, texts: TokenizerFixtures.texts(cases),
                        expected: TokenizerFixtures.ids(cases["llama_cpp"]?[style]?[mode]), mode: mode)
    }

    /// The GPT-2-style vocabulary under llama.cpp's `default`, `smollm` and `llama-bpe`
    /// pre-tokenizers (tokenizer.ggml.pre switched in the GGUF).
    @Test(arguments: ["default", "smollm", "llama-bpe"])
    func otherPreTokenizersMatchLlamaCpp(_ pre: String) throws {
        let cases = try Self.cases.get()
        var metadata = try TokenizerExport(tokenizerJSON: try Self.tokenizerJSON("gpt2"), config: nil).ggufMetadata
        for i in metadata.indices where metadata[i].key == "tokenizer.ggml.pre" { metadata[i].value = .string(pre) }
        metadata.removeAll { $0.key == "tokenizer.ggml.add_bos_token" }
        metadata.append(("tokenizer.ggml.bos_token_id", .uint32(0)))
        metadata.append(("tokenizer.ggml.add_bos_token", .bool(pre == "llama-bpe")))
        let tokenizer = try Tokenizer(ggufMetadata: metadata)
        #expect(tokenizer.preTokenizerName == pre)
        expectEncodings(tokenizer, texts: TokenizerFixtures.texts(cases),
                        expected: TokenizerFixtures.ids(cases["llama_cpp"]?["gpt2-\(pre)"]?["add=1,special=1"]), mode: "add=1,special=1")
    }

    @Test func preTokenizerNames() throws {
        let expected = ["llama3": "llama-bpe", "gpt2": "gpt-2", "qwen2": "qwen2"]
        for style in Self.styles {
            let export = try TokenizerExport(tokenizerJSON: try Self.tokenizerJSON(style), config: nil)
            #expect(export.preTokenizer == expected[style])
            #expect(try Tokenizer(tokenizerJSON: try Self.tokenizerJSON(style)).preTokenizerName == expected[style])
        }
        let llama3 = try TokenizerExport(tokenizerJSON: try Self.tokenizerJSON("llama3"), config: nil)
        #expect(llama3.addBOS && llama3.bosTokenId == 0)
        #expect(llama3.tokenTypes[0] == .control)
        #expect(llama3.tokenTypes[Int(try #require(Tokenizer(tokenizerJSON: Self.tokenizerJSON("llama3")).tokenId("<think>")))] == .userDefined)
    }

    /// GGUF metadata -> tokenizer.json (the way back) gives the same tokens.
    @Test(arguments: styles)
    func tokenizerJSONRoundTrip(_ style: String) throws {
        let original = try Tokenizer(tokenizerJSON: try Self.tokenizerJSON(style))
        let export = try TokenizerExport(tokenizerJSON: try Self.tokenizerJSON(style), config: nil)
        let back = try TokenizerExport(ggufMetadata: export.ggufMetadata)
        #expect(back.tokens == export.tokens && back.merges == export.merges && back.preTokenizer == export.preTokenizer)
        let rebuilt = try Tokenizer(tokenizerJSON: try back.tokenizerJSON(), config: back.tokenizerConfigJSON())
        #expect(rebuilt.preTokenizerName == original.preTokenizerName)
        for text in TokenizerFixtures.texts(try Self.cases.get()) where style != "qwen2" {
            #expect(rebuilt.encode(text, parseSpecial: true) == original.encode(text, parseSpecial: true))
        }
    }

    @Test func vocabularyPadding() throws {
        let export = try TokenizerExport(tokenizerJSON: try Self.tokenizerJSON("gpt2"), config: nil, vocabularySize: 1300)
        #expect(export.tokens.count == 1300)
        #expect(export.tokens[1299] == "[PAD1299]" && export.tokenTypes[1299] == .unused)
        #expect(throws: TokenizerError.self) {
            try TokenizerExport(tokenizerJSON: try Self.tokenizerJSON("gpt2"), config: nil, vocabularySize: 10)
        }
    }
}
