import LowbitFormats

/// The tensors MLX (`mlx_lm`) expects for a quantized `Linear` weight `<prefix>.weight`:
///
/// - `weight`: `U32 [rows, cols * bits / 32]`, the codes `u` in `[0, 2^bits)` of each row as a
///   little-endian bit stream (element `i` at bits `i*bits`, lowest bits first);
/// - `scales`, `biases`: `[rows, cols / group]` in the checkpoint's float dtype;
///   `x ≈ u * scale + bias`.
///
/// The model's `config.json` gets `"quantization": {"group_size": G, "bits": B}`. MLX supports
/// group sizes 32, 64 (its default) and 128, and 2, 3, 4, 5, 6 and 8 bits.
public enum MLXLayout {
    /// Group sizes MLX's kernels accept.
    public static let supportedGroupSizes = [32, 64, 128]
    /// Bit widths MLX's kernels accept.
    public static let supportedBits = [2, 3, 4, 5, 6, 8]

    /// A quantizer with MLX's convention.
    public static func quantizer(bits: Int = 4, groupSize: Int = 64, scaleFormat: FloatFormat = .bf16,
                                 search: ScaleSearch? = nil) -> IntGroupQuantizer {
        precondition(supportedBits.contains(bits), "MLX does not support \(bits)-bit weights")
        precondition(supportedGroupSizes.contains(groupSize), "MLX does not support group size \(groupSize)")
        return IntGroupQuantizer(bits: bits, groupSize: groupSize, convention: .mlxAffine,
                                 scaleFormat: scaleFormat, search: search)
    }

    /// The tensors of a quantized weight: `weight`, `scales`, `biases`.
    public static func plan(prefix: String, rows: Int, columns: Int, quantizer q: IntGroupQuantizer) -> [PlannedTensor] {
        let groups = q.groupsPerRow(rowLength: columns)
        let scaleType = TensorType.safetensors(CompressedTensorsLayout.dtype(of: q.scaleFormat))
        return [
            PlannedTensor(name: prefix + ".weight", type: .safetensors(.U32),
                          shape: [rows, q.wordsPerRow(rowLength: columns)]),
            PlannedTensor(name: prefix + ".scales", type: scaleType, shape: [rows, groups]),
            PlannedTensor(name: prefix + ".biases", type: scaleType, shape: [rows, groups]),
        ]
    }

    /// All three tensors of a weight quantized as a whole.
    package static func parts(prefix: String, rows: Int, columns: Int, quantizer q: IntGroupQuantizer,
                             result: IntGroupQuantizer.Result) -> [QuantizedTensorPart] {
        guard q.convention == .mlxAffine, let biases = result.offsets else {
            preconditionFailure("MLX parts need an MLX quantizer")
        }
        let plan = plan(prefix: prefix, rows: rows, columns: columns, quantizer: q)
        return [
            QuantizedTensorPart(planned: plan[0], bytes: CompressedTensorsLayout.littleEndianBytes(result.packed)),
            QuantizedTensorPart(planned: plan[1], bytes: q.scaleFormat.encode(result.scales)),
            QuantizedTensorPart(planned: plan[2], bytes: q.scaleFormat.encode(biases)),
        ]
    }

    /// The `quantization` entry of an MLX `config.json`.
    public static func quantizationConfig(_ q: IntGroupQuantizer) -> JSONValue {
        .object([("group_size", .integer(Int64(q.groupSize))), ("bits", .integer(Int64(q.bits)))])
    }
}
