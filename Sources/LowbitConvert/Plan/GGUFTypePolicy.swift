import LowbitFormats
import LowbitQuant

/// What a GGUF conversion aims for: one block type everywhere, or one of llama.cpp's mixes.
public enum GGUFTarget: Sendable, Hashable {
    /// Every quantizable tensor gets this type (llama.cpp's "mostly" file types).
    case uniform(GGMLType)
    /// llama.cpp's Q4_K_M mix: Q4_K, with Q6_K for half of `attn_v` and `ffn_down`.
    case q4_K_M
    /// llama.cpp's Q4_K_S mix: Q4_K, with Q5_K for the first `attn_v` and `ffn_down` layers.
    case q4_K_S
    /// llama.cpp's Q5_K_M mix: Q5_K, with Q6_K for half of `attn_v` and `ffn_down`.
    case q5_K_M

    /// The type most tensors get.
    public var defaultType: GGMLType {
        switch self {
        case .uniform(let t): t
        case .q4_K_M, .q4_K_S: .q4_K
        case .q5_K_M: .q5_K
        }
    }

    /// The value of `general.file_type` (llama.cpp's `llama_ftype`) for this target.
    public var fileType: UInt32 {
        switch self {
        case .q4_K_S: 14
        case .q4_K_M: 15
        case .q5_K_M: 17
        case .uniform(let t):
            switch t {
            case .f32: 0
            case .f16: 1
            case .q4_0: 2
            case .q4_1: 3
            case .q8_0: 7
            case .q5_0: 8
            case .q5_1: 9
            case .q2_K: 10
            case .q3_K: 11  // llama.cpp's Q3_K_S: Q3_K everywhere but the output head
            case .q4_K: 15
            case .q5_K: 17
            case .q6_K: 18
            case .iq4_nl: 25
            case .iq4_xs: 30
            case .bf16: 32
            default: 1
            }
        }
    }

    /// Parses a CLI type name: `q4_k_m`, `q4_0`, `f16`, ... (case-insensitive). `q4_k` and `q5_k`
    /// mean the uniform types, as Lowbit's `--type` documents.
    public init?(name: String) {
        switch name.lowercased() {
        case "q4_k_m": self = .q4_K_M
        case "q4_k_s": self = .q4_K_S
        case "q5_k_m": self = .q5_K_M
        default:
            guard let t = GGMLType(name: name), GGUFTarget.uniformTypes.contains(t) else { return nil }
            self = .uniform(t)
        }
    }

    /// The block and float types Lowbit writes as a uniform target: those with a codec.
    public static let uniformTypes: [GGMLType] = GGUFCodecs.supportedTypes
}

/// The role llama.cpp gives a tensor when it picks a type for it, from its GGUF name.
public enum TensorRole: Sendable, Hashable {
    case tokenEmbedding, output, attentionQ, attentionK, attentionV, attentionQKV, attentionOutput
    case ffnUp, ffnGate, ffnDown, other

    /// Classifies a GGUF tensor name (`blk.3.attn_v.weight`, `token_embd.weight`, ...).
    public init(ggufName name: String) {
        if name == "output.weight" { self = .output }
        else if name == "token_embd.weight" { self = .tokenEmbedding }
        else if name.contains("attn_qkv.weight") { self = .attentionQKV }
        else if name.contains("attn_v.weight") { self = .attentionV }
        else if name.contains("attn_k.weight") { self = .attentionK }
        else if name.contains("attn_q.weight") { self = .attentionQ }
        else if name.contains("attn_output.weight") { self = .attentionOutput }
        else if name.contains("ffn_up") { self = .ffnUp }
        else if name.contains("ffn_gate") { self = .ffnGate }
        else if name.contains("ffn_down") { self = .ffnDown }
        else { self = .other }
    }
}

/// Why a tensor ended up with a type other than the target's default.
public enum TypeChoiceReason: Sendable, Hashable, CustomStringConvertible {
    /// Not a quantizable weight (1-D, a norm, ...): kept in its source type.
    case notQuantizable
    /// Chosen by the mix (e.g. Q6_K for some `ffn_down` layers in Q4_K_M).
    case mix
    /// The row length does not fit the chosen type's block: llama.cpp's fallback was used.
    case fallback(from: GGMLType)
    /// A user rule (`--tensor-type`, `--keep`, `--output-tensor-type`, `--token-embedding-type`).
    case override(String)
    /// The default type of the target.
    case defaultType
    /// Chosen by the byte budget (`--target-bpw`, `--target-size`; see ``GGUFBudget``).
    case budget

    /// How summaries print the reason (`fallback from Q4_K (...)`).
    public var description: String {
        switch self {
        case .notQuantizable: "not quantizable"
        case .mix: "mix"
        case .fallback(let t): "fallback from \(t.name) (row length not a multiple of \(t.blockSize))"
        case .override(let rule): "override \(rule)"
        case .defaultType: "default"
        case .budget: "budget"
        }
    }
}

/// Picks the GGUF type of each tensor the way llama.cpp's quantizer (`llama_model_quantize`,
/// version 0.3.36 of llama-cpp-python) does for Llama-family models, with or without an importance
/// matrix, plus Lowbit's override options.
///
/// The policy is stateful in the same way llama.cpp's is: the mixes count `attn_v` and `ffn_down`
/// tensors in file order, so tensors must be asked for in the order they are written.
public struct GGUFTypePolicy: Sendable {
    /// The type or mix asked for.
    public let target: GGUFTarget
    /// User rules `REGEX=TYPE`, first match wins (llama-quantize's `--tensor-type`).
    public var tensorTypeRules: [(pattern: TensorPattern, type: GGMLType)]
    /// Tensors matching any of these keep their source precision.
    public var keepPatterns: [TensorPattern]
    /// `--output-tensor-type`: the type of `output.weight`, overriding the target's choice.
    public var outputTensorType: GGMLType?
    /// `--token-embedding-type`: the type of `token_embd.weight`, overriding the target's choice.
    public var tokenEmbeddingType: GGMLType?
    /// Whether the quantizers get an importance matrix (with at least one entry): llama.cpp then
    /// keeps IQ4_NL/IQ4_XS in the first eighth of `ffn_down` layers instead of raising them to
    /// Q5_K, and raises Q4_0/Q5_0 there to Q4_1/Q5_1.
    public var hasImportanceMatrix = false
    /// Types a byte budget chose (``GGUFBudget``), by GGUF name: they replace the target's
    /// choice and mix; `--keep` and the embedding/output overrides still come first.
    public var assignedTypes: [String: GGMLType] = [:]

    private let attentionVCount: Int
    private let layerCount: Int
    private let hasTiedEmbeddings: Bool
    private let queryHeadsPerKVHead: Int
    private var attentionVIndex = 0
    private var ffnDownIndex = 0

    /// - Parameters:
    ///   - tensorNames: every tensor name of the output, in file order (GGUF names).
    ///   - layerCount: the model's block count.
    ///   - queryHeadsPerKVHead: heads / KV heads (llama.cpp's `n_gqa`), which some mixes consult.
    public init(target: GGUFTarget, tensorNames: [String], layerCount: Int, queryHeadsPerKVHead: Int = 1) {
        self.queryHeadsPerKVHead = queryHeadsPerKVHead
        self.target = target
        self.tensorTypeRules = []
        self.keepPatterns = []
        self.attentionVCount = tensorNames.filter { [.attentionV, .attentionQKV].contains(TensorRole(ggufName: $0)) }.count
        self.hasTiedEmbeddings = !tensorNames.contains("output.weight")
        self.layerCount = layerCount
    }

    /// Adds a `--tensor-type REGEX=TYPE` rule.
    public mutating func addTensorTypeRule(_ rule: String) throws {
        guard let eq = rule.lastIndex(of: "=") else { throw ConvertError.badOption("--tensor-type \(rule): expected REGEX=TYPE") }
        let pattern = String(rule[..<eq])
        let typeName = String(rule[rule.index(after: eq)...])
        guard let type = GGMLType(name: typeName) else { throw ConvertError.badOption("--tensor-type \(rule): unknown type \(typeName)") }
        tensorTypeRules.append((try TensorPattern(pattern), type))
    }

    /// Adds a `--keep REGEX` rule.
    public mutating func addKeepPattern(_ pattern: String) throws {
        keepPatterns.append(try TensorPattern(pattern))
    }

    /// Whether llama.cpp would quantize this tensor at all (2-D or more, a `weight`, not a norm).
    public static func isQuantizable(name: String, dimensions: Int) -> Bool {
        dimensions >= 2 && name.hasSuffix("weight") && !name.contains("_norm.weight")
            && !name.contains("ffn_gate_inp.weight")
    }

    /// The type for the next tensor, given its GGUF name, its `ne` shape and its source type.
    public mutating func choose(name: String, shape: [Int], sourceType: GGMLType) -> (type: GGMLType, reason: TypeChoiceReason) {
        guard Self.isQuantizable(name: name, dimensions: shape.count) else { return (sourceType, .notQuantizable) }
        if let keep = keepPatterns.first(where: { $0.matches(name) }) {
            return (sourceType, .override("--keep \(keep.pattern)"))
        }
        let role = TensorRole(ggufName: name)
        let rowLength = shape.first ?? 1
        if role == .tokenEmbedding, let t = tokenEmbeddingType { return (t, .override("--token-embedding-type")) }
        if role == .output, let t = outputTensorType { return (t, .override("--output-tensor-type")) }

        var type = target.defaultType
        var reason = TypeChoiceReason.defaultType
        guard !type.isFloat else { return (type, reason) }
        if let assigned = assignedTypes[name] {
            countRole(role)
            return (assigned, .budget)
        }

        if let rule = tensorTypeRules.first(where: { $0.pattern.matches(name) }) {
            type = rule.type
            reason = .override("--tensor-type \(rule.pattern)=\(rule.type.name)")
            countRole(role)
        } else {
            let mixed = mixType(role: role, rowLength: rowLength, base: type)
            if mixed != type {
                type = mixed
                reason = .mix
            }
        }
        let fitted = Self.fallback(for: type, rowLength: rowLength)
        if fitted != type {
            reason = .fallback(from: type)
            type = fitted
        }
        return (type, reason)
    }

    private mutating func countRole(_ role: TensorRole) {
        if role == .attentionV || role == .attentionQKV { attentionVIndex += 1 }
        if role == .ffnDown { ffnDownIndex += 1 }
    }

    private static func useMoreBits(_ i: Int, _ n: Int) -> Bool {
        i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
    }

    private mutating func mixType(role: TensorRole, rowLength: Int, base: GGMLType) -> GGMLType {
        var type = base
        if role == .output || (hasTiedEmbeddings && role == .tokenEmbedding) {
            if rowLength % base.blockSize != 0 { return .q8_0 }
            return base == .q8_0 ? .q8_0 : .q6_K
        }
        switch role {
        case .attentionV, .attentionQKV:
            if role == .attentionQKV {
                if target == .q4_K_M { type = .q5_K } else if target == .q5_K_M { type = .q6_K }
            } else {
                switch target {
                case .uniform(.q2_K): type = queryHeadsPerKVHead >= 4 ? .q4_K : .q3_K
                case .uniform(.iq4_nl), .uniform(.iq4_xs):
                    if queryHeadsPerKVHead >= 4 { type = .q5_K }
                case .q4_K_M, .q5_K_M:
                    if Self.useMoreBits(attentionVIndex, attentionVCount) { type = .q6_K }
                case .q4_K_S:
                    if attentionVIndex < 4 { type = .q5_K }
                default: break
                }
            }
            attentionVIndex += 1
        case .ffnDown:
            let i = ffnDownIndex, n = layerCount
            switch target {
            case .uniform(.q2_K): type = .q3_K
            case .q4_K_M: if Self.useMoreBits(i, n) { type = .q6_K }
            case .q5_K_M: if Self.useMoreBits(i, n) { type = .q6_K }
            case .q4_K_S: if i < n / 8 { type = .q5_K }
            case .uniform(.iq4_nl), .uniform(.iq4_xs): if i < n / 8 && !hasImportanceMatrix { type = .q5_K }
            case .uniform(.q4_0): if i < n / 8 && hasImportanceMatrix { type = .q4_1 }
            case .uniform(.q5_0): if i < n / 8 && hasImportanceMatrix { type = .q5_1 }
            default: break
            }
            ffnDownIndex += 1
        case .attentionOutput:
            if target == .uniform(.q2_K) { type = .q3_K }
        default: break
        }
        return type
    }

    /// llama.cpp's substitute when a row length is not a multiple of a type's block size.
    public static func fallback(for type: GGMLType, rowLength: Int) -> GGMLType {
        guard rowLength % type.blockSize != 0 else { return type }
        let substitute: GGMLType
        switch type {
        case .iq1_s, .iq1_m, .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq4_xs: substitute = .iq4_nl
        case .q2_K, .q3_K, .tq1_0, .tq2_0: substitute = .q4_0
        case .q4_K: substitute = .q5_0
        case .q5_K: substitute = .q5_1
        case .q6_K: substitute = .q8_0
        default: substitute = type
        }
        return rowLength % substitute.blockSize == 0 ? substitute : .f16
    }
}
