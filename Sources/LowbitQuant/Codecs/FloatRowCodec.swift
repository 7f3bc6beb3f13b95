import LowbitFormats

/// The plain float GGML types F32, F16 and BF16 as a ``RowCodec``: quantizing is encoding,
/// dequantizing is decoding (exact).
///
/// F16 rounds to nearest even (numpy `astype(float16)`). BF16 rounds to nearest even like
/// ggml's `ggml_compute_fp32_to_bf16` and gguf-py: a NaN keeps its sign and upper payload bits
/// and is made quiet (``FloatFormat/bf16`` instead canonicalises NaN as ml_dtypes does).
public struct FloatRowCodec: RowCodec {
    /// The float type, `.f32`, `.f16` or `.bf16`.
    public let type: GGMLType
    @usableFromInline let format: FloatFormat

    /// The codec for `.f32`, `.f16` or `.bf16`; nil for any other type.
    public init?(_ type: GGMLType) {
        switch type {
        case .f32: format = .f32
        case .f16: format = .f16
        case .bf16: format = .bf16
        default: return nil
        }
        self.type = type
    }

    /// Encodes `count` floats in ``type``, rounding to nearest even; `importance` is ignored.
    public func quantize(_ source: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer,
                         count: Int, importance: UnsafePointer<Float>?) {
        guard type == .bf16 else {
            format.encode(source, into: destination, count: count)
            return
        }
        for i in 0..<count {
            let bits = source[i].bitPattern
            let quiet = (bits & 0x7FFF_FFFF) > 0x7F80_0000 ? (bits | 0x0040_0000) & 0xFFFF_0000 : bits
            let rounded = (UInt64(quiet) + 0x7FFF + UInt64((quiet >> 16) & 1)) >> 16
            destination.storeBytes(of: UInt16(truncatingIfNeeded: rounded), toByteOffset: 2 * i, as: UInt16.self)
        }
    }

    /// Decodes `count` floats of ``type`` (exact).
    public func dequantize(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        format.decode(source, into: destination, count: count)
    }
}
