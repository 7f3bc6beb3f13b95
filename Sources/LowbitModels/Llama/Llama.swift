import LowbitFormats

/// The Llama family: `LlamaForCausalLM` (Llama 2, 3, 3.1, SmolLM2) and `MistralForCausalLM`,
/// which llama.cpp writes as GGUF architecture `llama`.
///
/// The parts live beside this file: ``LlamaHyperparameters`` (config.json and GGUF keys, both
/// ways), ``tensorNames`` (tensor names, both ways), ``RotaryPermutation`` (the Q/K row
/// order) and ``Llama3RopeScaling``.
public enum Llama: ModelArchitecture {
    /// "Llama".
    public static let name = "Llama"
    /// `LlamaForCausalLM`, `MistralForCausalLM`.
    public static let huggingFaceArchitectures = ["LlamaForCausalLM", "MistralForCausalLM"]
    /// `llama` and `mistral`.
    public static let huggingFaceModelTypes = ["llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM"]
    /// `llama` (Mistral GGUFs use it too).
    public static let ggufArchitecture = "llama"

    /// Reads `config.json` (``LlamaHyperparameters/init(hfConfig:file:)``).
    public static func hyperparameters(hfConfig: JSONValue, file: String) throws -> LlamaHyperparameters {
        try LlamaHyperparameters(hfConfig: hfConfig, file: file)
    }

    /// Reads the `llama.*` keys; `llama.expert_count` > 0 (Mixtral) is refused.
    public static func hyperparameters(gguf source: any TensorSource) throws -> LlamaHyperparameters {
        try LlamaHyperparameters(gguf: source)
    }

    /// RMSNorm, SwiGLU, rope without biases or q/k norms; Mistral's sliding window when
    /// `config.json` gives one (GGUF files carry none, and llama.cpp attends to everything).
    public static func forwardPass(_ h: LlamaHyperparameters,
                                   ropeLayout: ForwardPassDescription.RopeLayout) -> ForwardPassDescription {
        let scaling: ForwardPassDescription.RopeScaling
        if let s = h.llama3RopeScaling { scaling = .llama3(s) }
        else if let f = h.linearRopeScaling { scaling = .linear(factor: f) }
        else { scaling = .none }
        return ForwardPassDescription(
            norm: .rms(epsilon: h.rmsNormEpsilon), ropeLayout: ropeLayout, ropeScaling: scaling,
            activation: .swiGLU, attention: h.slidingWindow.map { .slidingWindow($0) } ?? .causal,
            tiedEmbeddings: h.tiedEmbeddings)
    }
}
