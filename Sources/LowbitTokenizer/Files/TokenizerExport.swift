import LowbitFormats

/// A tokenizer as the converter writes it: GGUF `tokenizer.ggml.*` metadata from a Hugging Face
/// tokenizer.json (+ tokenizer_config.json), or a tokenizer.json / tokenizer_config.json from GGUF
/// metadata (the way back).
///
/// Token types follow llama.cpp's converter: vocabulary entries are normal, added tokens that are
/// `special` (or look like `<|...|>`) are control, other added tokens user-defined, and ids
/// without a token (up to `vocabularySize`) are `[PADn]` unused.
public struct TokenizerExport: Sendable {
    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE) or "llama" (SentencePiece).
    public var model: String
    /// `tokenizer.ggml.pre`: llama.cpp's pre-tokenizer name (empty for SentencePiece).
    public var preTokenizer: String
    /// `tokenizer.ggml.tokens`: the vocabulary, by token id.
    public var tokens: [String]
    /// `tokenizer.ggml.token_type`: the type of each token.
    public var tokenTypes: [TokenType]
    /// SentencePiece scores (empty for BPE).
    public var scores: [Float]
    /// BPE merges, "left right", in rank order.
    public var merges: [String]
    /// `tokenizer.ggml.bos_token_id`.
    public var bosTokenId: Int32?
    /// `tokenizer.ggml.eos_token_id`.
    public var eosTokenId: Int32?
    /// `tokenizer.ggml.unknown_token_id`.
    public var unknownTokenId: Int32?
    /// `tokenizer.ggml.padding_token_id`.
    public var paddingTokenId: Int32?
    /// `tokenizer.ggml.add_bos_token`: put the BOS token before the text.
    public var addBOS: Bool
    /// `tokenizer.ggml.add_eos_token`: put the EOS token after the text.
    public var addEOS: Bool
    /// SentencePiece: prepend a space to the text (`tokenizer.ggml.add_space_prefix`).
    public var addSpacePrefix: Bool
    /// The Jinja chat template (`tokenizer.chat_template`), if any.
    public var chatTemplate: String?

    /// From a tokenizer.json and its tokenizer_config.json.
    ///
    /// - Parameter vocabularySize: the model's `vocab_size` (config.json); the token list is
    ///   padded with unused `[PADn]` entries up to it, as llama.cpp's converter does.
    ///
    /// A byte-level BPE file gives model "gpt2" with merges; a SentencePiece-style file (BPE with
    /// `byte_fallback`, Llama 2 / Mistral) gives model "llama" with scores that rank pieces as its
    /// merges do (``SentencePieceMerges/scores(tokens:types:merges:)``) and byte tokens typed `byte`.
    /// - Throws: ``TokenizerError``; `.unknownPreTokenizer` when the pre-tokenizer configuration
    ///   is not in ``PreTokenizerTable`` (no name is guessed).
    public init(tokenizerJSON: JSONValue, config: JSONValue?, vocabularySize: Int? = nil) throws {
        let hf = try HFTokenizerJSON(tokenizerJSON, config: config)
        let sentencePiece = hf.kind == .sentencePieceBPE
        model = sentencePiece ? "llama" : "gpt2"
        preTokenizer = sentencePiece ? "" : try PreTokenizerTable.name(for: hf.preTokenizer, ignoreMerges: hf.ignoreMerges)
        tokens = hf.tokens
        tokenTypes = hf.types
        if let size = vocabularySize {
            guard size >= tokens.count else {
                throw TokenizerError(.badValue, item: "vocab_size",
                                     "is \(size) but the tokenizer has \(tokens.count) tokens")
            }
            for i in tokens.count..<size {
                tokens.append("[PAD\(i)]")
                tokenTypes.append(.unused)
            }
        }
        scores = sentencePiece ? SentencePieceMerges.scores(tokens: tokens, types: tokenTypes, merges: hf.merges) : []
        merges = sentencePiece ? [] : hf.merges.map { "\($0.0) \($0.1)" }
        bosTokenId = hf.bos
        eosTokenId = hf.eos
        unknownTokenId = hf.unknown
        paddingTokenId = hf.padding
        addBOS = hf.bos.map { hf.prefixIds.contains($0) } ?? false
        addEOS = hf.eos.map { hf.suffixIds.contains($0) } ?? false
        addSpacePrefix = sentencePiece && hf.spacing.prependsMark
        chatTemplate = hf.chatTemplate
    }

    /// From GGUF metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`).
    public init(ggufMetadata: [(key: String, value: MetadataValue)]) throws {
        let keys = GGUFTokenizerKeys(ggufMetadata)
        let spec = try VocabularySpec(gguf: keys)
        model = spec.kind == .byteLevelBPE ? "gpt2" : "llama"
        preTokenizer = spec.kind == .byteLevelBPE ? spec.preTokenizerName : ""
        tokens = spec.tokens
        tokenTypes = spec.types
        scores = spec.scores
        merges = spec.merges.map { "\($0.0) \($0.1)" }
        bosTokenId = try keys.id("tokenizer.ggml.bos_token_id")
        eosTokenId = try keys.id("tokenizer.ggml.eos_token_id")
        unknownTokenId = try keys.id("tokenizer.ggml.unknown_token_id")
        paddingTokenId = try keys.id("tokenizer.ggml.padding_token_id")
        addBOS = !spec.prefixIds.isEmpty
        addEOS = !spec.suffixIds.isEmpty
        addSpacePrefix = spec.kind == .sentencePiece && spec.addSpacePrefix
        chatTemplate = try keys.string("tokenizer.chat_template")
    }

    /// The `tokenizer.*` GGUF metadata, in the order llama.cpp's converter writes it.
    public var ggufMetadata: [(key: String, value: MetadataValue)] {
        var out: [(key: String, value: MetadataValue)] = [("tokenizer.ggml.model", .string(model))]
        if model == "gpt2" { out.append(("tokenizer.ggml.pre", .string(preTokenizer))) }
        out.append(("tokenizer.ggml.tokens", .array(.string, tokens.map { .string($0) })))
        if !scores.isEmpty { out.append(("tokenizer.ggml.scores", .array(.float32, scores.map { .float32($0) }))) }
        out.append(("tokenizer.ggml.token_type", .array(.int32, tokenTypes.map { .int32($0.rawValue) })))
        if !merges.isEmpty { out.append(("tokenizer.ggml.merges", .array(.string, merges.map { .string($0) }))) }
        for (key, id) in [("bos_token_id", bosTokenId), ("eos_token_id", eosTokenId),
                          ("unknown_token_id", unknownTokenId), ("padding_token_id", paddingTokenId)] {
            if let id { out.append(("tokenizer.ggml.\(key)", .uint32(UInt32(id)))) }
        }
        out.append(("tokenizer.ggml.add_bos_token", .bool(addBOS)))
        out.append(("tokenizer.ggml.add_eos_token", .bool(addEOS)))
        if model == "llama" { out.append(("tokenizer.ggml.add_space_prefix", .bool(addSpacePrefix))) }
        if let chatTemplate { out.append(("tokenizer.chat_template", .string(chatTemplate))) }
        return out
    }

    /// A Hugging Face tokenizer.json for this tokenizer: a byte-level BPE file for "gpt2", a
    /// Llama-2-style file for "llama" (BPE with `byte_fallback` and `fuse_unk`, merges derived
    /// from the scores by ``SentencePieceMerges/merges(tokens:scores:types:)``, normalizer
    /// `Prepend("▁")` (when ``addSpacePrefix``) + `Replace(" ", "▁")`, no pre-tokenizer).
    /// - Throws: ``TokenizerError`` for another model or an unknown pre-tokenizer.
    public func tokenizerJSON() throws -> JSONValue {
        switch model {
        case "gpt2": return try byteLevelTokenizerJSON()
        case "llama": return try sentencePieceTokenizerJSON()
        default:
            throw TokenizerError(.unsupported, item: "tokenizer.ggml.model",
                                 "writing tokenizer.json is implemented for 'gpt2' and 'llama' only, not '\(model)'")
        }
    }

    private func byteLevelTokenizerJSON() throws -> JSONValue {
        let entry = try PreTokenizerTable.entry(named: preTokenizer)
        var preSteps: [JSONValue] = []
        var steps = entry.preTokenizer.steps
        let byteLevelRegex = steps.last == PreTokenizer.Step(.gpt2)
        if byteLevelRegex { steps.removeLast() }
        for step in steps {
            if case .numbers(let individual) = step.pattern, step.behavior == .isolated, !step.invert {
                preSteps.append(.object([("type", .string("Digits")), ("individual_digits", .bool(individual))]))
            } else {
                preSteps.append(.object([
                    ("type", .string("Split")), ("pattern", .object([("Regex", .string(step.pattern.regex))])),
                    ("behavior", .string(step.behavior.rawValue)), ("invert", .bool(step.invert)),
                ]))
            }
        }
        preSteps.append(.object([
            ("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)), ("trim_offsets", .bool(true)),
            ("use_regex", .bool(byteLevelRegex)),
        ]))
        return .object([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null),
            ("added_tokens", .array(addedTokensJSON())), ("normalizer", .null),
            ("pre_tokenizer", preSteps.count == 1 ? preSteps[0] : .object([("type", .string("Sequence")), ("pretokenizers", .array(preSteps))])),
            ("post_processor", postProcessorJSON() ?? .object([
                ("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)),
                ("trim_offsets", .bool(false)), ("use_regex", .bool(false))])),
            ("decoder", .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)),
                                 ("trim_offsets", .bool(true)), ("use_regex", .bool(true))])),
            ("model", .object([
                ("type", .string("BPE")), ("dropout", .null), ("unk_token", tokenName(unknownTokenId)),
                ("continuing_subword_prefix", .null), ("end_of_word_suffix", .null), ("fuse_unk", .bool(false)),
                ("byte_fallback", .bool(false)), ("ignore_merges", .bool(entry.ignoreMerges)),
                ("vocab", vocabJSON()), ("merges", .array(merges.map { .string($0) })),
            ])),
        ])
    }

    private func sentencePieceTokenizerJSON() throws -> JSONValue {
        guard scores.count == tokens.count, tokenTypes.count == tokens.count else {
            throw TokenizerError(.badValue, item: "tokenizer.ggml.scores",
                                 "has \(scores.count) scores and \(tokenTypes.count) types for \(tokens.count) tokens")
        }
        let pairs = SentencePieceMerges.merges(tokens: tokens, scores: scores, types: tokenTypes)
        // "a b" strings unless a piece holds a space; then ["a", "b"] pairs (tokenizers >= 0.20).
        let spaced = pairs.contains { $0.0.utf8.contains(0x20) || $0.1.utf8.contains(0x20) }
        let mergesJSON: [JSONValue] = pairs.map {
            spaced ? .array([.string($0.0), .string($0.1)]) : .string("\($0.0) \($0.1)")
        }
        let mark = "\u{2581}"
        var normalizers: [JSONValue] = []
        if addSpacePrefix { normalizers.append(.object([("type", .string("Prepend")), ("prepend", .string(mark))])) }
        normalizers.append(.object([("type", .string("Replace")), ("pattern", .object([("String", .string(" "))])),
                                    ("content", .string(mark))]))
        var decoders: [JSONValue] = [
            .object([("type", .string("Replace")), ("pattern", .object([("String", .string(mark))])),
                     ("content", .string(" "))]),
            .object([("type", .string("ByteFallback"))]),
            .object([("type", .string("Fuse"))]),
        ]
        if addSpacePrefix {
            decoders.append(.object([("type", .string("Strip")), ("content", .string(" ")),
                                     ("start", .integer(1)), ("stop", .integer(0))]))
        }
        return .object([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null),
            ("added_tokens", .array(addedTokensJSON())),
            ("normalizer", .object([("type", .string("Sequence")), ("normalizers", .array(normalizers))])),
            ("pre_tokenizer", .null),
            ("post_processor", postProcessorJSON() ?? .null),
            ("decoder", .object([("type", .string("Sequence")), ("decoders", .array(decoders))])),
            ("model", .object([
                ("type", .string("BPE")), ("dropout", .null), ("unk_token", tokenName(unknownTokenId)),
                ("continuing_subword_prefix", .null), ("end_of_word_suffix", .null), ("fuse_unk", .bool(true)),
                ("byte_fallback", .bool(true)), ("ignore_merges", .bool(false)),
                ("vocab", vocabJSON()), ("merges", .array(mergesJSON)),
            ])),
        ])
    }

    /// `model.vocab`: each token text with its (first) id.
    private func vocabJSON() -> JSONValue {
        var vocab: [(key: String, value: JSONValue)] = []
        var seen = Set<String>()
        for (i, token) in tokens.enumerated() where seen.insert(token).inserted {
            vocab.append((token, .integer(Int64(i))))
        }
        return .object(vocab)
    }

    /// `added_tokens`: control, unknown (special) and user-defined (not special) tokens.
    private func addedTokensJSON() -> [JSONValue] {
        tokens.indices.compactMap { i in
            let type = tokenTypes[i]
            guard type == .control || type == .userDefined || type == .unknown else { return nil }
            return .object([
                ("id", .integer(Int64(i))), ("content", .string(tokens[i])), ("single_word", .bool(false)),
                ("lstrip", .bool(false)), ("rstrip", .bool(false)), ("normalized", .bool(false)),
                ("special", .bool(type != .userDefined)),
            ])
        }
    }

    private func tokenName(_ id: Int32?) -> JSONValue {
        guard let id, id >= 0, Int(id) < tokens.count else { return .null }
        return .string(tokens[Int(id)])
    }

    /// A `TemplateProcessing` that adds BOS / EOS as configured; nil when neither is added.
    private func postProcessorJSON() -> JSONValue? {
        var template: [JSONValue] = []
        var specialTokens: [(key: String, value: JSONValue)] = []
        func special(_ id: Int32) {
            guard id >= 0, Int(id) < tokens.count else { return }
            template.append(.object([("SpecialToken", .object([("id", .string(tokens[Int(id)])), ("type_id", .integer(0))]))]))
            if !specialTokens.contains(where: { $0.key == tokens[Int(id)] }) {
                specialTokens.append((tokens[Int(id)], .object([
                    ("id", .string(tokens[Int(id)])), ("ids", .array([.integer(Int64(id))])),
                    ("tokens", .array([.string(tokens[Int(id)])])),
                ])))
            }
        }
        if addBOS, let bosTokenId { special(bosTokenId) }
        template.append(.object([("Sequence", .object([("id", .string("A")), ("type_id", .integer(0))]))]))
        if addEOS, let eosTokenId { special(eosTokenId) }
        guard addBOS || addEOS else { return nil }
        return .object([("type", .string("TemplateProcessing")), ("single", .array(template)),
                        ("pair", .array(template)), ("special_tokens", .object(specialTokens))])
    }

    /// A tokenizer_config.json: special tokens, add-BOS/EOS flags and the chat template.
    public func tokenizerConfigJSON() -> JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("add_bos_token", .bool(addBOS)), ("add_eos_token", .bool(addEOS)),
        ]
        for (key, id) in [("bos_token", bosTokenId), ("eos_token", eosTokenId), ("unk_token", unknownTokenId),
                          ("pad_token", paddingTokenId)] {
            if let id, Int(id) < tokens.count { members.append((key, .string(tokens[Int(id)]))) }
        }
        if let chatTemplate { members.append(("chat_template", .string(chatTemplate))) }
        members.append(("clean_up_tokenization_spaces", .bool(false)))
        members.append(("model_max_length", .integer(1 << 30)))
        members.append(("tokenizer_class", .string("PreTrainedTokenizerFast")))
        return .object(members)
    }
}
