import LowbitFormats

/// GGUF `Q4_1` and `Q5_1`: blocks of 32 weights with a float16 scale `d` and a float16 minimum
/// `m`; the weight is `d * q + m`, q unsigned (4 or 5 bits).
///
/// Layouts: Q4_1 = `d`, `m` (2 bytes each) + 16 bytes of nibbles (20 bytes); Q5_1 = `d`, `m` +
/// `qh` (4 bytes, bit j = fifth bit of code j) + 16 bytes of low nibbles (24 bytes).
///
/// Quantization (gguf-py): `d = (max - min) / (2^bits - 1)`,
/// `q = clip(trunc((x - min) * (1/d) + 0.5), 0, 2^bits - 1)`, all float32; `m` is `min` as float16.
public struct AffineLegacyCodec: RowCodec {
    /// Q4_1 or Q5_1.
    public let type: GGMLType
    /// 4 for Q4_1, 5 for Q5_1.
    @usableFromInline let bits: Int

    /// The codec for `.q4_1` or `.q5_1`; nil for any other type.
    public init?(_ type: GGMLType) {
        guard let bits = LegacyBlock.width(of: type, fourBit: .q4_1, fiveBit: .q5_1) else { return nil }
        self.type = type
        self.bits = bits
    }

    /// Without `importance`, gguf-py's round to nearest over any number of blocks; with it,
    /// `count` is one row and `importance` its `count` column weights, quantized as llama.cpp
    /// does with an importance matrix (``WeightedLegacyBlock``).
    public func quantize(_ source: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer,
                         count: Int, importance: UnsafePointer<Float>?) {
        precondition(count % LegacyBlock.size == 0, "\(type.name) rows hold whole blocks of 32")
        if let importance {
            WeightedLegacyBlock.quantizeAffine(source, importance, destination, count: count, bits: bits)
            return
        }
        LegacyBlock.withConstantWidth(bits) { Self.quantize(source, destination, blocks: count / 32, bits: $0) }
    }

    @inline(__always)
    static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer,
                         blocks: Int, bits: Int) {
        let top = Float((1 << bits) - 1)
        let stride = bits == 4 ? 20 : 24
        for b in 0..<blocks {
            let x = source + 32 * b
            let block = destination + stride * b
            let (mn, mx) = LegacyBlock.minMax(x)
            let d = (mx - mn) / top
            let id = LegacyBlock.inverse(d)
            LegacyBlock.storeHalf(d, block, at: 0)
            LegacyBlock.storeHalf(mn, block, at: 2)
            let high = LegacyBlock.encodeCodes(x, shift: mn, scale: id, offset: 0.5, top: top,
                                               fiveBits: bits == 5, into: block + (bits == 4 ? 4 : 8))
            if bits == 5 { block.storeBytes(of: high.littleEndian, toByteOffset: 4, as: UInt32.self) }
        }
    }

    /// Decodes whole blocks of 32.
    public func dequantize(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count % LegacyBlock.size == 0, "\(type.name) rows hold whole blocks of 32")
        let stride = type.bytesPerBlock
        for b in 0..<(count / 32) {
            let block = source + stride * b
            let d = LegacyBlock.loadHalf(block, at: 0)
            let m = LegacyBlock.loadHalf(block, at: 2)
            if bits == 4 {
                LegacyBlock.decode(block + 4, high: nil, centre: 0, scale: d, offset: m, into: destination + 32 * b)
            } else {
                let high = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
                LegacyBlock.decode(block + 8, high: high, centre: 0, scale: d, offset: m, into: destination + 32 * b)
            }
        }
    }
}
