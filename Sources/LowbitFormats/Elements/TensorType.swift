/// The element or block type of a tensor, in whichever format holds it.
public enum TensorType: Hashable, Sendable, CustomStringConvertible {
    case ggml(GGMLType)
    case safetensors(SafetensorsDType)

    /// The spelling used by the format that stores it (`Q4_1`, `F32`, `BF16`, `F8_E4M3`).
    public var name: String {
        switch self {
        case .ggml(let t): t.name
        case .safetensors(let t): t.name
        }
    }

    /// The type's name, as ``name``.
    public var description: String { name }

    /// The plain float format of this type, if it is one Lowbit decodes element by element.
    public var floatFormat: FloatFormat? {
        switch self {
        case .ggml(.f32), .safetensors(.F32): .f32
        case .ggml(.f16), .safetensors(.F16): .f16
        case .ggml(.bf16), .safetensors(.BF16): .bf16
        case .ggml(.f64), .safetensors(.F64): .f64
        case .safetensors(.F8_E4M3): .f8e4m3
        case .safetensors(.F8_E5M2): .f8e5m2
        case .safetensors(.F8_E8M0): .f8e8m0
        default: nil
        }
    }

    /// The number of bytes `elements` elements take, or nil if the count does not fill whole
    /// blocks (or whole bytes) or the size overflows.
    public func byteCount(elements: Int) -> Int? {
        guard elements >= 0 else { return nil }
        switch self {
        case .ggml(let t):
            guard elements % t.blockSize == 0 else { return nil }
            let (bytes, overflow) = (elements / t.blockSize).multipliedReportingOverflow(by: t.bytesPerBlock)
            return overflow ? nil : bytes
        case .safetensors(let t):
            let (bits, overflow) = elements.multipliedReportingOverflow(by: t.bitsPerElement)
            guard !overflow, bits % 8 == 0 else { return nil }
            return bits / 8
        }
    }
}

/// Which container format a file is.
public enum ModelFormat: String, Sendable {
    case gguf, safetensors
}
