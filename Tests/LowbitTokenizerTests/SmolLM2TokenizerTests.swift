import Foundation
import LowbitFormats
import Testing
import LowbitTokenizer

/// SmolLM2's vocabulary (49152 tokens, pre-tokenizer `smollm`) against llama.cpp and `tokenizers`.
@Suite struct SmolLM2TokenizerTests {
    static let cases = Result { try TokenizerFixtures.json("smollm2-cases.json") }
    static let metadata = Result { try TokenizerFixtures.json("smollm2-gguf-tokenizer.json") }
    static let tokenizer = Result {
        try Tokenizer(ggufMetadata: TokenizerFixtures.ggufMetadata(try metadata.get()))
    }
    static let jsonTokenizer = Result { try Tokenizer(tokenizerJSON: try smolLM2TokenizerJSON()) }

    @Test func metadataIsRead() throws {
        let tokenizer = try Self.tokenizer.get()
        #expect(tokenizer.vocabularySize == 49152)
        #expect(tokenizer.preTokenizerName == "smollm")
        #expect(tokenizer.bosTokenId == 1)
        #expect(tokenizer.eosTokenId == 2)
        #expect(tokenizer.unknownTokenId == 0)
        #expect(tokenizer.paddingTokenId == 2)
        #expect(!tokenizer.addsBOS)
        #expect(tokenizer.tokenTypes[1] == .control)
    }

    @Test(arguments: ["add=1,special=0", "add=1,special=1", "add=0,special=1"])
    func matchesLlamaCpp(_ mode: String) throws {
        let cases = try Self.cases.get()
        expectEncodings(try Self.tokenizer.get(), texts: TokenizerFixtures.texts(cases),
                        expected: TokenizerFixtures.ids(cases["llama_cpp"]?[mode]), mode: mode)
    }

    /// The same vocabulary as a tokenizer.json (SmolLM2's configuration: Digits + ByteLevel).
    @Test(arguments: ["add=1,special=0", "add=1,special=1"])
    func tokenizerJSONMatchesHuggingFace(_ mode: String) throws {
        let cases = try Self.cases.get()
        let tokenizer = try Self.jsonTokenizer.get()
        #expect(tokenizer.preTokenizerName == "smollm")
        expectEncodings(tokenizer, texts: TokenizerFixtures.texts(cases),
                        expected: TokenizerFixtures.ids(cases["tokenizers"]?[mode]), mode: mode)
    }

    /// GGUF metadata -> tokenizer.json + tokenizer_config.json (the converter's way back) ->
    /// tokenizer: the same ids as llama.cpp. (Checked by hand too: `tokenizers` loads the written
    /// tokenizer.json and agrees with llama.cpp on all cases and on botchan.txt.)
    @Test func exportToTokenizerJSON() throws {
        let export = try TokenizerExport(ggufMetadata: TokenizerFixtures.ggufMetadata(try Self.metadata.get()))
        #expect(export.model == "gpt2" && export.preTokenizer == "smollm" && export.merges.count == 48900)
        let config = export.tokenizerConfigJSON()
        #expect(config["bos_token"]?.stringValue == "<|im_start|>" && config["add_bos_token"]?.boolValue == false)
        let tokenizer = try Tokenizer(tokenizerJSON: try export.tokenizerJSON(), config: config)
        #expect(tokenizer.preTokenizerName == "smollm")
        #expect(tokenizer.bosTokenId == 1 && tokenizer.eosTokenId == 2 && !tokenizer.addsBOS)
        let cases = try Self.cases.get()
        expectEncodings(tokenizer, texts: TokenizerFixtures.texts(cases),
                        expected: TokenizerFixtures.ids(cases["llama_cpp"]?["add=1,special=1"]), mode: "add=1,special=1")
        let back = try TokenizerExport(tokenizerJSON: try export.tokenizerJSON(), config: config)
        #expect(back.tokens == export.tokens && back.tokenTypes == export.tokenTypes)
        #expect(back.bosTokenId == export.bosTokenId && back.eosTokenId == export.eosTokenId)
        #expect(back.unknownTokenId == export.unknownTokenId && back.paddingTokenId == export.paddingTokenId)
        #expect(back.chatTemplate == export.chatTemplate && back.chatTemplate == nil)
    }

    @Test func decodeRoundTrips() throws {
        let tokenizer = try Self.tokenizer.get()
        for text in TokenizerFixtures.texts(try Self.cases.get()) {
            #expect(tokenizer.decode(tokenizer.encode(text, parseSpecial: true)) == text)
        }
    }

    /// The real GGUF's metadata (read by GGUFFile) tokenizes like the fixture.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: TokenizerFixtures.smolLM2Path)))
    func realGGUF() throws {
        let file = try GGUFFile(path: TokenizerFixtures.smolLM2Path)
        let tokenizer = try Tokenizer(ggufMetadata: file.metadata)
        let cases = try Self.cases.get()
        expectEncodings(tokenizer, texts: TokenizerFixtures.texts(cases),
                        expected: TokenizerFixtures.ids(cases["llama_cpp"]?["add=1,special=1"]), mode: "add=1,special=1")
    }

    /// The default evaluation text (botchan.txt between the Gutenberg markers) gives llama.cpp's
    /// token count and ids with BOS handling as in llama-perplexity (addSpecial: true).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: TokenizerFixtures.evalTextPath)))
    func evalTextMatchesLlamaCpp() throws {
        let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: TokenizerFixtures.evalTextPath)), as: UTF8.self)
        let expected = try Self.cases.get()["eval_text"]
        try #require(text.utf8.count == expected?["bytes"]?.intValue, "not the expected evaluation text")
        let ids = try Self.tokenizer.get().encode(text)
        #expect(ids.count == expected?["tokens"]?.intValue)
        #expect(TokenizerFixtures.fnv1a(ids) == expected?["fnv1a"]?.stringValue)
    }

    /// The whole of botchan.txt gives llama.cpp's token count and ids (by hash), fast.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: TokenizerFixtures.botchanPath)))
    func botchanMatchesLlamaCpp() throws {
        // Not String(contentsOfFile:), which drops the file's byte order mark (llama.cpp keeps it).
        let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: TokenizerFixtures.botchanPath)), as: UTF8.self)
        let tokenizer = try Self.tokenizer.get()
        let start = Date()
        let ids = tokenizer.encode(text, addSpecial: false)
        let seconds = Date().timeIntervalSince(start)
        let expected = try Self.cases.get()["botchan"]
        if let dump = ProcessInfo.processInfo.environment["LOWBIT_TOKENIZER_DUMP"] {
            try ids.map(String.init).joined(separator: "\n").write(toFile: dump, atomically: true, encoding: .utf8)
        }
        #expect(ids.count == expected?["tokens"]?.intValue)
        #expect(TokenizerFixtures.fnv1a(ids) == expected?["fnv1a"]?.stringValue)
        print("botchan: \(text.utf8.count) bytes -> \(ids.count) tokens in \(String(format: "%.3f", seconds)) s (\(Int(Double(ids.count) / seconds)) tokens/s)")
    }
}

/// SmolLM2's tokenizer.json: the skeleton written by `tokenizers` with the vocabulary and
/// merges put back from the GGUF fixture.
func smolLM2TokenizerJSON() throws -> JSONValue {
    let metadata = try SmolLM2TokenizerTests.metadata.get()
    let tokens = metadata["tokenizer.ggml.tokens"]!.arrayValue!
    let merges = metadata["tokenizer.ggml.merges"]!.arrayValue!
    let vocab = JSONValue.object(tokens.enumerated().map { ($0.element.stringValue!, .integer(Int64($0.offset))) })
    guard case .object(var members) = try TokenizerFixtures.json("smollm2-hf-skeleton.json") else {
        throw TokenizerError(.badValue, item: "skeleton", "not an object")
    }
    for i in members.indices where members[i].key == "model" {
        guard case .object(var model) = members[i].value else { continue }
        for j in model.indices {
            if model[j].key == "vocab" { model[j].value = vocab }
            if model[j].key == "merges" { model[j].value = .array(merges) }
        }
        members[i].value = .object(model)
    }
    return .object(members)
}
