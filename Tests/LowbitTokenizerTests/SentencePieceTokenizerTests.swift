import Foundation
import LowbitFormats
import Testing
@testable import LowbitTokenizer

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
        let options = TokenizerFixtures.options(mode)
        let problems = mismatches(try Self.tokenizer.get(), texts: TokenizerFixtures.texts(cases),
                                  expected: TokenizerFixtures.ids(cases["llama_cpp"]?[mode]),
                                  addSpecial: options.addSpecial, parseSpecial: options.parseSpecial)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test func settings() throws {
        let tokenizer = try Self.tokenizer.get()
        #expect(tokenizer.addsBOS && !tokenizer.addsEOS)
        #expect(tokenizer.bosTokenId == 1 && tokenizer.eosTokenId == 2 && tokenizer.unknownTokenId == 0)
        #expect(tokenizer.tokenTypes[3] == .byte)
    }

    /// Without special tokens, decoding gives the text back (the dummy prefix space is removed).
    /// (After a special token SentencePiece adds a space, as llama.cpp does, so no round trip there.)
    @Test func decodeRoundTrips() throws {
        let tokenizer = try Self.tokenizer.get()
        for text in TokenizerFixtures.texts(try Self.cases.get()) {
            let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: false)
            #expect(tokenizer.decode(ids) == text)
        }
    }
}
