import Foundation
import LowbitFormats
import LowbitTokenizer
import Testing
import LowbitTestSupport

/// SentencePiece-style (Llama 2 / Mistral) Hugging Face tokenizer.json: BPE with byte fallback,
/// read in its layouts and written from a GGUF `llama` vocabulary, against the ids of the
/// `tokenizers` package on a real SentencePiece BPE model (fixtures/tokenizer/make_llama2_fixtures.py).
@Suite struct Llama2TokenizerJSONTests {
    static let variants = ["normalizer", "metaspace", "legacy-metaspace", "normalized-added"]
    static let modes = ["add=1,special=1", "add=0,special=1"]
    static let cases = Result { try TokenizerFixtures.json("llama2-cases.json") }
    static let ggufMetadata = Result {
        TokenizerFixtures.ggufMetadata(try TokenizerFixtures.json("llama2-gguf-tokenizer.json"))
    }

    static func tokenizer(_ variant: String, config: JSONValue? = nil) throws -> Tokenizer {
        try Tokenizer(tokenizerJSON: TokenizerFixtures.json("llama2-\(variant).tokenizer.json"), config: config)
    }

    static func expected(_ variant: String, _ mode: String) throws -> [[Int32]] {
        TokenizerFixtures.ids(try cases.get()["tokenizers"]?[variant]?[mode])
    }

    @Test(arguments: variants)
    func matchesTokenizers(_ variant: String) throws {
        let tokenizer = try Self.tokenizer(variant)
        let texts = TokenizerFixtures.texts(try Self.cases.get())
        #expect(texts.count >= 40)
        for mode in Self.modes {
            expectEncodings(tokenizer, texts: texts, expected: try Self.expected(variant, mode), mode: "\(variant) \(mode)")
        }
    }

    @Test func settings() throws {
        let tokenizer = try Self.tokenizer("normalizer")
        #expect(tokenizer.vocabularySize == 1000)
        #expect(tokenizer.bosTokenId == 1 && tokenizer.unknownTokenId == 0 && tokenizer.addsBOS && !tokenizer.addsEOS)
        #expect(tokenizer.preTokenizerName == "")
        #expect(tokenizer.tokenTypes[0] == .unknown && tokenizer.tokenTypes[1] == .control)
        #expect(tokenizer.tokenTypes[3 + 0x41] == .byte && tokenizer.tokens[3 + 0x41] == "<0x41>")
        #expect(tokenizer.tokenTypes[300] == .normal)
    }

    /// tokenizer_config.json's `add_bos_token` / `bos_token` / `eos_token` override the template.
    @Test func configDecidesBOS() throws {
        let noBOS = try Self.tokenizer("normalizer", config: .object([("add_bos_token", .bool(false))]))
        #expect(!noBOS.addsBOS)
        #expect(noBOS.encode("Hello world") == noBOS.encode("Hello world", addSpecial: false))
        let both = try Self.tokenizer("metaspace", config: .object([
            ("add_bos_token", .bool(true)), ("add_eos_token", .bool(true)),
            ("bos_token", .string("<s>")), ("eos_token", .object([("content", .string("</s>"))])),
        ]))
        #expect(both.addsBOS && both.addsEOS && both.eosTokenId == 2)
        let plain = both.encode("Hello world", addSpecial: false)
        #expect(both.encode("Hello world") == [1] + plain + [2])
    }

    /// Decoding gives the text back (byte fallback fused into UTF-8, the prefix space removed).
    /// (Metaspace does not prepend a mark to text that starts with a space, so there, as in
    /// `tokenizers`, the first space is lost.)
    @Test(arguments: variants)
    func decodeRoundTrips(_ variant: String) throws {
        let tokenizer = try Self.tokenizer(variant)
        for text in TokenizerFixtures.texts(try Self.cases.get())
        where !text.contains("<s>") && !text.contains("</s>") && !text.contains("<unk>") && !text.contains("\u{2581}")
            && (variant == "normalizer" || !text.hasPrefix(" ")) {
            #expect(tokenizer.decode(tokenizer.encode(text, addSpecial: false, parseSpecial: true)) == text,
                    "\(text.debugDescription)")
        }
    }

    /// GGUF `llama` vocabulary -> tokenizer.json: the merges are exactly those of the fixture (made
    /// by the Python script from the same scores), and the file tokenizes as `tokenizers` does.
    @Test func exportFromGGUF() throws {
        let export = try TokenizerExport(ggufMetadata: try Self.ggufMetadata.get())
        #expect(export.model == "llama" && export.addBOS && !export.addEOS && export.addSpacePrefix)
        let json = try export.tokenizerJSON()
        let reference = try TokenizerFixtures.json("llama2-normalizer.tokenizer.json")
        #expect(Self.mergePairs(json).count == 900)
        #expect(Self.mergePairs(json) == Self.mergePairs(reference))
        #expect(json["model"]?["vocab"] == reference["model"]?["vocab"])
        #expect(json["model"]?["byte_fallback"] == .bool(true) && json["model"]?["fuse_unk"] == .bool(true))
        #expect(json["added_tokens"]?.arrayValue?.compactMap { $0["content"]?.stringValue } == ["<unk>", "<s>", "</s>"])
        // Through text, as `lowbit convert` writes it.
        let reparsed = try JSONValue.parse(Array(json.serialized(pretty: true).utf8))
        let tokenizer = try Tokenizer(tokenizerJSON: reparsed, config: export.tokenizerConfigJSON())
        let texts = TokenizerFixtures.texts(try Self.cases.get())
        for mode in Self.modes {
            expectEncodings(tokenizer, texts: texts, expected: try Self.expected("normalizer", mode), mode: "export \(mode)")
        }
        #expect(throws: TokenizerError.self) { try TokenizerExport(model: "bert")?.tokenizerJSON() }
    }

    /// `model.merges` as "a b" strings or ["a", "b"] pairs, as pairs.
    static func mergePairs(_ json: JSONValue) -> [[String]] {
        (json["model"]?["merges"]?.arrayValue ?? []).map { merge in
            if let text = merge.stringValue {
                return text.split(separator: " ", maxSplits: 1).map(String.init)
            }
            return (merge.arrayValue ?? []).compactMap { $0.stringValue }
        }
    }

    /// The exported tokenizer.json (Hugging Face ranked merges) tokenizes like the GGUF itself
    /// (llama.cpp's score-ordered SentencePiece), on the cases and on botchan.txt when present.
    @Test func exportTokenizesLikeTheGGUF() throws {
        let metadata = try Self.ggufMetadata.get()
        let gguf = try Tokenizer(ggufMetadata: metadata)
        let json = try Tokenizer(tokenizerJSON: try TokenizerExport(ggufMetadata: metadata).tokenizerJSON())
        var texts = TokenizerFixtures.texts(try Self.cases.get())
        if let text = try? String(contentsOfFile: TokenizerFixtures.evalTextPath, encoding: .utf8) {
            let scalars = Array(text.unicodeScalars)
            texts.append(String(String.UnicodeScalarView(scalars.prefix(60_000))))
            texts += text.split(separator: "\n", omittingEmptySubsequences: false).prefix(2000).map(String.init)
        }
        var differ: [String] = []
        for text in texts where gguf.encode(text, parseSpecial: true) != json.encode(text, parseSpecial: true) {
            differ.append(String(text.debugDescription.prefix(60)))
        }
        #expect(differ.isEmpty, "\(differ.count) of \(texts.count) texts differ: \(differ.prefix(5))")
    }

    /// Seeded random strings over an alphabet of frequent pieces' characters, spaces, newlines,
    /// the `▁` mark, control characters, accents, CJK and emoji: the tokenizer.json path (ranked
    /// merges over scalars) and the GGUF path (scores, byte fallback) give the same ids, and
    /// neither crashes.
    @Test func randomTextsAgreeWithTheGGUF() throws {
        let metadata = try Self.ggufMetadata.get()
        let gguf = try Tokenizer(ggufMetadata: metadata)
        let json = try Self.tokenizer("normalizer")
        let alphabet: [String] = ["a", "e", "t", "h", "o", "n", "s", "r", "i", "T", "I", " ", " ", " ", "  ", "\n",
                                  "\r\n", "\t", ".", ",", "'", "1", "9", "\u{2581}", "\u{01}", "\u{7F}", "é", "e\u{301}",
                                  "日", "本", "😀", "🤖", "\u{200B}", "the", "ing", " the", "<", "s>", "<s>", "</s>"]
        var generator = SplitMix64(seed: 0x1234_5678_9ABC_DEF0)
        func next() -> UInt64 { generator.next() }
        var differ: [String] = []
        for _ in 0..<400 {
            let length = Int(next() % 40)
            let text = (0..<length).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] }.joined()
            if gguf.encode(text, parseSpecial: true) != json.encode(text, parseSpecial: true) {
                differ.append(text.debugDescription)
            }
        }
        #expect(differ.isEmpty, "\(differ.count) differ: \(differ.prefix(5))")
    }

    /// tokenizer.json -> GGUF metadata (as `lowbit convert` does for a Hugging Face directory):
    /// model "llama", scores ranked by the merges, byte tokens typed; llama.cpp's algorithm on
    /// that vocabulary gives the ids of `tokenizers`.
    @Test func convertToGGUF() throws {
        let json = try TokenizerFixtures.json("llama2-normalizer.tokenizer.json")
        let export = try TokenizerExport(tokenizerJSON: json, config: nil, vocabularySize: 1024)
        #expect(export.model == "llama" && export.preTokenizer == "" && export.merges.isEmpty)
        #expect(export.tokens.count == 1024 && export.scores.count == 1024 && export.addSpacePrefix)
        #expect(export.tokenTypes[0] == .unknown && export.tokenTypes[2] == .control && export.tokenTypes[3] == .byte)
        #expect(export.tokenTypes[1023] == .unused)
        let tokenizer = try Tokenizer(ggufMetadata: export.ggufMetadata)
        let texts = TokenizerFixtures.texts(try Self.cases.get())
        expectEncodings(tokenizer, texts: texts, expected: try Self.expected("normalizer", "add=1,special=1"),
                        mode: "add=1,special=1")
    }

    // MARK: - hostile and odd files

    /// A small SentencePiece-style tokenizer.json with the given parts (JSON text).
    static func tiny(normalizer: String = #"{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]}"#,
                     preTokenizer: String = "null", vocab: String = #""<unk>":0,"<s>":1,"</s>":2,"<0x63>":3,"▁":4,"a":5,"b":6,"ab":7,"▁ab":8"#,
                     merges: String = #"["a b","▁ ab"]"#, model: String = #""byte_fallback":true,"fuse_unk":true,"unk_token":"<unk>""#) throws -> JSONValue {
        let text = """
        {"added_tokens":[{"id":1,"content":"<s>","special":true}],"normalizer":\(normalizer),
         "pre_tokenizer":\(preTokenizer),"post_processor":null,
         "model":{"type":"BPE",\(model),"vocab":{\(vocab)},"merges":\(merges)}}
        """
        return try JSONValue.parse(Array(text.utf8))
    }

    static func expectError(_ field: String, _ json: () throws -> JSONValue,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try Tokenizer(tokenizerJSON: try json())
            Issue.record("no error for \(field)", sourceLocation: sourceLocation)
        } catch let error as TokenizerError {
            #expect(error.item == field, "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func hostileFilesNameTheField() {
        Self.expectError("normalizer") { try Self.tiny(normalizer: #"{"type":"Lowercase"}"#) }
        Self.expectError("normalizer.normalizers[1].pattern") {
            try Self.tiny(normalizer: #"{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"Regex":" +"},"content":"▁"}]}"#)
        }
        Self.expectError("normalizer.prepend") { try Self.tiny(normalizer: #"{"type":"Prepend","prepend":3}"#) }
        Self.expectError("normalizer.normalizers") { try Self.tiny(normalizer: #"{"type":"Sequence"}"#) }
        Self.expectError("pre_tokenizer") { try Self.tiny(preTokenizer: #"{"type":"ByteLevel"}"#) }
        Self.expectError("pre_tokenizer.prepend_scheme") {
            try Self.tiny(preTokenizer: #"{"type":"Metaspace","replacement":"▁","prepend_scheme":"sometimes"}"#)
        }
        Self.expectError("pre_tokenizer.replacement") { try Self.tiny(preTokenizer: #"{"type":"Metaspace"}"#) }
        Self.expectError("pre_tokenizer.pretokenizers") {
            try Self.tiny(preTokenizer: #"{"type":"Sequence","pretokenizers":[{"type":"Metaspace","replacement":"▁"},{"type":"Digits"}]}"#)
        }
        Self.expectError("model.merges[1]") { try Self.tiny(merges: #"["a b","▁ zz"]"#) }
        Self.expectError("model.merges[0]") { try Self.tiny(merges: #"[17]"#) }
        Self.expectError("model.byte_fallback") { try Self.tiny(model: #""byte_fallback":"yes""#) }
        Self.expectError("model.unk_token") { try Self.tiny(model: #""byte_fallback":true,"unk_token":5"#) }
        Self.expectError("model.vocab[a]") { try Self.tiny(vocab: #""a":-1"#, merges: "[]") }
        Self.expectError("model.continuing_subword_prefix") {
            try Self.tiny(model: #""byte_fallback":true,"continuing_subword_prefix":"@@""#)
        }
    }

    /// Files that are odd but valid: no byte tokens, no unknown token, an unknown token outside
    /// the vocabulary, an empty vocabulary. Encoding never crashes; missing scalars become the
    /// (fused) unknown token or are dropped.
    @Test func oddFilesEncode() throws {
        let full = try Tokenizer(tokenizerJSON: try Self.tiny())
        #expect(full.encode("ab a") == [8, 4, 5])
        #expect(full.encode("ab a", addSpecial: false) == [8, 4, 5])
        // "c" has no token but a byte token.
        #expect(full.encode("c") == [4, 3] && full.decode([4, 3]) == "c")
        // "x" and "é" have no token and no byte token: one fused unknown token.
        #expect(full.encode("abxé") == [8, 0])
        let noFuse = try Tokenizer(tokenizerJSON: try Self.tiny(model: #""byte_fallback":true,"unk_token":"<unk>""#))
        #expect(noFuse.encode("abxé") == [8, 0, 0])
        let noUnknown = try Tokenizer(tokenizerJSON: try Self.tiny(model: #""byte_fallback":true,"unk_token":"<nope>""#))
        #expect(noUnknown.unknownTokenId == nil && noUnknown.encode("abx😀 a") == [8, 4, 5])
        let empty = try Tokenizer(tokenizerJSON: try Self.tiny(vocab: "", merges: "[]", model: #""byte_fallback":true"#))
        #expect(empty.encode("anything 😀") == [] && empty.decode([5, -1]) == "")
        // Metaspace without split: "▁" runs stay one word; with split each mark starts a word.
        let joined = try Tokenizer(tokenizerJSON: try Self.tiny(
            normalizer: "null", preTokenizer: #"{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":false}"#))
        #expect(joined.encode("<s>ab ab", parseSpecial: true) == [1, 8, 8])
        let first = try Tokenizer(tokenizerJSON: try Self.tiny(
            normalizer: "null", preTokenizer: #"{"type":"Metaspace","replacement":"▁","prepend_scheme":"first"}"#))
        #expect(first.encode("<s>ab ab", parseSpecial: true) == [1, 7, 8])
        #expect(first.encode("ab ab") == [8, 8])
    }
}

extension TokenizerExport {
    /// An export with no tokens, for checking that an unknown model is refused.
    fileprivate init?(model: String) {
        guard var export = try? TokenizerExport(ggufMetadata: [
            ("tokenizer.ggml.model", .string("llama")), ("tokenizer.ggml.tokens", .array(.string, [.string("a")])),
            ("tokenizer.ggml.scores", .array(.float32, [.float32(0)])),
        ]) else { return nil }
        export.model = model
        self = export
    }
}
