import LowbitFormats

/// A GGUF tensor of one GGML type: a float type (F32, F16, BF16) or a block type with a codec in
/// ``GGUFCodecs``, quantized row by row with ``TensorEncoder``.
public struct GGUFBlockLayout: WeightLayout {
    /// The tensor's type.
    public let type: GGMLType

    /// The layout of `type`.
    public init(_ type: GGMLType) {
        self.type = type
    }

    /// The name plans and summaries print.
    public var name: String { type.name }
    /// Whether values are quantized (lossy beyond a float cast).
    public var isQuantized: Bool { !type.isFloat }

    /// The output tensors of the weight `name`, in the order they are written.
    public func plan(name: String, rows: Int, columns: Int, shape: [Int]) -> [PlannedTensor] {
        [PlannedTensor(name: name, type: .ggml(type), shape: shape)]
    }

    /// Encodes a strip of whole rows into the bytes of the first planned tensor.
    public func encode(_ values: [Float], rowLength: Int, tensorAbsmax: Float?, importance: [Float]?, name: String,
                       trailer: inout LayoutTrailer) throws -> EncodedStrip {
        if let format = TensorType.ggml(type).floatFormat {
            return FloatLayout.encode(values, as: format)
        }
        let type = self.type
        var encoded = [UInt8](repeating: 0, count: values.count / type.blockSize * type.bytesPerBlock)
        try values.withUnsafeBufferPointer { src in
            try encoded.withUnsafeMutableBytes { dst in
                try TensorEncoder.quantize(rows: src, rowLength: rowLength, as: type, into: dst, importance: importance,
                                           name: name)
            }
        }
        return EncodedStrip(bytes: encoded) { [encoded] d in
            try encoded.withUnsafeBytes { try TensorDecoder.decode($0, as: .ggml(type), into: d, name: name) }
        }
    }

    /// Any GGUF tensor of a type ``TensorDecoder`` reads: one part, the tensor itself.
    public static func recognise(_ tensor: TensorInfo, in checkpoint: StoredCheckpoint) throws -> StoredWeight? {
        guard case .ggml(let type) = tensor.type, TensorDecoder.canDecode(tensor.type) else { return nil }
        return StoredWeight(name: tensor.name, rows: tensor.rowCount, columns: tensor.rowLength, parts: [tensor],
                            layout: GGUFBlockLayout(type))
    }

    /// Decodes the blocks.
    public func dequantize(_ weight: StoredWeight, from source: any TensorSource) throws -> [Float] {
        try TensorDecoder.decode(weight.parts[0], from: source)
    }
}
