/// Everything a tokenizer is built from, gathered from GGUF metadata or tokenizer.json, so
/// that both sources share one construction path.
struct VocabularySpec {
    /// `byteLevelBPE`: GPT-2 style; `sentencePiece`: llama.cpp's score-ordered SentencePiece
    /// (GGUF `llama`); `sentencePieceBPE`: Hugging Face's ranked BPE over Unicode scalars with
    /// byte fallback (a Llama 2 / Mistral tokenizer.json).
    enum Kind { case byteLevelBPE, sentencePiece, sentencePieceBPE }

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
    /// `sentencePieceBPE`: added tokens matched in the normalized text (spelled normalized).
    var normalizedSpecials: [SpecialTokenMatcher.Entry] = []
    var normalizer = Normalizer.none
    /// How spaces are marked (`sentencePieceBPE` only).
    var spacing = SentencePieceSpacing()
    /// Fuse consecutive unknown scalars into one unknown token (`sentencePieceBPE`, `fuse_unk`).
    var fuseUnknown = false
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
            let merges = try Self.mergeTable(spec, textTable: textTable)
            let vocabulary = ByteStringTable(lookupEntries)
            let byteTokens: [Int32] = (0..<256).map { vocabulary.lookup([UInt8($0)]) ?? -1 }
            let bpe = BPEModel(merges: merges, byteTokens: byteTokens, vocabulary: vocabulary,
                               ignoreMerges: spec.ignoreMerges,
                               unknownId: spec.unknownForMissingBytes ? spec.unknown : nil)
            model = .byteLevelBPE(bpe, spec.preTokenizer)
        case .sentencePieceBPE:
            let vocabulary = ByteStringTable(spec.tokens.enumerated().map { (Array($0.element.utf8), Int32($0.offset)) })
            // Hugging Face looks byte tokens up by name, "<0x0A>".
            let byteTokens: [Int32] = (0..<256).map { vocabulary.lookup(Array(Self.byteTokenName(UInt8($0)).utf8)) ?? -1 }
            for (i, text) in spec.tokens.enumerated() {
                pieces.append(Self.sentencePieceBytes(text, type: spec.types[i]))
            }
            var bpe = BPEModel(merges: try Self.mergeTable(spec, textTable: vocabulary), byteTokens: byteTokens,
                               vocabulary: vocabulary, ignoreMerges: spec.ignoreMerges, unknownId: spec.unknown)
            bpe.segmentation = .scalarsWithByteFallback(fuseUnknown: spec.fuseUnknown)
            model = .sentencePieceBPE(bpe, spec.spacing, SpecialTokenMatcher(spec.normalizedSpecials))
        case .sentencePiece:
            guard spec.scores.count == count else {
                throw TokenizerError(.badValue, item: "tokenizer.ggml.scores",
                                     "has \(spec.scores.count) scores for \(count) tokens")
            }
            var byteTokens = [Int32](repeating: -1, count: 256)
            for (i, text) in spec.tokens.enumerated() {
                if spec.types[i] == .byte, let byte = Self.byteTokenValue(text) { byteTokens[Int(byte)] = Int32(i) }
                pieces.append(Self.sentencePieceBytes(text, type: spec.types[i]))
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
                throw TokenizerError(.badValue, item: "special token id",
                                     "token id \(id) is outside the vocabulary of \(count) tokens")
            }
        }
        self.init(model: model, tokens: spec.tokens, tokenTypes: spec.types, pieces: pieces,
                  specials: SpecialTokenMatcher(specials), normalizer: spec.normalizer,
                  prefixIds: spec.prefixIds, suffixIds: spec.suffixIds, bos: spec.bos, eos: spec.eos,
                  unknown: spec.unknown, padding: spec.padding, preTokenizerName: spec.preTokenizerName)
    }

    /// `left << 32 | right` -> `rank << 32 | merged id` for the spec's merges, looked up by token text.
    private static func mergeTable(_ spec: VocabularySpec, textTable: ByteStringTable) throws -> [UInt64: UInt64] {
        var merges: [UInt64: UInt64] = [:]
        merges.reserveCapacity(spec.merges.count)
        for (rank, pair) in spec.merges.enumerated() {
            let left = textTable.lookup(Array(pair.0.utf8))
            let right = textTable.lookup(Array(pair.1.utf8))
            let result = textTable.lookup(Array((pair.0 + pair.1).utf8))
            guard let left, let right, let result else {
                if spec.strictMerges {
                    throw TokenizerError(.badValue, item: "\(spec.mergesField)[\(rank)]",
                                         "merge '\(pair.0) \(pair.1)' uses a token that is not in the vocabulary")
                }
                continue
            }
            let key = BPEModel.pairKey(left, right)
            if spec.keepFirstDuplicateMerge && merges[key] != nil { continue }
            merges[key] = UInt64(rank) << 32 | UInt64(UInt32(result))
        }
        return merges
    }

    /// What a SentencePiece token stands for when decoding: its byte (byte tokens), its text with
    /// `▁` turned into spaces (normal pieces) or its text (control, user-defined, ...).
    static func sentencePieceBytes(_ text: String, type: TokenType) -> [UInt8] {
        if type == .byte, let byte = byteTokenValue(text) { return [byte] }
        return type == .normal ? Array(text.replacingSpaceMarks().utf8) : Array(text.utf8)
    }

    /// The name of a byte token as SentencePiece and Hugging Face spell it: `<0x0A>`.
    static func byteTokenName(_ byte: UInt8) -> String {
        let hex = String(byte, radix: 16, uppercase: true)
        return "<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"
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
