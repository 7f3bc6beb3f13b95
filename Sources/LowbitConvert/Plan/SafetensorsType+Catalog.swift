import LowbitFormats
import LowbitQuant

extension SafetensorsType {
    /// Every quantized safetensors type, in the order `--type` lists them: the registry a new
    /// layout adds its line to.
    public static let all: [SafetensorsType] = [fp8, fp8Llama405B, int8, int4]

    /// compressed-tensors FP8 (`float-quantized`) for every decoder linear weight.
    /// `--search-scales`, or an importance matrix, searches each row's or block's scale
    /// (``FP8ClipSearch``), weighted by the importance matrix when there is one.
    public static let fp8 = SafetensorsType(name: "fp8", help: "per row by default") { request, _ in
        let q = FP8Quantizer(variant: request.fp8Format, granularity: request.fp8Granularity.quantizerGranularity,
                             clipSearch: request.searchScales || request.hasImportance ? FP8ClipSearch() : nil)
        return .quantized(FP8Layout(q), selection: .decoderLinear, name: "fp8-\(q.granularity)")
    }

    /// Meta's Llama 3.1 405B recipe: FFN weights row-wise FP8; attention and the first and last
    /// layers stay in the source precision.
    public static let fp8Llama405B = SafetensorsType(name: "fp8-405b", help: "Meta's Llama 3.1 405B recipe") { request, _ in
        let q = FP8Quantizer(variant: request.fp8Format, granularity: .row,
                             clipSearch: request.searchScales || request.hasImportance ? FP8ClipSearch() : nil)
        return .quantized(FP8Layout(q), selection: .llama405B, name: "fp8-405b")
    }

    /// INT8 with per-group scales.
    public static let int8 = SafetensorsType(name: "int8", help: "") { try integer(bits: 8, $0, sourceFloat: $1) }

    /// INT4 with per-group scales.
    public static let int4 = SafetensorsType(name: "int4", help: "group 128, symmetric by default") {
        try integer(bits: 4, $0, sourceFloat: $1)
    }

    /// INT weights with per-group scales, in the requested `--layout`:
    /// - compressed-tensors: from a BF16/F16 checkpoint, scales in that dtype and every step
    ///   rounded to it, as compressed-tensors does on such tensors; from any other source, F32
    ///   arithmetic and BF16 scales;
    /// - MLX: MLX's affine quantizer (default group 64).
    static func integer(bits: Int, _ request: TargetRequest, sourceFloat: FloatFormat) throws -> ConversionTarget {
        let group = request.effectiveGroupSize
        let search = request.searchScales ? ScaleSearch() : nil
        switch request.layout {
        case .mlx:
            let q = MLXLayout.quantizer(bits: bits, groupSize: group, search: search)
            return .quantized(MLXAffineLayout(q), selection: .decoderLinear, name: "int\(bits)-g\(group)-mlx")
        case .compressedTensors:
            let halfPrecision = sourceFloat == .bf16 || sourceFloat == .f16
            let q = IntGroupQuantizer(bits: bits, groupSize: group,
                                      convention: .compressedTensors(symmetric: !request.asymmetric),
                                      scaleFormat: halfPrecision ? sourceFloat : .bf16,
                                      arithmetic: halfPrecision ? sourceFloat : .f32, search: search)
            return .quantized(PackedIntLayout(q), selection: .decoderLinear, name: "int\(bits)-g\(group)")
        }
    }
}
