import LowbitFormats
import LowbitQuant

/// What a conversion produces, independent of the container details.
public enum ConversionTarget: Sendable {
    /// A GGUF file with one of llama.cpp's types or mixes.
    case gguf(GGUFTarget)
    /// Safetensors with every linear weight in a plain float dtype (F32, F16, BF16).
    case float(SafetensorsDType)
    /// Compressed-tensors FP8 (`float-quantized`) for the decoder's linear weights.
    case fp8(FP8Quantizer)
    /// Meta's Llama 3.1 405B recipe: FFN weights row-wise FP8; attention and the first and last
    /// layers stay in the source precision.
    case fp8Llama405B(FP8Quantizer)
    /// INT8/INT4 with per-group scales, in compressed-tensors `pack-quantized` or MLX layout.
    case int(IntGroupQuantizer, layout: IntLayout)

    /// Where quantized integer weights go.
    public enum IntLayout: String, Sendable, CaseIterable {
        case compressedTensors = "compressed-tensors"
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
        case .fp8(let q), .fp8Llama405B(let q): FP8Layout(q)
        case .int(let q, .compressedTensors): PackedIntLayout(q)
        case .int(let q, .mlx): MLXAffineLayout(q)
        }
    }

    /// A short name for summaries (`q4_k_m`, `int4-g128`, `fp8-row`...).
    public var name: String {
        switch self {
        case .gguf(let t): t.name
        case .float(let d): d.name.lowercased()
        case .fp8(let q): "fp8-\(q.granularity)"
        case .fp8Llama405B: "fp8-405b"
        case .int(let q, let layout): "int\(q.bits)-g\(q.groupSize)\(layout == .mlx ? "-mlx" : "")"
        }
    }
}

/// The user's choices for a conversion, as the CLI collects them.
public struct ConversionOptions: Sendable {
    public var target: ConversionTarget
    /// `--keep REGEX`: tensors left in source precision.
    public var keep: [TensorPattern] = []
    /// `--tensor-type REGEX=TYPE` rules (GGUF output).
    public var tensorTypeRules: [String] = []
    public var outputTensorType: GGMLType?
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
    /// An importance matrix for the GGUF quantizers (`--imatrix`); GGUF targets only.
    public var importance: ConversionImportance?

    public init(target: ConversionTarget) {
        self.target = target
    }
}
