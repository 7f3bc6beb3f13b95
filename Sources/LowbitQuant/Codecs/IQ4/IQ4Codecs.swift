import LowbitFormats

/// IQ4_NL: 32 elements in 18 bytes (4.5 bits per weight): `d` (f16), then 16 bytes of indices into
/// the non-linear table (element `j` in the low nibble of byte `2+j`, element `16+j` in its high
/// nibble). Value = `d * table[index]`. Quantization reproduces llama.cpp bit for bit.
public struct IQ4NLCodec: RowCodec {
    /// The block type, `.iq4_nl`.
    public var type: GGMLType { .iq4_nl }

    /// An IQ4_NL codec (it holds no state).
    public init() {}

    /// Quantizes `count` floats (a multiple of 32) into IQ4_NL blocks, as llama.cpp does; with
    /// `importance`, the scale search weights each element's squared error by it.
    public func quantize(_ source: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer,
                         count: Int, importance: UnsafePointer<Float>?) {
        precondition(count % 32 == 0, "IQ4_NL rows must be a multiple of 32 elements")
        IQ4NonLinear.quantizeRow(source, count: count, superBlockSize: 32, importance: importance,
                                 into: destination, blockBytes: 18)
    }

    /// Decodes `count` floats (a multiple of 32) from IQ4_NL blocks.
    public func dequantize(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count % 32 == 0, "IQ4_NL rows must be a multiple of 32 elements")
        IQ4NonLinear.levels.withUnsafeBufferPointer { table in
            for b in 0..<(count / 32) {
                let block = source + 18 * b
                let d = KQuantMath.loadHalf(block, 0)
                IQ4NonLinear.decode((block + 2).assumingMemoryBound(to: UInt8.self), scale: d, table: table,
                                    into: destination + 32 * b)
            }
        }
    }
}

/// IQ4_XS: 256 elements in 136 bytes (4.25 bits per weight): `d` (f16), `scales_h` (u16: 2 high
/// bits of block `i`'s 6-bit scale at bits `2i`), `scales_l` (4 bytes: low nibble of block `2k`'s
/// scale in the low nibble of byte `k`, block `2k+1`'s in the high nibble), then 8 x 16 bytes of
/// indices packed like IQ4_NL. Value = `d * (scale - 32) * table[index]`.
/// Quantization reproduces llama.cpp's `quantize_iq4_xs` without importance bit for bit.
public struct IQ4XSCodec: RowCodec {
    /// The block type, `.iq4_xs`.
    public var type: GGMLType { .iq4_xs }

    /// An IQ4_XS codec (it holds no state).
    public init() {}

    /// Quantizes `count` floats (a multiple of 256) into IQ4_XS blocks, as llama.cpp does; with
    /// `importance`, the scale search weights each element's squared error by it.
    public func quantize(_ source: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer,
                         count: Int, importance: UnsafePointer<Float>?) {
        precondition(count % 256 == 0, "IQ4_XS rows must be a multiple of 256 elements")
        IQ4NonLinear.quantizeRow(source, count: count, superBlockSize: 256, importance: importance,
                                 into: destination, blockBytes: 136)
    }

    /// Decodes `count` floats (a multiple of 256) from IQ4_XS blocks.
    public func dequantize(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count % 256 == 0, "IQ4_XS rows must be a multiple of 256 elements")
        IQ4NonLinear.levels.withUnsafeBufferPointer { table in
            for b in 0..<(count / 256) {
                let block = source + 136 * b
                let bytes = block.assumingMemoryBound(to: UInt8.self)
                let d = KQuantMath.loadHalf(block, 0)
                let high = UInt16(bytes[2]) | UInt16(bytes[3]) << 8
                for ib in 0..<8 {
                    let low = (bytes[4 + ib / 2] >> (4 * UInt8(ib % 2))) & 0xF
                    let ls = Int32(low) | Int32((high >> (2 * ib)) & 3) << 4
                    let dl = d * Float(ls - 32)
                    IQ4NonLinear.decode(bytes + 8 + 16 * ib, scale: dl, table: table,
                                        into: destination + 256 * b + 32 * ib)
                }
            }
        }
    }
}
