/// What a decoder's forward pass is made of, as data: the evaluator builds its model from this
/// instead of hard-coding one family. A new family is a new description, plus any block the
/// evaluator does not have yet.
public struct ForwardPassDescription: Sendable, Equatable {
    /// The normalisation before attention, before the feed-forward block and before the head.
    public enum Norm: Sendable, Equatable {
        /// RMSNorm with a learned scale: `x / sqrt(mean(x²) + epsilon) * w`.
        case rms(epsilon: Double)
    }

    /// Which pairs of a head's elements rotary embedding turns together. It depends on the file
    /// the weights came from, because GGUF converters permute the rows of Q and K.
    public enum RopeLayout: String, Sendable {
        /// GGUF (llama.cpp's "normal" rope): pairs `(x[2i], x[2i+1])`.
        case interleaved
        /// Hugging Face: pairs `(x[i], x[i + d/2])`.
        case halfSplit
    }

    /// How rope frequencies are stretched for long contexts.
    public enum RopeScaling: Sendable, Equatable {
        /// Frequencies `theta^(-2i/d)` as they are.
        case none
        /// Every frequency divided by `factor`.
        case linear(factor: Double)
        /// Llama 3.1's frequency-dependent scaling.
        case llama3(Llama3RopeScaling)
        /// Per-pair divisors read from the file (GGUF's `rope_freqs.weight`).
        case fromFile
    }

    /// The non-linearity of the feed-forward block.
    public enum Activation: String, Sendable {
        /// SwiGLU: `down(silu(gate(x)) * up(x))`.
        case swiGLU
    }

    /// Which keys a query attends to.
    public enum AttentionVariant: Sendable, Equatable {
        /// Every earlier position and itself.
        case causal
        /// Only the last `window` positions up to itself: a query at position i attends to the
        /// keys j with `i - window < j <= i` (Mistral's `sliding_window`, as transformers applies it).
        case slidingWindow(Int)
    }

    /// Which linear layers of attention carry an additive bias.
    public struct AttentionBiases: Sendable, Equatable {
        /// Biases on the query, key and value projections (Qwen2).
        public var queryKeyValue: Bool
        /// A bias on the output projection.
        public var output: Bool

        /// Biases on the given projections.
        public init(queryKeyValue: Bool = false, output: Bool = false) {
            self.queryKeyValue = queryKeyValue
            self.output = output
        }

        /// No biases anywhere (Llama, Mistral).
        public static let none = AttentionBiases()
    }

    /// The normalisation used throughout.
    public var norm: Norm
    /// The rotary pair layout of the weights as stored.
    public var ropeLayout: RopeLayout
    /// The rope frequency scaling.
    public var ropeScaling: RopeScaling
    /// Additive biases of attention's projections.
    public var biases: AttentionBiases
    /// Whether queries and keys are normalised per head before rope (Qwen3, OLMo 2).
    public var queryKeyNorm: Bool
    /// The feed-forward non-linearity.
    public var activation: Activation
    /// The attention mask.
    public var attention: AttentionVariant
    /// Whether the output head reuses the token embedding.
    public var tiedEmbeddings: Bool

    /// A description from its parts.
    public init(norm: Norm, ropeLayout: RopeLayout, ropeScaling: RopeScaling = .none,
                biases: AttentionBiases = .none, queryKeyNorm: Bool = false, activation: Activation = .swiGLU,
                attention: AttentionVariant = .causal, tiedEmbeddings: Bool = false) {
        self.norm = norm
        self.ropeLayout = ropeLayout
        self.ropeScaling = ropeScaling
        self.biases = biases
        self.queryKeyNorm = queryKeyNorm
        self.activation = activation
        self.attention = attention
        self.tiedEmbeddings = tiedEmbeddings
    }

    /// The sliding window, if attention has one.
    public var slidingWindow: Int? {
        if case .slidingWindow(let w) = attention { return w }
        return nil
    }
}
