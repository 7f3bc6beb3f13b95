/// Bulk conversion between the plain float formats and `Float`.
///
/// Sources may be unaligned (safetensors requires no alignment). Decoding is exact for every
/// format (each value is representable as a `Float`, except F64, which rounds to nearest even).
/// Encoding rounds to nearest even: F16 through the hardware conversion (`Float16(x)`), BF16
/// and the FP8 formats with the integer bit manipulation of ``BFloat16Bits`` and ``FP8``,
/// bit-exact with `ml_dtypes`.
extension FloatFormat {
    /// Decodes `count` elements stored at `source` (any alignment) into `destination`.
    public func decode(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count >= 0, "negative element count")
        switch self {
        case .f32:
            UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
        case .f16:
            for i in 0..<count {
                let bits = source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                destination[i] = Float(Float16(bitPattern: bits))
            }
        case .bf16:
            for i in 0..<count {
                let bits = source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                destination[i] = BFloat16Bits.toFloat(bits)
            }
        case .f64:
            for i in 0..<count {
                let bits = source.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)
                destination[i] = Float(Double(bitPattern: bits))
            }
        case .f8e4m3:
            let bytes = source.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { destination[i] = FP8.float(e4m3: bytes[i]) }
        case .f8e5m2:
            let bytes = source.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { destination[i] = FP8.float(e5m2: bytes[i]) }
        case .f8e8m0:
            let bytes = source.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { destination[i] = FP8.float(e8m0: bytes[i]) }
        }
    }

    /// Encodes `count` floats from `source` into `destination` (any alignment) in this format.
    public func encode(_ source: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer, count: Int) {
        precondition(count >= 0, "negative element count")
        switch self {
        case .f32:
            destination.copyMemory(from: source, byteCount: count * 4)
        case .f16:
            for i in 0..<count {
                destination.storeBytes(of: Float16(source[i]).bitPattern, toByteOffset: 2 * i, as: UInt16.self)
            }
        case .bf16:
            for i in 0..<count {
                destination.storeBytes(of: BFloat16Bits.fromFloat(source[i]), toByteOffset: 2 * i, as: UInt16.self)
            }
        case .f64:
            for i in 0..<count {
                destination.storeBytes(of: Double(source[i]).bitPattern, toByteOffset: 8 * i, as: UInt64.self)
            }
        case .f8e4m3:
            let bytes = destination.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { bytes[i] = FP8.e4m3(source[i]) }
        case .f8e5m2:
            let bytes = destination.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { bytes[i] = FP8.e5m2(source[i]) }
        case .f8e8m0:
            let bytes = destination.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { bytes[i] = FP8.e8m0(source[i]) }
        }
    }

    /// Decodes a whole byte buffer, whose size must be a multiple of ``byteWidth``.
    public func decode(_ bytes: UnsafeRawBufferPointer) -> [Float] {
        precondition(bytes.count % byteWidth == 0,
                     "\(bytes.count) bytes are not a whole number of \(byteWidth)-byte elements")
        let count = bytes.count / byteWidth
        guard count > 0, let base = bytes.baseAddress else { return [] }
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            decode(base, into: buffer.baseAddress!, count: count)
            initialized = count
        }
    }

    /// Encodes `values` into bytes of this format.
    public func encode(_ values: [Float]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: values.count * byteWidth) { buffer, initialized in
            values.withUnsafeBufferPointer { source in
                if let s = source.baseAddress, let d = buffer.baseAddress {
                    encode(s, into: UnsafeMutableRawPointer(d), count: values.count)
                }
            }
            initialized = values.count * byteWidth
        }
    }
}
