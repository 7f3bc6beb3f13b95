/// The tensor names of one architecture in Hugging Face checkpoints and in GGUF files, both ways:
/// the one table the converter (renaming) and the evaluator (finding weights) share. Each
/// ``ModelArchitecture`` gives its own (``ModelArchitecture/tensorNames``); the functions here
/// read any table the same way.
public struct TensorNameTable: Sendable, Equatable {
    /// The weights of one decoder layer that the forward-pass blocks know.
    public enum Role: CaseIterable, Sendable {
        case attentionNorm, query, key, value, attentionOutput, feedForwardNorm, gate, up, down

        /// Whether the weight is a linear layer's (multiplies activations), rather than a norm's.
        public var isLinear: Bool {
            switch self {
            case .attentionNorm, .feedForwardNorm: false
            default: true
            }
        }
    }

    /// The tensors outside the layers.
    public enum Global: CaseIterable, Sendable {
        case tokenEmbedding, outputNorm, output
    }

    /// One tensor's name in each layout: within a layer (`self_attn.q_proj` / `attn_q`) or whole
    /// (`model.norm.weight` / `output_norm.weight`).
    public struct Names: Sendable, Equatable {
        /// The Hugging Face name.
        public var hf: String
        /// The GGUF name.
        public var gguf: String

        /// The names `hf` and `gguf`.
        public init(hf: String, gguf: String) {
            self.hf = hf
            self.gguf = gguf
        }
    }

    /// The names inside a layer, by role (roles the architecture lacks are absent).
    public let layer: [Role: Names]
    /// The names of the tensors outside the layers.
    public let global: [Global: Names]
    /// What precedes the layer number: `model.layers.` and `blk.`.
    public let layerPrefix: Names
    /// Whether llama.cpp's converter stores the query and key rows of this family in its own
    /// rotary order (Llama: yes; the NeoX-rope families such as Qwen2 and Phi-3: no).
    public let ggufPermutesRotaryRows: Bool

    /// A table of `layer` and `global` names under `layerPrefix`.
    public init(layer: [Role: Names], global: [Global: Names],
                layerPrefix: Names = Names(hf: "model.layers.", gguf: "blk."),
                ggufPermutesRotaryRows: Bool = true) {
        self.layer = layer
        self.global = global
        self.layerPrefix = layerPrefix
        self.ggufPermutesRotaryRows = ggufPermutesRotaryRows
    }

    /// The roles the table names, in the order of ``Role/allCases``.
    public var roles: [Role] { Role.allCases.filter { layer[$0] != nil } }

    /// The name of a global tensor in either layout.
    public func name(_ tensor: Global, gguf: Bool) -> String {
        guard let names = global[tensor] else { preconditionFailure("the table has no \(tensor)") }
        return gguf ? names.gguf : names.hf
    }

    /// The name of a layer weight in either layout.
    public func name(layer index: Int, _ role: Role, gguf: Bool, suffix: String = "weight") -> String {
        guard let names = layer[role] else { preconditionFailure("the table has no \(role)") }
        return gguf ? "\(layerPrefix.gguf)\(index).\(names.gguf).\(suffix)"
                    : "\(layerPrefix.hf)\(index).\(names.hf).\(suffix)"
    }

    /// The name of a global tensor in `layout`.
    public func name(_ tensor: Global, in layout: TensorNameLayout) -> String {
        name(tensor, gguf: layout == .gguf)
    }

    /// The name of a layer weight in `layout`.
    public func name(layer index: Int, _ role: Role, in layout: TensorNameLayout) -> String {
        name(layer: index, role, gguf: layout == .gguf)
    }

    /// The GGUF name of a Hugging Face tensor, or nil for tensors GGUF does not keep
    /// (`rotary_emb.inv_freq`) or the table does not know.
    public func ggufName(forHF name: String) -> String? {
        translate(name, fromGGUF: false)?.name
    }

    /// The Hugging Face name of a GGUF tensor, or nil for tensors the checkpoint does not hold
    /// (`rope_freqs.weight`, which `config.json` describes instead).
    public func hfName(forGGUF name: String) -> String? {
        translate(name, fromGGUF: true)?.name
    }

    /// The role of a layer tensor named in either layout, or nil.
    public func role(of name: String) -> Role? {
        translate(name, fromGGUF: name.hasPrefix(layerPrefix.gguf))?.role
    }

    /// Whether a Hugging Face tensor is the weight of a decoder linear layer
    /// (`model.layers.N.self_attn.q_proj.weight`): the weights a checkpoint layout quantizes.
    public func isDecoderLinear(hfName name: String) -> Bool {
        guard name.hasSuffix(".weight"), let match = translate(name, fromGGUF: false),
              let role = match.role else { return false }
        return role.isLinear
    }

    /// Whether a GGUF tensor is a query or key projection (weight or bias) whose rows GGUF
    /// stores in its own rotary order (``ggufPermutesRotaryRows``); returns the head count to
    /// permute with (heads for Q, KV heads for K).
    public func rotaryHeads(ggufName name: String, heads: Int, kvHeads: Int) -> Int? {
        guard ggufPermutesRotaryRows, name.hasPrefix(layerPrefix.gguf), let role = translate(name, fromGGUF: true)?.role else { return nil }
        switch role {
        case .query: return heads
        case .key: return kvHeads
        default: return nil
        }
    }

    /// The other layout's name of `name`, and its role when it is a layer tensor.
    private func translate(_ name: String, fromGGUF gguf: Bool) -> (name: String, role: Role?)? {
        if let g = Global.allCases.first(where: { global[$0] != nil && self.name($0, gguf: gguf) == name }) {
            return (self.name(g, gguf: !gguf), nil)
        }
        let prefix = gguf ? layerPrefix.gguf : layerPrefix.hf
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let index = Int(rest[..<dot]) else { return nil }
        let tail = rest[rest.index(after: dot)...]
        for role in roles {
            let inner = gguf ? layer[role]!.gguf : layer[role]!.hf
            for suffix in ["weight", "bias"] where tail == "\(inner).\(suffix)" {
                return (self.name(layer: index, role, gguf: !gguf, suffix: suffix), role)
            }
        }
        return nil
    }
}
