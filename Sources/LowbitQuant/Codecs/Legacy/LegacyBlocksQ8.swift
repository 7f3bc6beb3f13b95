import LowbitFormats

/// GGUF `Q8_0`: blocks of 32 weights, 34 bytes each — a float16 scale `d` followed by 32 signed
/// bytes `q`; the weight is `d * q`.
///
/// Quantization (gguf-py): `d = max|x| / 127`, `q = roundHalfAwayFromZero(x * (1/d))`.
public struct Q8_0Codec: RowCodec {
    /// Q8_0.
    public var type: GGMLType { .q8_0 }

    /// The codec.
    public init() {}

    /// Quantizes whole blocks of 32; `importance` is not used (llama.cpp's Q8_0 takes none).
    public func quantize(_ source: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer,
                         count: Int, importance: UnsafePointer<Float>?) {
        precondition(count % LegacyBlock.size == 0, "Q8_0 rows hold whole blocks of 32")
        for b in 0..<(count / 32) {
            let x = source + 32 * b
            let block = destination + 34 * b
            let d = LegacyBlock.absMax(x) / 127
            let id = LegacyBlock.inverse(d)
            LegacyBlock.storeHalf(d, block, at: 0)
            let qs = (block + 2).assumingMemoryBound(to: Int8.self)
            for j in 0..<32 {
                qs[j] = Int8(truncatingIfNeeded: LegacyBlock.roundHalfAway(x[j] * id, top: 127))
            }
        }
    }

    /// Decodes whole blocks of 32.
    public func dequantize(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count % LegacyBlock.size == 0, "Q8_0 rows hold whole blocks of 32")
        for b in 0..<(count / 32) {
            let block = source + 34 * b
            let d = LegacyBlock.loadHalf(block, at: 0)
            let qs = (block + 2).assumingMemoryBound(to: Int8.self)
            let y = destination + 32 * b
            for j in 0..<32 { y[j] = Float(qs[j]) * d }
        }
    }
}
