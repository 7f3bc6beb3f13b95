import Foundation
import LowbitFormats

/// The hyperparameters of a Llama-family model, read from a Hugging Face `config.json` or from
/// GGUF metadata, and written back to either: the one description the converter and the
/// evaluator share.
public struct LlamaHyperparameters: Sendable, Equatable {
    /// The Hugging Face architecture (`LlamaForCausalLM`, `MistralForCausalLM`).
    public var architecture: String
    /// Decoder layers (`num_hidden_layers`, `block_count`).
    public var layerCount: Int
    /// Trained context (`max_position_embeddings`, `context_length`).
    public var contextLength: Int
    /// Width of the residual stream (`hidden_size`, `embedding_length`).
    public var embeddingLength: Int
    /// Width of the feed-forward block (`intermediate_size`, `feed_forward_length`).
    public var feedForwardLength: Int
    /// Query heads.
    public var headCount: Int
    /// Key/value heads (grouped-query attention when fewer than the query heads).
    public var kvHeadCount: Int
    /// Values per head.
    public var headDimension: Int
    /// Dimensions of each head that rope rotates (`rope.dimension_count`; the whole head in
    /// Hugging Face Llama models).
    public var ropeDimension: Int
    /// Rope base (`rope_theta`, `rope.freq_base`).
    public var ropeTheta: Double
    /// RMSNorm epsilon.
    public var rmsNormEpsilon: Double
    /// Tokens in the vocabulary.
    public var vocabularySize: Int
    /// Whether the output head reuses the token embedding.
    public var tiedEmbeddings: Bool
    /// Llama 3.1 rope scaling (`rope_type: llama3`), if the model uses it.
    public var llama3RopeScaling: Llama3RopeScaling?
    /// Linear rope scaling factor, if the model uses it.
    public var linearRopeScaling: Double?
    /// Mistral's attention window (`sliding_window` in config.json): a query sees only the last
    /// this many positions, itself included. nil: full causal attention.
    public var slidingWindow: Int?
    /// Beginning-of-sequence token, if known.
    public var bosTokenId: Int?
    /// End-of-sequence token (the first, when config.json lists several), if known.
    public var eosTokenId: Int?

    /// Reads `config.json` (`file` names it in errors). An architecture other than
    /// ``Llama/huggingFaceArchitectures`` is an error that names it and lists the supported ones.
    public init(hfConfig config: JSONValue, file: String = "config.json") throws {
        let entry = try ArchitectureRegistry.entry(hfConfig: config, file: file)
        let arch = config["architectures"]?.arrayValue?.first?.stringValue
            ?? Llama.huggingFaceModelTypes[config["model_type"]?.stringValue ?? ""] ?? ""
        guard ObjectIdentifier(entry) == ObjectIdentifier(Llama.self), Llama.huggingFaceArchitectures.contains(arch) else {
            throw FormatError(.unsupportedModel, file: file, item: "architectures", "'\(arch)' is not a Llama-family model")
        }
        func int(_ key: String) throws -> Int {
            guard let v = config[key]?.intValue else {
                throw FormatError(.badMetadata, file: file, item: key, "the key is missing or not an integer")
            }
            return v
        }
        architecture = arch
        layerCount = try int("num_hidden_layers")
        embeddingLength = try int("hidden_size")
        feedForwardLength = try int("intermediate_size")
        headCount = try int("num_attention_heads")
        kvHeadCount = config["num_key_value_heads"]?.intValue ?? headCount
        guard headCount > 0, kvHeadCount > 0, headCount % kvHeadCount == 0 else {
            throw FormatError(.badMetadata, file: file, item: "num_key_value_heads",
                              "\(headCount) heads cannot share \(kvHeadCount) KV heads")
        }
        headDimension = config["head_dim"]?.intValue ?? embeddingLength / headCount
        ropeDimension = headDimension
        contextLength = config["max_position_embeddings"]?.intValue ?? 4096
        ropeTheta = config["rope_theta"]?.doubleValue ?? 10000
        rmsNormEpsilon = config["rms_norm_eps"]?.doubleValue ?? 1e-6
        vocabularySize = try int("vocab_size")
        tiedEmbeddings = config["tie_word_embeddings"]?.boolValue ?? false
        // transformers' Mistral honours `sliding_window` (null: none); its Llama ignores the key.
        if arch == "MistralForCausalLM", let window = config["sliding_window"]?.intValue {
            guard window > 0 else {
                throw FormatError(.badMetadata, file: file, item: "sliding_window", "the window is \(window), it must be positive")
            }
            slidingWindow = window
        }
        bosTokenId = config["bos_token_id"]?.intValue
        eosTokenId = config["eos_token_id"]?.intValue ?? config["eos_token_id"]?.arrayValue?.first?.intValue
        if let scaling = config["rope_scaling"], scaling != .null {
            let type = (scaling["rope_type"] ?? scaling["type"])?.stringValue ?? ""
            switch type {
            case "llama3":
                llama3RopeScaling = Llama3RopeScaling(
                    factor: scaling["factor"]?.doubleValue ?? 8,
                    lowFrequencyFactor: scaling["low_freq_factor"]?.doubleValue ?? 1,
                    highFrequencyFactor: scaling["high_freq_factor"]?.doubleValue ?? 4,
                    originalContextLength: scaling["original_max_position_embeddings"]?.intValue ?? 8192)
            case "linear":
                linearRopeScaling = scaling["factor"]?.doubleValue
            case "default", "":
                break
            default:
                throw FormatError(.unsupportedModel, file: file, item: "rope_scaling", "rope scaling '\(type)' is not supported")
            }
        }
    }

    /// Reads the `llama.*` keys of a GGUF file (`general.architecture` `llama`, which Mistral
    /// GGUFs use too; llama.cpp writes no sliding window for them). Llama 3.1 scaling lives in
    /// the `rope_freqs.weight` tensor, which readers take from the file itself.
    public init(gguf source: any TensorSource) throws {
        let file = source.path
        func value(_ key: String) -> MetadataValue? { source.metadataValue(key) }
        guard let arch = value("general.architecture")?.stringValue else {
            throw FormatError(.badMetadata, file: file, item: "general.architecture", "the key is missing")
        }
        guard arch == Llama.ggufArchitecture else {
            throw FormatError(.unsupportedModel, file: file, item: "general.architecture",
                              "architecture '\(arch)' is not a Llama-family model")
        }
        // Mixtral GGUFs are `llama` too, told apart by their experts.
        if let experts = value("llama.expert_count")?.intValue, experts > 0 {
            throw FormatError(.unsupportedModel, file: file, item: "llama.expert_count",
                              "Mixtral (MoE) is not supported yet (\(experts) experts per layer)")
        }
        func int(_ key: String) throws -> Int {
            guard let v = value("\(arch).\(key)")?.intValue else {
                throw FormatError(.badMetadata, file: file, item: "\(arch).\(key)", "the key is missing or not an integer")
            }
            return v
        }
        // GGUF stores these as float32: keep the short decimals they were written from.
        func shortest(_ key: String, _ fallback: Double) -> Double {
            guard let v = value("\(arch).\(key)")?.doubleValue else { return fallback }
            return Double("\(Float(v))") ?? v
        }
        architecture = "LlamaForCausalLM"
        layerCount = try int("block_count")
        contextLength = (try? int("context_length")) ?? 4096
        embeddingLength = try int("embedding_length")
        feedForwardLength = try int("feed_forward_length")
        headCount = try int("attention.head_count")
        kvHeadCount = (try? int("attention.head_count_kv")) ?? headCount
        guard headCount > 0, kvHeadCount > 0, headCount % kvHeadCount == 0 else {
            throw FormatError(.badMetadata, file: file, item: "\(arch).attention.head_count_kv",
                              "\(headCount) heads cannot share \(kvHeadCount) KV heads")
        }
        headDimension = (try? int("attention.key_length")) ?? embeddingLength / headCount
        ropeDimension = (try? int("rope.dimension_count")) ?? headDimension
        ropeTheta = shortest("rope.freq_base", 10000)
        rmsNormEpsilon = shortest("attention.layer_norm_rms_epsilon", 1e-5)
        let embedding = source.tensor(named: "token_embd.weight")
        vocabularySize = (try? int("vocab_size")) ?? value("tokenizer.ggml.tokens")?.arrayValue?.count ?? embedding?.rowCount ?? 0
        tiedEmbeddings = source.tensor(named: "output.weight") == nil
        bosTokenId = value("tokenizer.ggml.bos_token_id")?.intValue
        eosTokenId = value("tokenizer.ggml.eos_token_id")?.intValue
        if value("\(arch).rope.scaling.type")?.stringValue == "linear",
           let factor = value("\(arch).rope.scaling.factor")?.doubleValue, factor > 0, factor != 1 {
            linearRopeScaling = factor
        }
        llama3RopeScaling = nil
    }

    /// What llama.cpp's per-tensor type policy asks of the architecture.
    public var typePolicyFacts: TypePolicyFacts {
        TypePolicyFacts(layerCount: layerCount, queryHeadsPerKVHead: headCount / kvHeadCount, expertCount: 0)
    }

    /// The GGUF `llama.*` keys llama.cpp reads for this model.
    public func ggufMetadata() -> [(key: String, value: MetadataValue)] {
        var kv: [(key: String, value: MetadataValue)] = [
            ("llama.block_count", .uint32(UInt32(layerCount))),
            ("llama.context_length", .uint32(UInt32(contextLength))),
            ("llama.embedding_length", .uint32(UInt32(embeddingLength))),
            ("llama.feed_forward_length", .uint32(UInt32(feedForwardLength))),
            ("llama.attention.head_count", .uint32(UInt32(headCount))),
            ("llama.attention.head_count_kv", .uint32(UInt32(kvHeadCount))),
            ("llama.rope.freq_base", .float32(Float(ropeTheta))),
            ("llama.attention.layer_norm_rms_epsilon", .float32(Float(rmsNormEpsilon))),
            ("llama.vocab_size", .uint32(UInt32(vocabularySize))),
            ("llama.rope.dimension_count", .uint32(UInt32(ropeDimension))),
        ]
        if headDimension != embeddingLength / headCount {
            kv.append(("llama.attention.key_length", .uint32(UInt32(headDimension))))
            kv.append(("llama.attention.value_length", .uint32(UInt32(headDimension))))
        }
        if let factor = linearRopeScaling {
            kv.append(("llama.rope.scaling.type", .string("linear")))
            kv.append(("llama.rope.scaling.factor", .float32(Float(factor))))
        }
        return kv
    }

    /// A Hugging Face `config.json` for this model, in the given torch dtype name.
    public func hfConfig(torchDtype: String) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("architectures", .array([.string(architecture)])),
            ("model_type", .string(architecture == "MistralForCausalLM" ? "mistral" : "llama")),
            ("hidden_size", .integer(Int64(embeddingLength))),
            ("intermediate_size", .integer(Int64(feedForwardLength))),
            ("num_hidden_layers", .integer(Int64(layerCount))),
            ("num_attention_heads", .integer(Int64(headCount))),
            ("num_key_value_heads", .integer(Int64(kvHeadCount))),
            ("head_dim", .integer(Int64(headDimension))),
            ("max_position_embeddings", .integer(Int64(contextLength))),
            ("rms_norm_eps", .number(rmsNormEpsilon)),
            ("rope_theta", .number(ropeTheta)),
            ("vocab_size", .integer(Int64(vocabularySize))),
            ("tie_word_embeddings", .bool(tiedEmbeddings)),
            ("hidden_act", .string("silu")),
            ("attention_bias", .bool(false)),
            ("mlp_bias", .bool(false)),
            ("torch_dtype", .string(torchDtype)),
        ]
        if let bos = bosTokenId { members.append(("bos_token_id", .integer(Int64(bos)))) }
        if let eos = eosTokenId { members.append(("eos_token_id", .integer(Int64(eos)))) }
        if let s = llama3RopeScaling {
            members.append(("rope_scaling", .object([
                ("rope_type", .string("llama3")), ("factor", .number(s.factor)),
                ("low_freq_factor", .number(s.lowFrequencyFactor)),
                ("high_freq_factor", .number(s.highFrequencyFactor)),
                ("original_max_position_embeddings", .integer(Int64(s.originalContextLength))),
            ])))
        } else if let f = linearRopeScaling {
            members.append(("rope_scaling", .object([("rope_type", .string("linear")), ("factor", .number(f))])))
        } else {
            members.append(("rope_scaling", .null))
        }
        return .object(members)
    }
}
