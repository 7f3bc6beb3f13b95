import Foundation
import LowbitFormats
import Testing
import LowbitTokenizer

/// SentencePiece-style BPE (`tokenizer.ggml.model = llama`, Llama 2): scores, `▁` spaces, the
/// dummy prefix, byte fallback, against llama.cpp on a vocabulary made by make_fixtures.py.
@Suite struct SentencePieceTokenizerTests {
    static let cases = Result { try TokenizerFixtures.json("spm-cases.json") }
    static let tokenizer = Result {
        try Tokenizer(ggufMetadata: TokenizerFixtures.ggufMetadata(try TokenizerFixtures.json("spm-gguf-tokenizer.json")))
    }

    @Test(arguments: ["add=1,special=0", "add=1,special=1", "add=0,special=0"])
    func matchesLlamaCpp(_ mode: String) throws {
        let cases = try Self.cases.get()
        expectEncodings(try Self.tokenizer.get(), texts: TokenizerFixtures.texts(cases),
                        expected: TokenizerFixtures.ids(cases["llama_cpp"]?[mode]), mode: mode)
    }

    @Test func settings() throws {
        let tokenizer = try Self.tokenizer.get()
        #expect(tokenizer.addsBOS && !tokenizer.addsEOS)
        #expect(tokenizer.bosTokenId == 1 && tokenizer.eosTokenId == 2 && tokenizer.unknownTokenId == 0)
        #expect(tokenizer.tokenTypes[3] == .byte)
    }

    /// Without special tokens, decoding gives the text back (the dummy prefix space is removed).
    /// (After a special or user-defined token SentencePiece adds a space, as llama.cpp does, so
    /// texts with the added token `<think>` do not round-trip.)
    @Test func decodeRoundTrips() throws {
        let tokenizer = try Self.tokenizer.get()
        for text in TokenizerFixtures.texts(try Self.cases.get()) where !text.contains("<think>") {
            let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: false)
            #expect(tokenizer.decode(ids) == text)
        }
    }

    /// A real SentencePiece `tokenizer.model` (sentencepiece's test model) converted as the
    /// converter does (TokenizerExport -> GGUF metadata), against llama.cpp reading a GGUF that
    /// make_fixtures.py wrote from the same model.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: TokenizerFixtures.sentencePieceModelPath)))
    func tokenizerModelFileMatchesLlamaCpp() throws {
        let cases = try TokenizerFixtures.json("spm-model-cases.json")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TokenizerFixtures.sentencePieceModelPath)))
        let export = try TokenizerExport(sentencePieceModel: bytes, config: nil)
        #expect(export.model == "llama" && export.tokens.count == cases["pieces"]?.intValue)
        #expect(export.bosTokenId == 1 && export.eosTokenId == 2 && export.unknownTokenId == 0 && export.paddingTokenId == nil)
        #expect(export.addBOS && !export.addEOS && export.addSpacePrefix)
        #expect(export.tokenTypes[0] == .unknown && export.tokenTypes[1] == .control)
        let tokenizer = try Tokenizer(ggufMetadata: export.ggufMetadata)
        for mode in ["add=1,special=0", "add=0,special=1"] {
            expectEncodings(tokenizer, texts: TokenizerFixtures.texts(cases),
                            expected: TokenizerFixtures.ids(cases["llama_cpp"]?[mode]), mode: mode)
        }
        #expect(throws: TokenizerError.self) { try TokenizerExport(sentencePieceModel: [0x0A, 0x05, 0x0A], config: nil) }
    }
}
