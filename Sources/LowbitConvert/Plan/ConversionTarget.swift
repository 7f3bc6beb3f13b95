import LowbitFormats
import LowbitQuant

/// What a conversion produces, independent of the container details.
public enum ConversionTarget: Sendable {
    /// A GGUF file with one of llama.cpp's types or mixes.
    case gguf(GGUFTarget)
    /// Safetensors with every linear weight in a plain float dtype (F32, F16, BF16).
    case float(SafetensorsDType)
    /// Safetensors with the decoder's linear weights that `selection` picks stored with `layout`
    /// (compressed-tensors FP8 or `pack-quantized`, MLX affine...); `name` is how summaries call
    /// the target (`fp8-row`, `fp8-405b`, `int4-g128`, `int4-g64-mlx`). ``TargetType`` builds these.
    case quantized(any WeightLayout, selection: WeightSelection, name: String)

    /// Where quantized integer weights go (`--layout`).
    public enum IntLayout: String, Sendable, CaseIterable {
        /// compressed-tensors `pack-quantized`, as vLLM loads it.
        case compressedTensors = "compressed-tensors"
        /// MLX's affine layout, as `mlx_lm` loads it.
        case mlx
    }

    /// Whether the output is a GGUF file.
    public var isGGUF: Bool {
        if case .gguf = self { return true }
        return false
    }

    /// The layout of the weights the target quantizes, which decides the config entry
    /// (compressed-tensors `quantization_config`, MLX `quantization`); nil for GGUF targets,
    /// whose layout varies by tensor.
    public var layout: (any WeightLayout)? {
        switch self {
        case .gguf: nil
        case .float(let d): FloatLayout(d)
        case .quantized(let layout, _, _): layout
        }
    }

    /// A short name for summaries (`q4_k_m`, `int4-g128`, `fp8-row`...).
    public var name: String {
        switch self {
        case .gguf(let t): t.name
        case .float(let d): d.name.lowercased()
        case .quantized(_, _, let name): name
        }
    }
}

/// Which weights of a safetensors output a quantized target stores with its layout; the others
/// stay in float.
public enum WeightSelection: Sendable, Equatable {
    /// Every linear weight of the decoder (`model.layers.N.(self_attn|mlp).X_proj.weight`).
    case decoderLinear
    /// Meta's Llama 3.1 405B FP8 recipe: the FFN weights, except in the first and last layers.
    case llama405B

    /// Whether the decoder linear weight `name` of a model of `layers` layers is picked.
    func picks(_ name: String, layers: Int) -> Bool {
        switch self {
        case .decoderLinear:
            return true
        case .llama405B:
            guard name.contains(".mlp."), let i = JobPlanning.layerIndex(name) else { return false }
            return i > 0 && i < layers - 1
        }
    }
}

/// The user's choices for a conversion, as the CLI collects them.
public struct ConversionOptions: Sendable {
    /// What to produce.
    public var target: ConversionTarget
    /// `--keep REGEX`: tensors left in source precision.
    public var keep: [TensorPattern] = []
    /// `--tensor-type REGEX=TYPE` rules (GGUF output).
    public var tensorTypeRules: [String] = []
    /// `--output-tensor-type`: the GGUF type of `output.weight`.
    public var outputTensorType: GGMLType?
    /// `--token-embedding-type`: the GGUF type of `token_embd.weight`.
    public var tokenEmbeddingType: GGMLType?
    /// Float dtype for unquantized tensors in safetensors output (`nil`: keep the source's
    /// float dtype, BF16 for GGUF sources).
    public var floatDType: SafetensorsDType?
    /// Largest shard in bytes for directory output.
    public var maxShardSize: Int = 5_000_000_000
    /// Compute error metrics for every quantized tensor (costs a dequantization; off by default
    /// so that conversion runs at kernel speed).
    public var measureError = false
    /// Threads for kernels.
    public var threads: Int = 0
    /// Write even if the free-space check says the output will not fit (`--force`).
    public var force = false
    /// Continue a directory output that a killed run of the same plan left unfinished (`--resume`).
    public var resume = false
    /// With ``resume``, re-hash the finished shards in full instead of checking their size and
    /// tail (`--verify`).
    public var verifyResume = false
    /// The options as the command line gave them, for the resume fingerprint: two runs resume
    /// each other only if these agree (see ``ConversionPlan/resumeFingerprint(extra:)``).
    public var resumeKey = ""
    /// An importance matrix for the quantizers (`--imatrix`): GGUF types, and the INT and FP8
    /// safetensors layouts (looked up by the weights' GGUF names); refused for plain floats.
    public var importance: ConversionImportance?
    /// Codes, scales and offsets a calibrated method (GPTQ) chose, packed instead of rounding by
    /// the jobs whose layout is an INT layout (``CalibratedEncodings``).
    public var calibratedEncodings: (any CalibratedEncodings)?
    /// Exact rescalings of source tensors applied before encoding (AWQ's folded scales); a
    /// transformed tensor is never copied byte for byte, it is re-encoded in its type.
    public var weightTransforms: WeightTransforms?
    /// GGUF types chosen per tensor by a byte budget (``GGUFBudget``), by GGUF name.
    public var assignedTypes: [String: GGMLType] = [:]

    /// Options for `target`, every other choice at its default.
    public init(target: ConversionTarget) {
        self.target = target
    }
}
