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
    public var tokens: [String]
    public var tokenTypes: [TokenType]
    /// SentencePiece scores (empty for BPE).
    public var scores: [Float]
    /// BPE merges, "left right", in rank order.
    public var merges: [String]
    public var bosTokenId: Int32?
    public var eosTokenId: Int32?
    public var unknownTokenId: Int32?
    public var paddingTokenId: Int32?
    public var addBOS: Bool
    public var addEOS: Bool
    /// SentencePiece: prepend a space to the text (`tokenizer.ggml.add_space_prefix`).
    public var addSpacePrefix: Bool
    /// The Jinja chat template (`tokenizer.chat_template`), if any.
    public var chatTemplate: String?

    /// From a tokenizer.json and its tokenizer_config.json.
    ///
    /// - Parameter vocabularySize: the model's `vocab_size` (config.json); the token list is
    ///   padded with unused `[PADn]` entries up to it, as llama.cpp's converter does.
    /// - Throws: ``TokenizerError``; `.unknownPreTokenizer` when the pre-tokenizer configuration
    ///   is not in ``PreTokenizerTable`` (no name is guessed).
    public init(tokenizerJSON: JSONValue, config: JSONValue?, vocabularySize: Int? = nil) throws {
        let hf = try HFTokenizerJSON(tokenizerJSON, config: config)
        model = "gpt2"
        preTokenizer = try PreTokenizerTable.name(for: hf.preTokenizer, ignoreMerges: hf.ignoreMerges)
        tokens = hf.tokens
        tokenTypes = hf.types
        if let size = vocabularySize {
            guard size >= tokens.count else {
                throw TokenizerError(.badValue, field: "vocab_size",
                                     "is \(size) but the tokenizer has \(tokens.count) tokens")
            }
            for i in tokens.count..<size {
                tokens.append("[PAD\(i)]")
                tokenTypes.append(.unused)
            }
        }
        scores = []
        merges = hf.merges.map { "\($0.0) \($0.1)" }
        bosTokenId = hf.bos
        eosTokenId = hf.eos
        unknownTokenId = hf.unknown
        paddingTokenId = hf.padding
        addBOS = hf.bos.map { hf.prefixIds.contains($0) } ?? false
        addEOS = hf.eos.map { hf.suffixIds.contains($0) } ?? false
        addSpacePrefix = false
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

    /// A Hugging Face tokenizer.json for this (byte-level BPE) tokenizer.
    /// - Throws: ``TokenizerError`` for SentencePiece vocabularies or an unknown pre-tokenizer.
    public func tokenizerJSON() throws -> JSONValue {
        guard model == "gpt2" else {
            throw TokenizerError(.unsupported, field: "tokenizer.ggml.model",
                                 "writing tokenizer.json is implemented for byte-level BPE ('gpt2') only, not '\(model)'")
        }
        let entry = try PreTokenizerTable.entry(named: preTokenizer)
        var added: [JSONValue] = []
        var vocab: [(key: String, value: JSONValue)] = []
        var seen = Set<String>()
        for (i, token) in tokens.enumerated() {
            if seen.insert(token).inserted { vocab.append((token, .integer(Int64(i)))) }
            let type = tokenTypes[i]
            if type == .control || type == .userDefined || (type == .unknown) {
                added.append(.object([
                    ("id", .integer(Int64(i))), ("content", .string(token)), ("single_word", .bool(false)),
                    ("lstrip", .bool(false)), ("rstrip", .bool(false)), ("normalized", .bool(false)),
                    ("special", .bool(type != .userDefined)),
                ]))
            }
        }
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
        func name(_ id: Int32?) -> JSONValue { id.map { .string(tokens[Int($0)]) } ?? .null }
        var template: [JSONValue] = []
        var specialTokens: [(key: String, value: JSONValue)] = []
        func special(_ id: Int32) {
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
        let postProcessor: JSONValue = (addBOS || addEOS)
            ? .object([("type", .string("TemplateProcessing")), ("single", .array(template)),
                       ("pair", .array(template)), ("special_tokens", .object(specialTokens))])
            : .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)),
                       ("trim_offsets", .bool(false)), ("use_regex", .bool(false))])
        return .object([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null),
            ("added_tokens", .array(added)), ("normalizer", .null),
            ("pre_tokenizer", preSteps.count == 1 ? preSteps[0] : .object([("type", .string("Sequence")), ("pretokenizers", .array(preSteps))])),
            ("post_processor", postProcessor),
            ("decoder", .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)),
                                 ("trim_offsets", .bool(true)), ("use_regex", .bool(true))])),
            ("model", .object([
                ("type", .string("BPE")), ("dropout", .null), ("unk_token", name(unknownTokenId)),
                ("continuing_subword_prefix", .null), ("end_of_word_suffix", .null), ("fuse_unk", .bool(false)),
                ("byte_fallback", .bool(false)), ("ignore_merges", .bool(entry.ignoreMerges)),
                ("vocab", .object(vocab)), ("merges", .array(merges.map { .string($0) })),
            ])),
        ])
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
