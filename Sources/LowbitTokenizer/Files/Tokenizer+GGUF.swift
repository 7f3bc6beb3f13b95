import LowbitFormats

extension Tokenizer {
    /// Builds the tokenizer stored in a GGUF file's metadata (`tokenizer.ggml.*`), with
    /// llama.cpp's defaults where a key is absent.
    ///
    /// - Throws: ``TokenizerError`` naming the key that is missing or unsupported (a model other
    ///   than `gpt2` or `llama`, an unknown `tokenizer.ggml.pre`).
    public convenience init(ggufMetadata: [(key: String, value: MetadataValue)]) throws {
        try self.init(spec: try VocabularySpec(gguf: GGUFTokenizerKeys(ggufMetadata)))
    }
}

/// Typed access to the `tokenizer.ggml.*` keys.
struct GGUFTokenizerKeys {
    private var values: [String: MetadataValue] = [:]

    init(_ metadata: [(key: String, value: MetadataValue)]) {
        for (key, value) in metadata where key.hasPrefix("tokenizer.") { values[key] = value }
    }

    func value(_ key: String) -> MetadataValue? { values[key] }

    func string(_ key: String) throws -> String? {
        guard let v = values[key] else { return nil }
        guard let s = v.stringValue else { throw TokenizerError(.badValue, item: key, "is not a string") }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = values[key] else { return nil }
        guard let b = v.boolValue else { throw TokenizerError(.badValue, item: key, "is not a boolean") }
        return b
    }

    func id(_ key: String) throws -> Int32? {
        guard let v = values[key] else { return nil }
        guard let i = v.intValue, let id = Int32(exactly: i) else {
            throw TokenizerError(.badValue, item: key, "is not a token id")
        }
        return id
    }

    func strings(_ key: String) throws -> [String]? {
        guard let v = values[key] else { return nil }
        guard let array = v.arrayValue else { throw TokenizerError(.badValue, item: key, "is not an array") }
        return try array.enumerated().map { i, element in
            guard let s = element.stringValue else {
                throw TokenizerError(.badValue, item: "\(key)[\(i)]", "is not a string")
            }
            return s
        }
    }

    func numbers(_ key: String) throws -> [Double]? {
        guard let v = values[key] else { return nil }
        guard let array = v.arrayValue else { throw TokenizerError(.badValue, item: key, "is not an array") }
        return try array.enumerated().map { i, element in
            guard let d = element.doubleValue else {
                throw TokenizerError(.badValue, item: "\(key)[\(i)]", "is not a number")
            }
            return d
        }
    }
}

extension VocabularySpec {
    init(gguf keys: GGUFTokenizerKeys) throws {
        guard let modelName = try keys.string("tokenizer.ggml.model") else {
            throw TokenizerError(.missingField, item: "tokenizer.ggml.model", "the file has no tokenizer")
        }
        guard var tokens = try keys.strings("tokenizer.ggml.tokens") else {
            throw TokenizerError(.missingField, item: "tokenizer.ggml.tokens", "the vocabulary is missing")
        }
        // llama.cpp reads token texts as C strings: a NUL ends the text.
        for i in tokens.indices where tokens[i].utf8.contains(0) {
            tokens[i] = String(decoding: tokens[i].utf8.prefix { $0 != 0 }, as: UTF8.self)
        }
        var types = [TokenType](repeating: .normal, count: tokens.count)
        if let raw = try keys.numbers("tokenizer.ggml.token_type") {
            guard raw.count == tokens.count else {
                throw TokenizerError(.badValue, item: "tokenizer.ggml.token_type",
                                     "has \(raw.count) entries for \(tokens.count) tokens")
            }
            for (i, t) in raw.enumerated() {
                guard let type = TokenType(rawValue: Int32(exactly: t) ?? 0) else {
                    throw TokenizerError(.badValue, item: "tokenizer.ggml.token_type[\(i)]", "unknown token type \(t)")
                }
                types[i] = type
            }
        }
        var addBOS: Bool
        var addEOS = false
        switch modelName {
        case "gpt2":
            self.init(kind: .byteLevelBPE, tokens: tokens, types: types)
            guard let merges = try keys.strings("tokenizer.ggml.merges") else {
                throw TokenizerError(.missingField, item: "tokenizer.ggml.merges", "a BPE vocabulary needs merges")
            }
            self.merges = try merges.enumerated().map { i, merge in
                guard let space = merge.utf8.firstIndex(of: 0x20, after: 1) else {
                    throw TokenizerError(.badValue, item: "tokenizer.ggml.merges[\(i)]", "'\(merge)' is not two tokens")
                }
                return (String(merge[..<space]), String(merge[merge.index(after: space)...]))
            }
            let pre = try keys.string("tokenizer.ggml.pre") ?? ""
            let entry = try PreTokenizerTable.entry(named: pre)
            preTokenizerName = pre.isEmpty ? "default" : pre
            preTokenizer = entry.preTokenizer
            ignoreMerges = entry.ignoreMerges
            addBOS = entry.addsBOSByDefault
            // llama.cpp's defaults for BPE vocabularies.
            bos = 11
            eos = 11
            addSpacePrefix = false
        case "llama":
            self.init(kind: .sentencePiece, tokens: tokens, types: types)
            guard let scores = try keys.numbers("tokenizer.ggml.scores") else {
                throw TokenizerError(.missingField, item: "tokenizer.ggml.scores", "a SentencePiece vocabulary needs scores")
            }
            self.scores = scores.map { Float($0) }
            bos = 1
            eos = 2
            unknown = 0
            addBOS = true
            addSpacePrefix = try keys.bool("tokenizer.ggml.add_space_prefix") ?? true
        default:
            throw TokenizerError(.unsupported, item: "tokenizer.ggml.model",
                                 "tokenizer model '\(modelName)' is not supported (only 'gpt2' byte-level BPE and 'llama' SentencePiece)")
        }
        for (key, path) in [("tokenizer.ggml.bos_token_id", \VocabularySpec.bos),
                            ("tokenizer.ggml.eos_token_id", \VocabularySpec.eos),
                            ("tokenizer.ggml.unknown_token_id", \VocabularySpec.unknown),
                            ("tokenizer.ggml.padding_token_id", \VocabularySpec.padding)] {
            if let id = try keys.id(key) { self[keyPath: path] = id }
        }
        // Ids outside the vocabulary are ignored by llama.cpp (treated as unset).
        for path in [\VocabularySpec.bos, \.eos, \.unknown, \.padding] {
            if let id = self[keyPath: path], id < 0 || Int(id) >= tokens.count { self[keyPath: path] = nil }
        }
        addBOS = try keys.bool("tokenizer.ggml.add_bos_token") ?? addBOS
        addEOS = try keys.bool("tokenizer.ggml.add_eos_token") ?? addEOS
        if addBOS, let bos { prefixIds = [bos] }
        if addEOS, let eos { suffixIds = [eos] }
    }
}

extension String.UTF8View {
    /// The first index of `byte` at or after offset `from`.
    fileprivate func firstIndex(of byte: UInt8, after from: Int) -> String.Index? {
        var i = index(startIndex, offsetBy: from, limitedBy: endIndex) ?? endIndex
        while i < endIndex {
            if self[i] == byte { return i }
            i = index(after: i)
        }
        return nil
    }
}
