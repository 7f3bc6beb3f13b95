import LowbitFormats

/// A safetensors tensor of plain floats (F32, F16, BF16, F64 when written; any float dtype,
/// F8 included, when read back): a cast, not a quantization.
public struct FloatLayout: WeightLayout {
    /// The tensor's dtype.
    public let dtype: SafetensorsDType

    /// The layout of `dtype`.
    public init(_ dtype: SafetensorsDType) {
        self.dtype = dtype
    }

    /// The name plans and summaries print.
    public var name: String { dtype.name }
    /// Whether values are quantized (lossy beyond a float cast).
    public var isQuantized: Bool { false }

    /// The output tensors of the weight `name`, in the order they are written.
    public func plan(name: String, rows: Int, columns: Int, shape: [Int]) -> [PlannedTensor] {
        [PlannedTensor(name: name, type: .safetensors(dtype), shape: shape)]
    }

    /// Encodes a strip of whole rows into the bytes of the first planned tensor.
    public func encode(_ values: [Float], rowLength: Int, tensorAbsmax: Float?, importance: [Float]?, name: String,
                       trailer: inout LayoutTrailer) throws -> EncodedStrip {
        Self.encode(values, as: TensorType.safetensors(dtype).floatFormat ?? .f32)
    }

    /// `values` cast to `format`, read back by the inverse cast.
    static func encode(_ values: [Float], as format: FloatFormat) -> EncodedStrip {
        let bytes = format.encode(values)
        return EncodedStrip(bytes: bytes) { d in
            let decoded = bytes.withUnsafeBytes { format.decode($0) }
            for i in 0..<min(d.count, decoded.count) { d[i] = decoded[i] }
        }
    }

    /// Any safetensors tensor of a float dtype: one part, the tensor itself.
    public static func recognise(_ tensor: TensorInfo, in checkpoint: StoredCheckpoint) throws -> StoredWeight? {
        guard case .safetensors(let dtype) = tensor.type, tensor.type.floatFormat != nil else { return nil }
        return StoredWeight(name: tensor.name, rows: tensor.rowCount, columns: tensor.rowLength, parts: [tensor],
                            layout: FloatLayout(dtype))
    }

    /// Casts the values to F32.
    public func dequantize(_ weight: StoredWeight, from source: any TensorSource) throws -> [Float] {
        try TensorDecoder.decode(weight.parts[0], from: source)
    }
}
