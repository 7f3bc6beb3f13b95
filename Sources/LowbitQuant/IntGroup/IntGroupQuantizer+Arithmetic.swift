import LowbitFormats

/// Rounding applied after each floating-point operation of a quantizer, so that Lowbit can
/// reproduce frameworks that compute in the checkpoint's own precision: PyTorch evaluates
/// `x / scale` on BF16 tensors in float and rounds the result to BF16 before `torch.round`.
/// Kernels are generic over it, so the F32 path carries no cost.
@usableFromInline
protocol IntermediateRounding {
    static func apply(_ value: Float) -> Float
}

/// Arithmetic in `Float` (no extra rounding).
@usableFromInline
enum F32Arithmetic: IntermediateRounding {
    @inlinable @inline(__always)
    static func apply(_ value: Float) -> Float { value }
}

/// Every intermediate rounded to BF16 (nearest even).
@usableFromInline
enum BF16Arithmetic: IntermediateRounding {
    @inlinable @inline(__always)
    static func apply(_ value: Float) -> Float {
        BFloat16Bits.toFloat(BFloat16Bits.fromFloat(value))
    }
}

/// Every intermediate rounded to F16 (nearest even).
@usableFromInline
enum F16Arithmetic: IntermediateRounding {
    @inlinable @inline(__always)
    static func apply(_ value: Float) -> Float { Float(Float16(value)) }
}

extension FloatFormat {
    /// `value` rounded to the nearest value of this format and widened back to `Float`
    /// (identity for F32/F64; E8M0 rounds to the nearest power of two, see `FP8.e8m0`).
    @inlinable
    func roundTrip(_ value: Float) -> Float {
        switch self {
        case .f32, .f64: value
        case .bf16: BF16Arithmetic.apply(value)
        case .f16: F16Arithmetic.apply(value)
        case .f8e4m3: FP8.float(e4m3: FP8.e4m3(value))
        case .f8e5m2: FP8.float(e5m2: FP8.e5m2(value))
        case .f8e8m0: FP8.float(e8m0: FP8.e8m0(value))
        }
    }

    /// The smallest positive `eps` with `1 + eps != 1` in this format (PyTorch's
    /// `torch.finfo(dtype).eps`; 0.125 for E4M3 as compressed-tensors uses). compressed-tensors
    /// replaces a zero scale by this value so that all-zero groups dequantize to zeros.
    var machineEpsilon: Float {
        switch self {
        case .f32, .f64: Float.ulpOfOne
        case .bf16: 0x1p-7
        case .f16: 0x1p-10
        case .f8e4m3: 0.125
        case .f8e5m2: 0.25
        case .f8e8m0: 1
        }
    }
}

/// Round to nearest even and convert to an integer without traps: adding 1.5 * 2^23 leaves
/// the rounded integer in the low mantissa bits (valid for |v| < 2^22), so the loop stays
/// vectorisable (`Int32(v)` would insert overflow checks).
@inlinable @inline(__always)
func roundedToInt32(_ v: Float) -> Int32 {
    Int32(bitPattern: (v + 12_582_912).bitPattern &- 0x4B40_0000)
}
