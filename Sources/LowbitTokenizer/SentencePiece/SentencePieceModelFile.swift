import LowbitFormats

/// The parts of a SentencePiece `tokenizer.model` (a `ModelProto` protobuf) that GGUF needs:
/// pieces with scores and types, the special ids, and whether a dummy space is prepended.
struct SentencePieceModelFile {
    var pieces: [String] = []
    var scores: [Float] = []
    var types: [TokenType] = []
    var unknownId: Int32 = 0
    var bosId: Int32 = 1
    var eosId: Int32 = 2
    var padId: Int32 = -1
    var addDummyPrefix = true

    /// Field numbers of sentencepiece_model.proto.
    private enum Field {
        static let pieces = 1, trainerSpec = 2, normalizerSpec = 3
        static let piece = 1, score = 2, type = 3
        static let unkId = 40, bosId = 41, eosId = 42, padId = 43
        static let addDummyPrefix = 3
    }

    init(_ bytes: [UInt8]) throws {
        var reader = ProtobufReader(bytes[...])
        while let (field, value) = try reader.next() {
            switch (field, value) {
            case (Field.pieces, .bytes(let message)):
                var piece: String? = nil
                var score: Float = 0
                var type = TokenType.normal
                var inner = ProtobufReader(message)
                while let (f, v) = try inner.next() {
                    switch (f, v) {
                    case (Field.piece, .bytes(let text)): piece = String(decoding: text, as: UTF8.self)
                    case (Field.score, .fixed32(let bits)): score = Float(bitPattern: bits)
                    case (Field.type, .varint(let raw)):
                        guard let t = TokenType(rawValue: Int32(truncatingIfNeeded: raw)) else {
                            throw Self.error("piece \(pieces.count) has unknown type \(raw)")
                        }
                        type = t
                    default: break
                    }
                }
                guard let piece else { throw Self.error("piece \(pieces.count) has no text") }
                pieces.append(piece)
                scores.append(score)
                types.append(type)
            case (Field.trainerSpec, .bytes(let message)):
                var inner = ProtobufReader(message)
                while let (f, v) = try inner.next() {
                    guard case .varint(let raw) = v else { continue }
                    let value = Int32(truncatingIfNeeded: raw)
                    switch f {
                    case Field.unkId: unknownId = value
                    case Field.bosId: bosId = value
                    case Field.eosId: eosId = value
                    case Field.padId: padId = value
                    default: break
                    }
                }
            case (Field.normalizerSpec, .bytes(let message)):
                var inner = ProtobufReader(message)
                while let (f, v) = try inner.next() {
                    if f == Field.addDummyPrefix, case .varint(let raw) = v { addDummyPrefix = raw != 0 }
                }
            default:
                break
            }
        }
        guard !pieces.isEmpty else { throw Self.error("the model has no pieces") }
    }

    static func error(_ reason: String) -> TokenizerError {
        TokenizerError(.badValue, item: "tokenizer.model", reason)
    }
}

/// A minimal protobuf wire-format reader (varint, fixed32/64, length-delimited).
struct ProtobufReader {
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case fixed32(UInt32)
        case bytes(ArraySlice<UInt8>)
    }

    private var data: ArraySlice<UInt8>

    init(_ data: ArraySlice<UInt8>) { self.data = data }

    private mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = data.popFirst() {
            guard shift < 64 else { break }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        throw SentencePieceModelFile.error("truncated or overlong varint")
    }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= data.count else { throw SentencePieceModelFile.error("field runs past the end of the file") }
        let slice = data.prefix(n)
        data = data.dropFirst(n)
        return slice
    }

    /// The next field number and value, or nil at the end.
    mutating func next() throws -> (Int, Value)? {
        guard !data.isEmpty else { return nil }
        let key = try varint()
        let field = Int(key >> 3)
        switch key & 7 {
        case 0: return (field, .varint(try varint()))
        case 1: return (field, .fixed64(try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) }))
        case 2:
            let length = try varint()
            guard length <= UInt64(data.count) else { throw SentencePieceModelFile.error("field runs past the end of the file") }
            return (field, .bytes(try take(Int(length))))
        case 5: return (field, .fixed32(UInt32(truncatingIfNeeded: try take(4).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })))
        default: throw SentencePieceModelFile.error("unsupported protobuf wire type \(key & 7)")
        }
    }
}

extension TokenizerExport {
    /// From a SentencePiece `tokenizer.model` (Llama 2, Mistral) and tokenizer_config.json, as
    /// llama.cpp's converter writes it: `tokenizer.ggml.model = llama`, pieces with scores and
    /// types, special ids from the model (overridden by the config's tokens), BOS added unless the
    /// config says `add_bos_token: false`.
    public init(sentencePieceModel bytes: [UInt8], config: JSONValue?, vocabularySize: Int? = nil) throws {
        let file = try SentencePieceModelFile(bytes)
        model = "llama"
        preTokenizer = ""
        tokens = file.pieces
        tokenTypes = file.types
        scores = file.scores
        if let size = vocabularySize {
            guard size >= tokens.count else {
                throw TokenizerError(.badValue, item: "vocab_size", "is \(size) but the tokenizer has \(tokens.count) tokens")
            }
            for i in tokens.count..<size {
                tokens.append("[PAD\(i)]")
                tokenTypes.append(.unused)
                scores.append(-1000)
            }
        }
        merges = []
        let names = tokens
        func valid(_ id: Int32) -> Int32? { id >= 0 && Int(id) < names.count ? id : nil }
        func configToken(_ key: String) -> Int32? {
            guard let value = config?[key] else { return nil }
            guard let text = value.stringValue ?? value["content"]?.stringValue else { return nil }
            return names.firstIndex(of: text).map { Int32($0) }
        }
        bosTokenId = configToken("bos_token") ?? valid(file.bosId)
        eosTokenId = configToken("eos_token") ?? valid(file.eosId)
        unknownTokenId = configToken("unk_token") ?? valid(file.unknownId)
        paddingTokenId = configToken("pad_token") ?? valid(file.padId)
        addBOS = config?["add_bos_token"]?.boolValue ?? true
        addEOS = config?["add_eos_token"]?.boolValue ?? false
        addSpacePrefix = file.addDummyPrefix
        chatTemplate = HFTokenizerJSON.chatTemplate(config)
    }
}
