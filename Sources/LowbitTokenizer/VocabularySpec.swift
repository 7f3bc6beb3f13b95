/// Everything a tokenizer is built from, gathered from GGUF metadata or tokenizer.json, so
/// that both sources share one construction path.
struct VocabularySpec {
    enum Kind { case byteLevelBPE, sentencePiece }

    var kind: Kind
    var tokens: [String]
    var types: [TokenType]
    var scores: [Float] = []
    /// BPE merges in rank order.
    var merges: [(String, String)] = []
    var preTokenizerName = ""
    var preTokenizer = PreTokenizer(steps: [])
    var ignoreMerges = false
    var bos: Int32? = nil
    var eos: Int32? = nil
    var unknown: Int32? = nil
    var padding: Int32? = nil
    var prefixIds: [Int32] = []
    var suffixIds: [Int32] = []
    var addSpacePrefix = true
    /// Text-matched tokens; nil means "every control, user-defined and unknown token" (llama.cpp).
    var specials: [SpecialTokenMatcher.Entry]? = nil
    var normalizer = Normalizer.none
    /// Use the unknown token for bytes the vocabulary lacks (Hugging Face); llama.cpp drops them.
    var unknownForMissingBytes = false
    /// Duplicate merge pairs: llama.cpp keeps the first rank, Hugging Face the last.
    var keepFirstDuplicateMerge = true
    /// A merge whose parts or result are not tokens: an error (Hugging Face) or skipped (llama.cpp).
    var strictMerges = false
    /// Where merges came from, for error messages.
    var mergesField = "tokenizer.ggml.merges"
}

extension Tokenizer {
    convenience init(spec: VocabularySpec) throws {
        let count = spec.tokens.count
        var pieces: [[UInt8]] = []
        pieces.reserveCapacity(count)
        let model: Model
        switch spec.kind {
        case .byteLevelBPE:
            var lookupEntries: [(key: [UInt8], value: Int32)] = []
            lookupEntries.reserveCapacity(count)
            for (i, text) in spec.tokens.enumerated() {
                if let raw = ByteLevelAlphabet.decode(text) {
                    lookupEntries.append((raw, Int32(i)))
                    pieces.append(spec.types[i] == .normal || spec.types[i] == .byte ? raw : Array(text.utf8))
                } else {
                    pieces.append(Array(text.utf8))
                }
            }
            // Merges are looked up by the byte-level token text.
            let textTable = ByteStringTable(spec.tokens.enumerated().map { (Array($0.element.utf8), Int32($0.offset)) })
            var merges: [UInt64: UInt64] = [:]
            merges.reserveCapacity(spec.merges.count)
            for (rank, pair) in spec.merges.enumerated() {
                let left = textTable.lookup(Array(pair.0.utf8))
                let right = textTable.lookup(Array(pair.1.utf8))
                let result = textTable.lookup(Array((pair.0 + pair.1).utf8))
                guard let left, let right, let result else {
                    if spec.strictMerges {
                        throw TokenizerError(.badValue, field: "\(spec.mergesField)[\(rank)]",
                                             "merge '\(pair.0) \(pair.1)' uses a token that is not in the vocabulary")
                    }
                    continue
                }
                let key = BPEModel.pairKey(left, right)
                if spec.keepFirstDuplicateMerge && merges[key] != nil { continue }
                merges[key] = UInt64(rank) << 32 | UInt64(UInt32(result))
            }
            let vocabulary = ByteStringTable(lookupEntries)
            let byteTokens: [Int32] = (0..<256).map { vocabulary.lookup([UInt8($0)]) ?? -1 }
            let bpe = BPEModel(merges: merges, byteTokens: byteTokens, vocabulary: vocabulary,
                               ignoreMerges: spec.ignoreMerges,
                               unknownId: spec.unknownForMissingBytes ? spec.unknown : nil)
            model = .byteLevelBPE(bpe, spec.preTokenizer)
        case .sentencePiece:
            guard spec.scores.count == count else {
                throw TokenizerError(.badValue, field: "tokenizer.ggml.scores",
                                     "has \(spec.scores.count) scores for \(count) tokens")
            }
            var byteTokens = [Int32](repeating: -1, count: 256)
            for (i, text) in spec.tokens.enumerated() {
                if spec.types[i] == .byte, let byte = Self.byteTokenValue(text) {
                    byteTokens[Int(byte)] = Int32(i)
                    pieces.append([byte])
                } else if spec.types[i] == .normal {
                    pieces.append(Array(text.replacingSpaceMarks().utf8))
                } else {
                    pieces.append(Array(text.utf8))
                }
            }
            // Like llama.cpp, fall back to a single-byte token spelled as the byte itself.
            let vocabulary = ByteStringTable(spec.tokens.enumerated().map { (Array($0.element.utf8), Int32($0.offset)) })
            for b in 0..<128 where byteTokens[b] < 0 {
                byteTokens[b] = vocabulary.lookup([UInt8(b)]) ?? -1
            }
            model = .sentencePiece(SentencePieceModel(vocabulary: vocabulary, scores: spec.scores,
                                                      byteTokens: byteTokens, unknownId: spec.unknown,
                                                      addSpacePrefix: spec.addSpacePrefix))
        }
        let specials = spec.specials ?? spec.tokens.indices.compactMap { i in
            spec.types[i].isMatchedInText
                ? SpecialTokenMatcher.Entry(bytes: Array(spec.tokens[i].utf8), id: Int32(i),
                                            requiresParseSpecial: spec.types[i] != .userDefined)
                : nil
        }
        for id in [spec.bos, spec.eos, spec.unknown, spec.padding] + spec.prefixIds.map(Optional.some) {
            if let id, id < 0 || Int(id) >= count {
                throw TokenizerError(.badValue, field: "special token id",
                                     "token id \(id) is outside the vocabulary of \(count) tokens")
            }
        }
        self.init(model: model, tokens: spec.tokens, tokenTypes: spec.types, pieces: pieces,
                  specials: SpecialTokenMatcher(specials), normalizer: spec.normalizer,
                  prefixIds: spec.prefixIds, suffixIds: spec.suffixIds, bos: spec.bos, eos: spec.eos,
                  unknown: spec.unknown, padding: spec.padding, preTokenizerName: spec.preTokenizerName)
    }

    /// The byte of a `<0xAB>` token.
    static func byteTokenValue(_ text: String) -> UInt8? {
        let u = Array(text.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }
}

extension String {
    /// SentencePiece's `▁` (U+2581) turned back into spaces.
    func replacingSpaceMarks() -> String {
        String(String.UnicodeScalarView(unicodeScalars.map { $0.value == 0x2581 ? " " : $0 }))
    }
}
