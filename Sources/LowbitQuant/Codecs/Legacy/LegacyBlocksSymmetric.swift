import LowbitFormats

/// GGUF `Q4_0` and `Q5_0`: blocks of 32 weights with one float16 scale and unsigned codes
/// centred on 8 (4 bits) or 16 (5 bits); the weight is `d * (q - centre)`.
///
/// Layouts: Q4_0 = `d` (2 bytes) + 16 bytes of nibbles (18 bytes); Q5_0 = `d` + `qh` (4 bytes,
/// bit j = fifth bit of code j) + 16 bytes of low nibbles (22 bytes). Byte j of the nibbles holds
/// code j (low) and code j + 16 (high).
///
/// Quantization (gguf-py): `max` = the element of largest magnitude (first on ties),
/// `d = max / -centre`, `q = clip(trunc(x * (1/d) + centre + 0.5), 0, 2*centre - 1)`, all float32.
public struct SymmetricLegacyCodec: RowCodec {
    /// Q4_0 or Q5_0.
    public let type: GGMLType
    /// 4 for Q4_0, 5 for Q5_0.
    @usableFromInline let bits: Int

    /// The codec for `.q4_0` or `.q5_0`; nil for any other type.
    public init?(_ type: GGMLType) {
        guard let bits = LegacyBlock.width(of: type, fourBit: .q4_0, fiveBit: .q5_0) else { return nil }
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
            WeightedLegacyBlock.quantizeSymmetric(source, importance, destination, count: count, bits: bits)
            return
        }
        LegacyBlock.withConstantWidth(bits) { Self.quantize(source, destination, blocks: count / 32, bits: $0) }
    }

    @inline(__always)
    static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer,
                         blocks: Int, bits: Int) {
        let centre = Float(1 << (bits - 1))
        let top = Float((1 << bits) - 1)
        let stride = bits == 4 ? 18 : 22
        for b in 0..<blocks {
            let x = source + 32 * b
            let block = destination + stride * b
            let d = LegacyBlock.signedAbsMax(x) / -centre
            let id = LegacyBlock.inverse(d)
            LegacyBlock.storeHalf(d, block, at: 0)
            let high = LegacyBlock.encodeCodes(x, shift: 0, scale: id, offset: centre + 0.5, top: top,
                                               fiveBits: bits == 5, into: block + (bits == 4 ? 2 : 6))
            if bits == 5 { block.storeBytes(of: high.littleEndian, toByteOffset: 2, as: UInt32.self) }
        }
    }

    /// Decodes whole blocks of 32.
    public func dequantize(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count % LegacyBlock.size == 0, "\(type.name) rows hold whole blocks of 32")
        let centre = Int32(1 << (bits - 1))
        let stride = type.bytesPerBlock
        for b in 0..<(count / 32) {
            let block = source + stride * b
            let d = LegacyBlock.loadHalf(block, at: 0)
            if bits == 4 {
                LegacyBlock.decode(block + 2, high: nil, centre: centre, scale: d, offset: -0.0, into: destination + 32 * b)
            } else {
                let high = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
                LegacyBlock.decode(block + 6, high: high, centre: centre, scale: d, offset: -0.0, into: destination + 32 * b)
            }
        }
    }
}
