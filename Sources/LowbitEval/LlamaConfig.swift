import Foundation
import LowbitFormats

/// The hyperparameters of a Llama-family model (Llama 2/3/3.1, Mistral, SmolLM2), read from GGUF
/// metadata or from a Hugging Face `config.json`.
public struct LlamaConfig: Sendable, Equatable {
    /// Which pairs of a head's elements rotary embedding turns together; it depends on the file
    /// the weights came from, because GGUF converters permute the rows of Q and K.
    public enum RopeLayout: String, Sendable {
        /// GGUF (llama.cpp's "normal" rope): pairs `(x[2i], x[2i+1])`.
        case interleaved
        /// Hugging Face: pairs `(x[i], x[i + d/2])`.
        case halfSplit
    }

    public var vocabSize: Int
    /// The width of the residual stream (`hidden_size`, `embedding_length`).
    public var embeddingLength: Int
    public var feedForwardLength: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    /// How many elements of each head are rotated (usually `headDim`).
    public var ropeDim: Int
    public var ropeTheta: Double
    public var rmsEpsilon: Float
    public var ropeLayout: RopeLayout
    /// Per rotated pair, the divisor of its frequency (Llama 3.1 rope scaling, linear scaling);
    /// nil when every divisor is 1.
    public var ropeFrequencyDivisors: [Float]?

    public init(vocabSize: Int, embeddingLength: Int, feedForwardLength: Int, layerCount: Int,
                headCount: Int, kvHeadCount: Int, headDim: Int, ropeDim: Int, ropeTheta: Double,
                rmsEpsilon: Float, ropeLayout: RopeLayout, ropeFrequencyDivisors: [Float]? = nil) {
        self.vocabSize = vocabSize
        self.embeddingLength = embeddingLength
        self.feedForwardLength = feedForwardLength
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.ropeDim = ropeDim
        self.ropeTheta = ropeTheta
        self.rmsEpsilon = rmsEpsilon
        self.ropeLayout = ropeLayout
        self.ropeFrequencyDivisors = ropeFrequencyDivisors
    }

    /// Checks that the numbers fit together (heads divide, rope fits in a head).
    public func validate(file: String) throws {
        func fail(_ reason: String) -> EvalError { EvalError(.badConfig, file: file, reason) }
        for (name, v) in [("vocabulary size", vocabSize), ("embedding length", embeddingLength),
                          ("feed-forward length", feedForwardLength), ("layer count", layerCount),
                          ("head count", headCount), ("KV head count", kvHeadCount), ("head size", headDim)]
        where v <= 0 {
            throw fail("the \(name) is \(v), it must be positive")
        }
        guard headCount % kvHeadCount == 0 else {
            throw fail("\(headCount) attention heads do not divide into \(kvHeadCount) KV heads")
        }
        guard ropeDim > 0, ropeDim <= headDim, ropeDim % 2 == 0 else {
            throw fail("the rotary dimension \(ropeDim) must be even and at most the head size \(headDim)")
        }
        if let d = ropeFrequencyDivisors, d.count != ropeDim / 2 {
            throw fail("\(d.count) rope frequency factors, expected \(ropeDim / 2)")
        }
        guard rmsEpsilon > 0, ropeTheta > 0 else { throw fail("RMS epsilon and rope base must be positive") }
    }

    // MARK: GGUF

    /// Reads the hyperparameters of a GGUF model (`general.architecture` = `llama`; Mistral
    /// GGUFs use it too). `rope_freqs.weight`, when present, supplies the Llama 3.1 factors.
    public init(gguf source: any TensorSource) throws {
        let file = source.path
        guard let arch = source.metadataValue("general.architecture")?.stringValue else {
            throw EvalError(.unsupportedModel, file: file, item: "general.architecture", "the key is missing")
        }
        guard ["llama", "mistral"].contains(arch) else {
            throw EvalError(.unsupportedModel, file: file, item: "general.architecture",
                            "architecture '\(arch)' is not a Llama-family model Lowbit can evaluate")
        }
        func int(_ key: String) throws -> Int {
            guard let v = source.metadataValue("\(arch).\(key)")?.intValue else {
                throw EvalError(.badConfig, file: file, item: "\(arch).\(key)", "the key is missing or not an integer")
            }
            return v
        }
        func optionalDouble(_ key: String) -> Double? { source.metadataValue("\(arch).\(key)")?.doubleValue }

        let embedding = try int("embedding_length")
        let heads = try int("attention.head_count")
        let kvHeads = source.metadataValue("\(arch).attention.head_count_kv")?.intValue ?? heads
        let headDim = source.metadataValue("\(arch).attention.key_length")?.intValue ?? embedding / max(1, heads)
        guard let embd = source.tensor(named: "token_embd.weight") else {
            throw EvalError(.missingTensor, file: file, item: "token_embd.weight", "the model has no token embeddings")
        }
        let vocab = source.metadataValue("\(arch).vocab_size")?.intValue ?? embd.rowCount

        var divisors: [Float]? = nil
        if let freqs = source.tensor(named: "rope_freqs.weight") {
            guard freqs.type.floatFormat == .f32 else {
                throw EvalError(.badShape, file: file, item: freqs.name, "expected F32, found \(freqs.type)")
            }
            divisors = try source.withBytes(of: freqs) { bytes in
                var out = [Float](repeating: 0, count: bytes.count / 4)
                out.withUnsafeMutableBufferPointer { dst in
                    if let base = bytes.baseAddress, let d = dst.baseAddress {
                        FloatFormat.f32.decode(base, into: d, count: dst.count)
                    }
                }
                return out
            }
        }
        if source.metadataValue("\(arch).rope.scaling.type")?.stringValue == "linear",
           let factor = optionalDouble("rope.scaling.factor"), factor > 0, factor != 1 {
            let ropeDim = source.metadataValue("\(arch).rope.dimension_count")?.intValue ?? headDim
            divisors = (divisors ?? [Float](repeating: 1, count: ropeDim / 2)).map { $0 * Float(factor) }
        }

        self.init(vocabSize: vocab, embeddingLength: embedding,
                  feedForwardLength: try int("feed_forward_length"), layerCount: try int("block_count"),
                  headCount: heads, kvHeadCount: kvHeads, headDim: headDim,
                  ropeDim: source.metadataValue("\(arch).rope.dimension_count")?.intValue ?? headDim,
                  ropeTheta: optionalDouble("rope.freq_base") ?? 10000,
                  rmsEpsilon: Float(optionalDouble("attention.layer_norm_rms_epsilon") ?? 1e-5),
                  ropeLayout: .interleaved, ropeFrequencyDivisors: divisors)
        try validate(file: file)
    }

    // MARK: Hugging Face

    /// Reads a Hugging Face `config.json` (model_type `llama` or `mistral`), including
    /// `rope_scaling` of type `llama3` (Llama 3.1) and `linear`.
    public init(huggingFace config: JSONValue, file: String) throws {
        let modelType = config["model_type"]?.stringValue ?? ""
        guard ["llama", "mistral"].contains(modelType) else {
            throw EvalError(.unsupportedModel, file: file, item: "model_type",
                            "model type '\(modelType)' is not a Llama-family model Lowbit can evaluate")
        }
        func int(_ key: String) throws -> Int {
            guard let v = config[key]?.intValue else {
                throw EvalError(.badConfig, file: file, item: key, "the key is missing or not an integer")
            }
            return v
        }
        let hidden = try int("hidden_size")
        let heads = try int("num_attention_heads")
        let kvHeads = config["num_key_value_heads"]?.intValue ?? heads
        let headDim = config["head_dim"]?.intValue ?? hidden / max(1, heads)
        let theta = config["rope_theta"]?.doubleValue ?? 10000

        var divisors: [Float]? = nil
        if let scaling = config["rope_scaling"], scaling != .null {
            let kind = scaling["rope_type"]?.stringValue ?? scaling["type"]?.stringValue ?? ""
            let factor = scaling["factor"]?.doubleValue ?? 1
            switch kind {
            case "llama3":
                divisors = LlamaConfig.llama3Divisors(
                    headDim: headDim, theta: theta, factor: factor,
                    lowFrequencyFactor: scaling["low_freq_factor"]?.doubleValue ?? 1,
                    highFrequencyFactor: scaling["high_freq_factor"]?.doubleValue ?? 4,
                    originalContext: scaling["original_max_position_embeddings"]?.doubleValue ?? 8192)
            case "linear":
                divisors = [Float](repeating: Float(factor), count: headDim / 2)
            case "default", "":
                break
            default:
                throw EvalError(.unsupportedModel, file: file, item: "rope_scaling",
                                "rope scaling '\(kind)' is not supported")
            }
        }
        self.init(vocabSize: try int("vocab_size"), embeddingLength: hidden,
                  feedForwardLength: try int("intermediate_size"), layerCount: try int("num_hidden_layers"),
                  headCount: heads, kvHeadCount: kvHeads, headDim: headDim, ropeDim: headDim,
                  ropeTheta: theta, rmsEpsilon: Float(config["rms_norm_eps"]?.doubleValue ?? 1e-6),
                  ropeLayout: .halfSplit, ropeFrequencyDivisors: divisors)
        try validate(file: file)
    }

    /// The frequency divisors of Llama 3.1's rope scaling: long wavelengths are slowed by
    /// `factor`, short ones kept, and those between blended smoothly.
    public static func llama3Divisors(headDim: Int, theta: Double, factor: Double, lowFrequencyFactor: Double,
                                      highFrequencyFactor: Double, originalContext: Double) -> [Float] {
        Llama3RopeScaling(factor: factor, lowFrequencyFactor: lowFrequencyFactor,
                          highFrequencyFactor: highFrequencyFactor, originalContextLength: Int(originalContext))
            .frequencyFactors(headDimension: headDim, ropeTheta: theta)
    }
}
