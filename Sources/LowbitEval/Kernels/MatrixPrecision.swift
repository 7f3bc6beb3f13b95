import CLowbitKernels

/// The arithmetic of the products of activations by weight matrices.
///
/// llama.cpp rounds activations before its matrix products too (to F16 for F16 weights, to BF16
/// for BF16 weights, to 8-bit blocks for quantized weights); `bfloat16` is the same kind of
/// trade, `float32` is exact. Attention, norms and everything else stay in `Float` either way.
public enum MatrixPrecision: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Exact single precision: weights decoded to `Float`, fused multiply-adds in `Float`.
    case float32 = "f32"
    /// Weights and activations rounded to bfloat16 (nearest, ties to even), products summed in
    /// `Float` — twice the arithmetic rate of `float32` on CPUs with AVX-512 BF16, half the
    /// memory for cached weights. BF16 weights lose nothing; F16 and quantized weights are
    /// rounded to 8 significant bits.
    case bfloat16 = "bf16"

    /// `bfloat16` where the CPU multiplies it natively, `float32` elsewhere.
    public static var fastest: MatrixPrecision { hasNativeBFloat16 ? .bfloat16 : .float32 }

    /// Whether this CPU has the AVX-512 BF16 dot product (without it `bfloat16` is computed by
    /// portable code and is slower than `float32`).
    public static var hasNativeBFloat16: Bool { lowbit_has_native_bf16() != 0 }

    /// The name the command line uses: `f32` or `bf16`.
    public var description: String { rawValue }

    var packKind: lowbit_pack_kind { self == .float32 ? LOWBIT_PACK_F32 : LOWBIT_PACK_BF16 }
}
