import LowbitFormats

/// What Lowbit reads from a Hugging Face `tokenizer.json` (+ `tokenizer_config.json`): a
/// byte-level BPE model or a SentencePiece-style BPE model (`byte_fallback`, Llama 2 / Mistral),
/// its normalizer and pre-tokenizer, added tokens and special-token settings. Shared by
/// ``Tokenizer/init(tokenizerJSON:config:)`` and ``TokenizerExport``.
struct HFTokenizerJSON {
    struct AddedToken {
        var id: Int32
        var content: String
        var special: Bool
        var lstrip: Bool
        var rstrip: Bool
        /// Matched in the normalized text rather than the raw text (SentencePiece-style only).
        var normalized = false
    }

    /// `.byteLevelBPE` or `.sentencePieceBPE` (a BPE model with `byte_fallback`).
    var kind: VocabularySpec.Kind
    var tokens: [String]
    var types: [TokenType]
    var merges: [(String, String)]
    var addedTokens: [AddedToken]
    var preTokenizer: PreTokenizer
    var ignoreMerges: Bool
    var normalizer: Normalizer
    /// SentencePiece-style only: the `Prepend` / `Replace` normalizer and `Metaspace` pre-tokenizer.
    var spacing = SentencePieceSpacing()
    /// `model.fuse_unk`.
    var fuseUnknown: Bool
    var unknown: Int32?
    var bos: Int32?
    var eos: Int32?
    var padding: Int32?
    var prefixIds: [Int32]
    var suffixIds: [Int32]
    var chatTemplate: String?

    init(_ json: JSONValue, config: JSONValue?) throws {
        guard case .object = json else {
            throw TokenizerError(.badValue, item: "tokenizer.json", "is not a JSON object")
        }
        guard let model = json["model"], case .object = model else {
            throw TokenizerError(.missingField, item: "model", "tokenizer.json has no model")
        }
        let modelType = model["type"]?.stringValue ?? "BPE"
        guard modelType == "BPE" else {
            throw TokenizerError(.unsupported, item: "model.type", "model '\(modelType)' is not supported (only BPE)")
        }
        for field in ["byte_fallback", "fuse_unk", "ignore_merges"] {
            if let v = model[field], v != .null, v.boolValue == nil {
                throw TokenizerError(.badValue, item: "model.\(field)", "is not a boolean")
            }
        }
        kind = model["byte_fallback"]?.boolValue == true ? .sentencePieceBPE : .byteLevelBPE
        fuseUnknown = model["fuse_unk"]?.boolValue ?? false
        for field in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = model[field], v != .null, v != .string("") {
                throw TokenizerError(.unsupported, item: "model.\(field)", "is not supported by Lowbit's BPE")
            }
        }
        if let dropout = model["dropout"]?.doubleValue, dropout > 0 {
            throw TokenizerError(.unsupported, item: "model.dropout", "BPE dropout makes tokenization random")
        }
        ignoreMerges = model["ignore_merges"]?.boolValue ?? false

        // Vocabulary: model.vocab plus added tokens, by id.
        guard let vocab = model["vocab"]?.objectValue else {
            throw TokenizerError(.missingField, item: "model.vocab", "the BPE vocabulary is missing")
        }
        var byId: [Int: String] = [:]
        byId.reserveCapacity(vocab.count)
        for (text, idValue) in vocab {
            guard let id = idValue.intValue, id >= 0, id < 1 << 24 else {
                throw TokenizerError(.badValue, item: "model.vocab[\(text)]", "is not a valid token id")
            }
            byId[id] = text
        }
        addedTokens = []
        for (i, entry) in (json["added_tokens"]?.arrayValue ?? []).enumerated() {
            guard let id = entry["id"]?.intValue, id >= 0, id < 1 << 24, let content = entry["content"]?.stringValue else {
                throw TokenizerError(.badValue, item: "added_tokens[\(i)]", "needs an id and a content")
            }
            addedTokens.append(AddedToken(id: Int32(id), content: content,
                                          special: entry["special"]?.boolValue ?? false,
                                          lstrip: entry["lstrip"]?.boolValue ?? false,
                                          rstrip: entry["rstrip"]?.boolValue ?? false,
                                          normalized: entry["normalized"]?.boolValue ?? false))
            byId[id] = content
        }
        let count = (byId.keys.max() ?? -1) + 1
        tokens = (0..<count).map { byId[$0] ?? "[PAD\($0)]" }
        types = (0..<count).map { byId[$0] == nil ? .unused : .normal }
        for token in addedTokens {
            types[Int(token.id)] = token.special || Self.looksSpecial(token.content) ? .control : .userDefined
        }

        // Merges: "a b" strings or ["a", "b"] arrays.
        guard let mergeValues = model["merges"]?.arrayValue else {
            throw TokenizerError(.missingField, item: "model.merges", "the BPE merges are missing")
        }
        merges = try mergeValues.enumerated().map { i, value in
            if let s = value.stringValue, let space = s.firstIndex(of: " "), space != s.startIndex {
                return (String(s[..<space]), String(s[s.index(after: space)...]))
            }
            if let pair = value.arrayValue, pair.count == 2, let a = pair[0].stringValue, let b = pair[1].stringValue {
                return (a, b)
            }
            throw TokenizerError(.badValue, item: "model.merges[\(i)]", "is neither \"a b\" nor [\"a\", \"b\"]")
        }

        let tokenIds: [String: Int32] = Dictionary(tokens.enumerated().map { ($0.element, Int32($0.offset)) },
                                                   uniquingKeysWith: { first, _ in first })
        if let unk = model["unk_token"], unk != .null, unk.stringValue == nil {
            throw TokenizerError(.badValue, item: "model.unk_token", "is not a string")
        }
        unknown = model["unk_token"]?.stringValue.flatMap { tokenIds[$0] }

        switch kind {
        case .sentencePieceBPE:
            normalizer = .none
            preTokenizer = PreTokenizer(steps: [])
            spacing = SentencePieceSpacing(
                normalizerSteps: try Self.parseSpacingNormalizer(json["normalizer"], path: "normalizer"),
                metaspace: try Self.parseMetaspace(json["pre_tokenizer"], path: "pre_tokenizer"))
            // The byte tokens of byte fallback, and the unknown token, get their GGUF types.
            for byte in 0...255 {
                if let id = tokenIds[Tokenizer.byteTokenName(UInt8(byte))], types[Int(id)] == .normal {
                    types[Int(id)] = .byte
                }
            }
            if let unknown { types[Int(unknown)] = .unknown }
        default:
            normalizer = try Self.parseNormalizer(json["normalizer"], path: "normalizer")
            var steps: [PreTokenizer.Step] = []
            var byteLevel = false
            try Self.parsePreTokenizer(json["pre_tokenizer"], path: "pre_tokenizer", steps: &steps, byteLevel: &byteLevel)
            guard byteLevel else {
                throw TokenizerError(.unsupported, item: "pre_tokenizer",
                                     "only byte-level BPE or SentencePiece-style BPE (model.byte_fallback) is supported (no ByteLevel pre-tokenizer found)")
            }
            preTokenizer = PreTokenizer(steps: steps)
        }

        // Special tokens added around the text.
        var prefix: [Int32] = []
        var suffix: [Int32] = []
        try Self.parsePostProcessor(json["post_processor"], path: "post_processor", ids: tokenIds,
                                    prefix: &prefix, suffix: &suffix)
        func configToken(_ key: String) -> Int32? {
            guard let value = config?[key] else { return nil }
            let text = value.stringValue ?? value["content"]?.stringValue
            return text.flatMap { tokenIds[$0] }
        }
        let bosId = configToken("bos_token") ?? prefix.first
        let eosId = configToken("eos_token") ?? suffix.last
        bos = bosId
        eos = eosId
        padding = configToken("pad_token")
        if let unk = configToken("unk_token") { unknown = unk }
        if let addBOS = config?["add_bos_token"]?.boolValue {
            prefix = addBOS ? bosId.map { [$0] } ?? [] : prefix.filter { $0 != bosId }
        }
        if let addEOS = config?["add_eos_token"]?.boolValue {
            suffix = addEOS ? eosId.map { [$0] } ?? [] : suffix.filter { $0 != eosId }
        }
        prefixIds = prefix
        suffixIds = suffix

        chatTemplate = Self.chatTemplate(config)
    }

    /// tokenizer_config.json's `chat_template`: a string, or the one named "default" (else the
    /// first) of a list of named templates.
    static func chatTemplate(_ config: JSONValue?) -> String? {
        switch config?["chat_template"] {
        case .string(let s)?: s
        case .array(let templates)?:
            templates.first(where: { $0["name"]?.stringValue == "default" })?["template"]?.stringValue
                ?? templates.first?["template"]?.stringValue
        default: nil
        }
    }

    /// llama.cpp's converter treats these added tokens as control tokens even when not `special`.
    static func looksSpecial(_ text: String) -> Bool {
        if ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(text) { return true }
        if text.hasPrefix("<|") && text.hasSuffix("|>") && text.count >= 4 { return true }
        if text.hasPrefix("<\u{FF5C}") && text.hasSuffix("\u{FF5C}>") && text.count >= 4 { return true }
        return false
    }

    var spec: VocabularySpec {
        get throws {
            var spec = VocabularySpec(kind: kind, tokens: tokens, types: types)
            spec.merges = merges
            spec.preTokenizer = preTokenizer
            spec.ignoreMerges = ignoreMerges
            spec.spacing = spacing
            spec.fuseUnknown = fuseUnknown
            spec.preTokenizerName = kind == .sentencePieceBPE
                ? "" : (try? PreTokenizerTable.name(for: preTokenizer, ignoreMerges: ignoreMerges)) ?? "custom"
            spec.normalizer = normalizer
            spec.bos = bos
            spec.eos = eos
            spec.unknown = unknown
            spec.padding = padding
            spec.prefixIds = prefixIds
            spec.suffixIds = suffixIds
            spec.addSpacePrefix = false
            // With a normalizer, `tokenizers` finds `normalized` added tokens in the normalized text,
            // spelled as the normalizer turns their content (e.g. "▁<s>" under Prepend("▁")).
            let matchNormalized = kind == .sentencePieceBPE && !spacing.normalizerSteps.isEmpty
            func entry(_ token: AddedToken, _ bytes: [UInt8]) -> SpecialTokenMatcher.Entry {
                SpecialTokenMatcher.Entry(bytes: bytes, id: token.id, requiresParseSpecial: token.special,
                                          stripLeft: token.lstrip, stripRight: token.rstrip)
            }
            spec.specials = addedTokens.filter { !(matchNormalized && $0.normalized) }.map { entry($0, Array($0.content.utf8)) }
            spec.normalizedSpecials = addedTokens.filter { matchNormalized && $0.normalized }.map {
                entry($0, spacing.normalize(Array($0.content.utf8)))
            }
            spec.unknownForMissingBytes = true
            spec.keepFirstDuplicateMerge = false
            spec.strictMerges = true
            spec.mergesField = "model.merges"
            return spec
        }
    }

    // MARK: - pipeline parts

    private static func parseNormalizer(_ value: JSONValue?, path: String) throws -> Normalizer {
        guard let value, value != .null else { return .none }
        switch value["type"]?.stringValue {
        case "NFC": return .nfc
        case "Sequence":
            var result = Normalizer.none
            for (i, part) in (value["normalizers"]?.arrayValue ?? []).enumerated() {
                if try parseNormalizer(part, path: "\(path).normalizers[\(i)]") == .nfc { result = .nfc }
            }
            return result
        case let other:
            throw TokenizerError(.unsupported, item: path, "normalizer '\(other ?? "?")' is not supported (only NFC)")
        }
    }

    /// The normalizer of a SentencePiece-style file: `Prepend`, `Replace` with a literal pattern,
    /// or a `Sequence` of them.
    private static func parseSpacingNormalizer(_ value: JSONValue?, path: String) throws -> [SentencePieceSpacing.Step] {
        guard let value, value != .null else { return [] }
        switch value["type"]?.stringValue {
        case "Sequence":
            guard let parts = value["normalizers"]?.arrayValue else {
                throw TokenizerError(.missingField, item: "\(path).normalizers", "a Sequence normalizer needs a list")
            }
            var steps: [SentencePieceSpacing.Step] = []
            for (i, part) in parts.enumerated() {
                steps += try parseSpacingNormalizer(part, path: "\(path).normalizers[\(i)]")
            }
            return steps
        case "Prepend":
            guard let prefix = value["prepend"]?.stringValue else {
                throw TokenizerError(.missingField, item: "\(path).prepend", "a Prepend normalizer needs a string")
            }
            return [.prepend(Array(prefix.utf8))]
        case "Replace":
            guard let pattern = value["pattern"]?["String"]?.stringValue, !pattern.isEmpty else {
                throw TokenizerError(.unsupported, item: "\(path).pattern",
                                     "only a non-empty literal String pattern is supported in Replace")
            }
            guard let content = value["content"]?.stringValue else {
                throw TokenizerError(.missingField, item: "\(path).content", "a Replace normalizer needs a content string")
            }
            return [.replace(Array(pattern.utf8), with: Array(content.utf8))]
        case let other:
            throw TokenizerError(.unsupported, item: path,
                                 "normalizer '\(other ?? "?")' is not supported with byte_fallback BPE (only Prepend, Replace, Sequence)")
        }
    }

    /// The pre-tokenizer of a SentencePiece-style file: none, or `Metaspace` (alone or as the
    /// only member of a `Sequence`). Old files spell the prepend rule `add_prefix_space` and have
    /// no `split` (which then defaults to true, as in `tokenizers`).
    private static func parseMetaspace(_ value: JSONValue?, path: String) throws -> SentencePieceSpacing.Metaspace? {
        guard let value, value != .null else { return nil }
        switch value["type"]?.stringValue {
        case "Sequence":
            let parts = value["pretokenizers"]?.arrayValue ?? []
            guard parts.count <= 1 else {
                throw TokenizerError(.unsupported, item: "\(path).pretokenizers",
                                     "only a single Metaspace pre-tokenizer is supported with byte_fallback BPE")
            }
            return try parts.first.flatMap { try parseMetaspace($0, path: "\(path).pretokenizers[0]") }
        case "Metaspace":
            guard let replacement = value["replacement"]?.stringValue, !replacement.isEmpty else {
                throw TokenizerError(.badValue, item: "\(path).replacement", "Metaspace needs a replacement character")
            }
            let scheme: SentencePieceSpacing.PrependScheme
            if let name = value["prepend_scheme"]?.stringValue {
                guard let s = SentencePieceSpacing.PrependScheme(rawValue: name) else {
                    throw TokenizerError(.badValue, item: "\(path).prepend_scheme", "unknown prepend scheme '\(name)'")
                }
                scheme = s
            } else {
                scheme = value["add_prefix_space"]?.boolValue ?? true ? .always : .never
            }
            return SentencePieceSpacing.Metaspace(replacement: Array(replacement.utf8), prependScheme: scheme,
                                                  split: value["split"]?.boolValue ?? true)
        case let other:
            throw TokenizerError(.unsupported, item: path,
                                 "pre-tokenizer '\(other ?? "?")' is not supported with byte_fallback BPE (only Metaspace)")
        }
    }

    private static func parsePreTokenizer(_ value: JSONValue?, path: String, steps: inout [PreTokenizer.Step],
                                          byteLevel: inout Bool) throws {
        guard let value, value != .null else { return }
        switch value["type"]?.stringValue {
        case "Sequence":
            for (i, part) in (value["pretokenizers"]?.arrayValue ?? []).enumerated() {
                try parsePreTokenizer(part, path: "\(path).pretokenizers[\(i)]", steps: &steps, byteLevel: &byteLevel)
            }
        case "ByteLevel":
            if value["add_prefix_space"]?.boolValue == true {
                throw TokenizerError(.unsupported, item: "\(path).add_prefix_space", "ByteLevel add_prefix_space is not supported")
            }
            byteLevel = true
            if value["use_regex"]?.boolValue ?? true { steps.append(PreTokenizer.Step(.gpt2)) }
        case "Digits":
            steps.append(PreTokenizer.Step(.numbers(individual: value["individual_digits"]?.boolValue ?? false)))
        case "Split":
            guard let regex = value["pattern"]?["Regex"]?.stringValue else {
                throw TokenizerError(.unsupported, item: "\(path).pattern", "only Regex split patterns are supported")
            }
            guard let pattern = SplitPattern(regex: regex) else {
                throw TokenizerError(.unsupported, item: "\(path).pattern.Regex",
                                     "split regex \(regex) is not one Lowbit implements")
            }
            let behaviorName = value["behavior"]?.stringValue ?? "Isolated"
            guard let behavior = SplitBehavior(rawValue: behaviorName) else {
                throw TokenizerError(.badValue, item: "\(path).behavior", "unknown split behavior '\(behaviorName)'")
            }
            steps.append(PreTokenizer.Step(pattern, behavior, invert: value["invert"]?.boolValue ?? false))
        case let other:
            throw TokenizerError(.unsupported, item: path, "pre-tokenizer '\(other ?? "?")' is not supported")
        }
    }

    private static func parsePostProcessor(_ value: JSONValue?, path: String, ids: [String: Int32],
                                           prefix: inout [Int32], suffix: inout [Int32]) throws {
        guard let value, value != .null else { return }
        switch value["type"]?.stringValue {
        case "ByteLevel": return
        case "Sequence":
            for (i, part) in (value["processors"]?.arrayValue ?? []).enumerated() {
                try parsePostProcessor(part, path: "\(path).processors[\(i)]", ids: ids, prefix: &prefix, suffix: &suffix)
            }
        case "TemplateProcessing":
            guard let single = value["single"]?.arrayValue else {
                throw TokenizerError(.missingField, item: "\(path).single", "template has no 'single' form")
            }
            var seenSequence = false
            for (i, item) in single.enumerated() {
                if item["Sequence"] != nil { seenSequence = true; continue }
                guard let name = item["SpecialToken"]?["id"]?.stringValue else {
                    throw TokenizerError(.badValue, item: "\(path).single[\(i)]", "is neither a Sequence nor a SpecialToken")
                }
                let listed = value["special_tokens"]?[name]?["ids"]?.arrayValue?.compactMap { $0.intValue.map(Int32.init) }
                guard let tokenIds = listed ?? ids[name].map({ [$0] }) else {
                    throw TokenizerError(.badValue, item: "\(path).special_tokens", "unknown special token '\(name)'")
                }
                if seenSequence { suffix += tokenIds } else { prefix += tokenIds }
            }
        case "RobertaProcessing", "BertProcessing":
            if let cls = value["cls"]?.arrayValue, cls.count == 2, let id = cls[1].intValue { prefix.append(Int32(id)) }
            if let sep = value["sep"]?.arrayValue, sep.count == 2, let id = sep[1].intValue { suffix.append(Int32(id)) }
        case let other:
            throw TokenizerError(.unsupported, item: path, "post-processor '\(other ?? "?")' is not supported")
        }
    }
}

extension Tokenizer {
    /// Builds a tokenizer from a Hugging Face `tokenizer.json` and, optionally, its
    /// `tokenizer_config.json` (special tokens, `add_bos_token`, `add_eos_token`).
    ///
    /// Byte-level BPE: `BPE` model (merges as "a b" or ["a", "b"], `ignore_merges`), `ByteLevel`,
    /// `Split` (the regexes of ``SplitPattern``), `Digits` and `Sequence` pre-tokenizers, `NFC`
    /// normalizer. SentencePiece-style BPE (Llama 2, Mistral, TinyLlama, CodeLlama): `BPE` model
    /// with `byte_fallback` (and `fuse_unk`), normalizer `Prepend` / `Replace` (literal) /
    /// `Sequence` or none, pre-tokenizer `Metaspace` (`prepend_scheme` or the older
    /// `add_prefix_space`, `split`) or none; symbols start as Unicode scalars, scalars outside the
    /// vocabulary become `<0xAB>` byte tokens. Both: added tokens (`special`, `lstrip`, `rstrip`;
    /// pass `parseSpecial: true` to ``encode(_:addSpecial:parseSpecial:)`` to match special ones as
    /// `tokenizers` does), `TemplateProcessing`.
    /// - Throws: ``TokenizerError`` naming the JSON field that is unsupported or malformed.
    public convenience init(tokenizerJSON: JSONValue, config: JSONValue? = nil) throws {
        try self.init(spec: try HFTokenizerJSON(tokenizerJSON, config: config).spec)
    }
}
