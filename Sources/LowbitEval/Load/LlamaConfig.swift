import Foundation
import LowbitFormats
import LowbitModels

/// The shapes and forward-pass description of a decoder the evaluator runs, read through
/// ``LowbitModels/ArchitectureRegistry`` from GGUF metadata or a Hugging Face `config.json`.
public struct LlamaConfig: Sendable, Equatable {
    /// Which pairs of a head's elements rotary embedding turns together.
    public typealias RopeLayout = ForwardPassDescription.RopeLayout

    /// Tokens in the vocabulary (rows of the embedding and the output head).
    public var vocabSize: Int
    /// The width of the residual stream (`hidden_size`, `embedding_length`).
    public var embeddingLength: Int
    /// The width of the feed-forward block (`intermediate_size`).
    public var feedForwardLength: Int
    /// Decoder layers.
    public var layerCount: Int
    /// Query heads.
    public var headCount: Int
    /// Key/value heads (fewer than ``headCount`` with grouped-query attention).
    public var kvHeadCount: Int
    /// Elements per head.
    public var headDim: Int
    /// How many elements of each head are rotated (usually `headDim`).
    public var ropeDim: Int
    /// The base of the rotary frequencies.
    public var ropeTheta: Double
    /// What the forward pass is made of: norm, rope layout, biases, activation, attention mask.
    public var forwardPass: ForwardPassDescription
    /// Per rotated pair, the divisor of its frequency (Llama 3.1 rope scaling, linear scaling);
    /// nil when every divisor is 1.
    public var ropeFrequencyDivisors: [Float]?
    /// The architecture's tensor names (the Llama family's unless the registry says otherwise).
    public var tensorNames: TensorNameTable = Llama.tensorNames

    /// A configuration from its parts: an RMS norm with `rmsEpsilon`, and causal attention, or
    /// a sliding window of `slidingWindow` tokens when given.
    public init(vocabSize: Int, embeddingLength: Int, feedForwardLength: Int, layerCount: Int,
                headCount: Int, kvHeadCount: Int, headDim: Int, ropeDim: Int, ropeTheta: Double,
                rmsEpsilon: Float, ropeLayout: RopeLayout, ropeFrequencyDivisors: [Float]? = nil,
                slidingWindow: Int? = nil) {
        self.vocabSize = vocabSize
        self.embeddingLength = embeddingLength
        self.feedForwardLength = feedForwardLength
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.ropeDim = ropeDim
        self.ropeTheta = ropeTheta
        self.forwardPass = ForwardPassDescription(
            norm: .rms(epsilon: Double(rmsEpsilon)), ropeLayout: ropeLayout,
            attention: slidingWindow.map { .slidingWindow($0) } ?? .causal)
        self.ropeFrequencyDivisors = ropeFrequencyDivisors
    }

    /// The RMSNorm epsilon of ``forwardPass``.
    public var rmsEpsilon: Float {
        get { switch forwardPass.norm { case .rms(let epsilon): Float(epsilon) } }
        set { forwardPass.norm = .rms(epsilon: Double(newValue)) }
    }

    /// The rotary pair layout of ``forwardPass``.
    public var ropeLayout: RopeLayout {
        get { forwardPass.ropeLayout }
        set { forwardPass.ropeLayout = newValue }
    }

    /// The attention window of ``forwardPass`` (nil: full causal attention).
    public var slidingWindow: Int? { forwardPass.slidingWindow }

    /// A line for standard error when the sliding window changes what a chunk of
    /// `contextLength` tokens sees (the window is shorter than the chunk); nil otherwise.
    public func slidingWindowNote(contextLength: Int) -> String? {
        guard let w = slidingWindow, w < contextLength else { return nil }
        return "note: sliding-window attention (config.json sliding_window \(w)): each token sees only the last \(w) "
            + "positions of a \(contextLength)-token chunk; llama.cpp runs this model's GGUF with full attention\n"
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
        // Far beyond any real model, and small enough that no product of two sizes overflows:
        // a lying header is refused here rather than by a failed allocation.
        for (name, v, limit) in [("vocabulary size", vocabSize, 1 << 24), ("embedding length", embeddingLength, 1 << 20),
                                 ("feed-forward length", feedForwardLength, 1 << 22), ("layer count", layerCount, 1 << 12),
                                 ("head count", headCount, 1 << 12), ("KV head count", kvHeadCount, 1 << 12),
                                 ("head size", headDim, 1 << 12)]
        where v > limit {
            throw fail("the \(name) is \(v), more than Lowbit evaluates (\(limit))")
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
        if let w = slidingWindow, w <= 0 { throw fail("the sliding window is \(w), it must be positive") }
        // Blocks the description may ask for that the evaluator does not have yet.
        guard forwardPass.biases == .none else { throw fail("attention biases are not supported yet") }
        guard !forwardPass.queryKeyNorm else { throw fail("query/key norms are not supported yet") }
    }

    // MARK: GGUF

    /// Reads the hyperparameters of a GGUF model with its registry entry. `rope_freqs.weight`,
    /// when present, supplies the Llama 3.1 factors.
    public init(gguf source: any TensorSource) throws {
        let file = source.path
        let entry = try ArchitectureRegistry.entry(gguf: source)
        let h = try entry.hyperparameters(gguf: source)
        guard source.tensor(named: "token_embd.weight") != nil else {
            throw EvalError(.missingTensor, file: file, item: "token_embd.weight", "the model has no token embeddings")
        }
        var divisors: [Float]? = nil
        if let freqs = source.tensor(named: "rope_freqs.weight") {
            guard freqs.type.floatFormat == .f32 else {
                throw EvalError(.badShape, file: file, item: freqs.name, "expected F32, found \(freqs.type)")
            }
            divisors = try source.withBytes(of: freqs) { FloatFormat.f32.decode($0) }
        }
        if let factor = h.linearRopeScaling {
            divisors = (divisors ?? [Float](repeating: 1, count: h.ropeDimension / 2)).map { $0 * Float(factor) }
        }
        self.init(h, entry.forwardPass(h, ropeLayout: .interleaved), divisors: divisors)
        tensorNames = entry.tensorNames
        try validate(file: file)
    }

    // MARK: Hugging Face

    /// Reads a Hugging Face `config.json` with its registry entry (Llama or Mistral), including
    /// `rope_scaling` of type `llama3` (Llama 3.1) and `linear`, and Mistral's `sliding_window`.
    public init(huggingFace config: JSONValue, file: String) throws {
        let entry = try ArchitectureRegistry.entry(hfConfig: config, file: file)
        let h = try entry.hyperparameters(hfConfig: config, file: file)
        var divisors: [Float]? = nil
        if let scaling = h.llama3RopeScaling {
            divisors = scaling.frequencyFactors(headDimension: h.headDimension, ropeTheta: h.ropeTheta)
        } else if let factor = h.linearRopeScaling {
            divisors = [Float](repeating: Float(factor), count: h.headDimension / 2)
        }
        self.init(h, entry.forwardPass(h, ropeLayout: .halfSplit), divisors: divisors)
        tensorNames = entry.tensorNames
        try validate(file: file)
    }

    private init(_ h: LlamaHyperparameters, _ forwardPass: ForwardPassDescription, divisors: [Float]?) {
        self.init(vocabSize: h.vocabularySize, embeddingLength: h.embeddingLength,
                  feedForwardLength: h.feedForwardLength, layerCount: h.layerCount,
                  headCount: h.headCount, kvHeadCount: h.kvHeadCount, headDim: h.headDimension,
                  ropeDim: h.ropeDimension, ropeTheta: h.ropeTheta, rmsEpsilon: Float(h.rmsNormEpsilon),
                  ropeLayout: forwardPass.ropeLayout, ropeFrequencyDivisors: divisors)
        self.forwardPass = forwardPass
    }

    /// The frequency divisors of Llama 3.1's rope scaling: long wavelengths are slowed by
    /// `factor`, short ones kept, and those between blended smoothly.
    package static func llama3Divisors(headDim: Int, theta: Double, factor: Double, lowFrequencyFactor: Double,
                                      highFrequencyFactor: Double, originalContext: Double) -> [Float] {
        Llama3RopeScaling(factor: factor, lowFrequencyFactor: lowFrequencyFactor,
                          highFrequencyFactor: highFrequencyFactor, originalContextLength: Int(originalContext))
            .frequencyFactors(headDimension: headDim, ropeTheta: theta)
    }
}
