/// A text tokenizer that gives the same token ids as llama.cpp (for GGUF metadata) and as
/// Hugging Face `tokenizers` (for `tokenizer.json`).
///
/// Supported: byte-level BPE (GPT-2 style; `tokenizer.ggml.model = gpt2`, or a tokenizer.json
/// `BPE` model with a `ByteLevel` pre-tokenizer), and SentencePiece-style BPE with byte fallback
/// (Llama 2) in its two spellings: GGUF `tokenizer.ggml.model = llama` (scores, run as llama.cpp
/// does) and a tokenizer.json `BPE` model with `byte_fallback` (ranked merges, run as `tokenizers`
/// does). Text is processed as UTF-8 bytes and Unicode scalars, never as Swift Characters.
///
/// Encoding cuts special tokens out first, splits the rest into words with the pre-tokenizer,
/// then merges each word; identical words within one call are merged once.
public final class Tokenizer: Sendable {
    enum Model: Sendable {
        case byteLevelBPE(BPEModel, PreTokenizer)
        case sentencePiece(SentencePieceModel)
        /// Hugging Face's SentencePiece-style BPE (tokenizer.json with `byte_fallback`): ranked
        /// merges over Unicode scalars, spaces marked by the normalizer / Metaspace, and the added
        /// tokens that are matched in the normalized text.
        case sentencePieceBPE(BPEModel, SentencePieceSpacing, SpecialTokenMatcher)
    }

    let model: Model
    /// Each token's text as the vocabulary spells it.
    public let tokens: [String]
    /// Each token's type.
    public let tokenTypes: [TokenType]
    /// The bytes each token stands for when decoding.
    let pieces: [[UInt8]]
    let specials: SpecialTokenMatcher
    let normalizer: Normalizer
    /// Tokens put before / after the text when `addSpecial` is true.
    let prefixIds: [Int32]
    let suffixIds: [Int32]

    /// The beginning-of-sequence token, if the model has one.
    public let bosTokenId: Int32?
    /// The end-of-sequence token, if the model has one.
    public let eosTokenId: Int32?
    /// The token for text the vocabulary cannot spell, if the model has one.
    public let unknownTokenId: Int32?
    /// The padding token, if the model has one.
    public let paddingTokenId: Int32?
    /// llama.cpp's name of the pre-tokenizer (`llama-bpe`, `smollm`, `gpt-2`, `qwen2`, `default`,
    /// ...; empty for SentencePiece models; "custom" for a tokenizer.json whose pre-tokenizer Lowbit
    /// runs but ``PreTokenizerTable`` has no name for).
    public let preTokenizerName: String

    /// Whether ``encode(_:addSpecial:parseSpecial:)`` puts BOS first when `addSpecial` is true.
    public var addsBOS: Bool { bosTokenId.map { prefixIds.contains($0) } ?? false }
    /// Whether ``encode(_:addSpecial:parseSpecial:)`` puts EOS last when `addSpecial` is true.
    public var addsEOS: Bool { eosTokenId.map { suffixIds.contains($0) } ?? false }
    /// Number of token ids (the vocabulary's size).
    public var vocabularySize: Int { tokens.count }

    init(model: Model, tokens: [String], tokenTypes: [TokenType], pieces: [[UInt8]],
         specials: SpecialTokenMatcher, normalizer: Normalizer = .none,
         prefixIds: [Int32], suffixIds: [Int32], bos: Int32?, eos: Int32?, unknown: Int32?,
         padding: Int32?, preTokenizerName: String) {
        self.model = model
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.pieces = pieces
        self.specials = specials
        self.normalizer = normalizer
        self.prefixIds = prefixIds
        self.suffixIds = suffixIds
        self.bosTokenId = bos
        self.eosTokenId = eos
        self.unknownTokenId = unknown
        self.paddingTokenId = padding
        self.preTokenizerName = preTokenizerName
    }

    /// The token ids of `text`.
    ///
    /// - Parameters:
    ///   - addSpecial: put BOS / EOS around the text where the tokenizer is configured to.
    ///   - parseSpecial: recognise control tokens such as `<|im_start|>` written in the text;
    ///     when false they are tokenized as ordinary text (user-defined added tokens are always
    ///     recognised, as in llama.cpp and Hugging Face).
    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = false) -> [Int32] {
        var output: [Int32] = []
        output.reserveCapacity(text.utf8.count / 3 + 4)
        if addSpecial { output.append(contentsOf: prefixIds) }
        let bytes = Array(normalizer.apply(text).utf8)
        bytes.withUnsafeBufferPointer { buffer in
            let fragments: [Fragment] = specials.isEmpty
                ? (buffer.isEmpty ? [] : [.text(0..<buffer.count)])
                : specials.partition(buffer, parseSpecial: parseSpecial)
            switch model {
            case .byteLevelBPE(let bpe, let preTokenizer):
                var session = BPESession(model: bpe)
                for fragment in fragments {
                    switch fragment {
                    case .token(let id): output.append(id)
                    case .text(let range):
                        let scalars = ScalarText(buffer, range: range)
                        for word in preTokenizer.split(scalars) {
                            let start = scalars.byteOffsets[word.lowerBound]
                            let end = scalars.byteOffsets[word.upperBound]
                            session.encode(UnsafeBufferPointer(rebasing: buffer[start..<end]), into: &output)
                        }
                    }
                }
            case .sentencePieceBPE(let bpe, let spacing, let normalizedSpecials):
                var session = BPESession(model: bpe)
                for fragment in fragments {
                    switch fragment {
                    case .token(let id): output.append(id)
                    case .text(let range):
                        let normalized = spacing.normalize(Array(buffer[range]))
                        normalized.withUnsafeBufferPointer { normalized in
                            let parts: [Fragment] = normalizedSpecials.isEmpty
                                ? [.text(0..<normalized.count)]
                                : normalizedSpecials.partition(normalized, parseSpecial: parseSpecial)
                            for part in parts {
                                switch part {
                                case .token(let id): output.append(id)
                                case .text(let r):
                                    let text = spacing.marked(UnsafeBufferPointer(rebasing: normalized[r]),
                                                              atInputStart: range.lowerBound == 0 && r.lowerBound == 0)
                                    text.withUnsafeBufferPointer { text in
                                        for word in spacing.words(text) {
                                            session.encode(UnsafeBufferPointer(rebasing: text[word]), into: &output)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            case .sentencePiece(let spm):
                var previousIsSpecial = true
                for fragment in fragments {
                    switch fragment {
                    case .token(let id):
                        output.append(id)
                        previousIsSpecial = true
                    case .text(let range):
                        let escaped = SentencePieceModel.escape(
                            UnsafeBufferPointer(rebasing: buffer[range]),
                            prefixSpace: spm.addSpacePrefix && previousIsSpecial)
                        spm.encode(escaped, into: &output)
                        previousIsSpecial = false
                    }
                }
            }
        }
        if addSpecial { output.append(contentsOf: suffixIds) }
        return output
    }

    /// The text of `ids`. Invalid UTF-8 (a token sequence cut inside a character) is replaced
    /// by U+FFFD. Control tokens are written out unless `skipSpecial` is true.
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard id >= 0, Int(id) < pieces.count else { continue }
            if skipSpecial && tokenTypes[Int(id)] == .control { continue }
            bytes.append(contentsOf: pieces[Int(id)])
        }
        if case .sentencePiece(let spm) = model, spm.addSpacePrefix, bytes.first == 0x20 {
            bytes.removeFirst()
        }
        if case .sentencePieceBPE(_, let spacing, _) = model, spacing.prependsMark, bytes.first == 0x20 {
            bytes.removeFirst()
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The id of a token spelled exactly `text` in the vocabulary, if any.
    public func tokenId(_ text: String) -> Int32? {
        tokens.firstIndex(of: text).map { Int32($0) }
    }
}
