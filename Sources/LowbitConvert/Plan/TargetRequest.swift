import LowbitFormats
import LowbitQuant

/// What a caller asks a conversion for, in the command line's terms (`--type` and its
/// companions). ``ConversionTarget/init(_:sourceFloat:output:)`` applies Lowbit's policy to it,
/// so a library caller gets the same target as `lowbit convert`.
public struct TargetRequest: Sendable {
    /// `--type`.
    public var type: TargetType
    /// `--group-size` for INT types (nil: 128, or 64 for the MLX layout).
    public var groupSize: Int?
    /// `--asym`: INT zero points.
    public var asymmetric = false
    /// `--fp8-format`.
    public var fp8Format: FP8Variant = .e4m3
    /// `--fp8-granularity` (`fp8-405b` is always per row).
    public var fp8Granularity: FP8ScaleGranularity = .row
    /// `--layout` for INT types.
    public var layout: ConversionTarget.IntLayout = .compressedTensors
    /// `--search-scales`: search each group's scale for the least squared error.
    public var searchScales = false
    /// Whether an importance matrix weights the quantizers (`--imatrix`, `--calibration`): FP8
    /// then searches its row and block scales with it (``FP8ClipSearch``) even without
    /// `--search-scales`.
    public var hasImportance = false

    /// The INT group sizes Lowbit writes.
    public static let groupSizes = [32, 64, 128]

    /// A request for `type` with every companion option at its default.
    public init(type: TargetType) {
        self.type = type
    }

    /// The INT group size: the requested one, or the layout's default.
    public var effectiveGroupSize: Int { groupSize ?? (layout == .mlx ? 64 : 128) }

    /// Checks the options that do not depend on the input.
    /// - Throws: ``ConvertError`` (``ConvertErrorKind/badOption``) naming the option.
    public func validate() throws {
        if let groupSize, !Self.groupSizes.contains(groupSize) {
            throw ConvertError.badOption("--group-size must be \(Self.groupSizes.map(String.init).joined(separator: ", ")), not \(groupSize)")
        }
    }
}

extension ConversionTarget {
    /// The target Lowbit converts to for `request`, given the float format most of the input's
    /// weights are stored in (``dominantFloat(of:)``) and where the output goes: a quantized
    /// safetensors type builds its target as its entry in ``SafetensorsType/all`` says (FP8 scales
    /// in F32; INT scales in the source's half-precision dtype), and a GGUF float type for a
    /// safetensors output means plain floats of that dtype.
    /// - Throws: ``ConvertError`` for an option that cannot be honoured.
    public init(_ request: TargetRequest, sourceFloat: FloatFormat, output: OutputKind) throws {
        try request.validate()
        switch request.type {
        case .safetensors(let type):
            self = try type.target(request, sourceFloat)
        case .gguf(let gguf):
            if !output.isGGUF, case .uniform(let t) = gguf, let dtype = FloatDType(t) {
                self = .float(dtype.safetensors)
            } else {
                self = .gguf(gguf)
            }
        }
    }

    /// ``init(_:sourceFloat:output:)`` for `input`, whose dominant float format it finds.
    public init(_ request: TargetRequest, input: ModelInput, output: OutputKind) throws {
        try self.init(request, sourceFloat: Self.dominantFloat(of: input.source), output: output)
    }

    /// The float format most of the source's weights are stored in, by bytes (F32 if none):
    /// compressed-tensors computes and stores INT scales in the weight's dtype, and Lowbit does
    /// the same to match it bit for bit.
    public static func dominantFloat(of source: any TensorSource) -> FloatFormat {
        var bytes: [FloatFormat: Int] = [:]
        for t in source.tensors { if let f = t.type.floatFormat { bytes[f, default: 0] += t.byteCount } }
        return bytes.max { $0.value < $1.value }?.key ?? .f32
    }
}
