import LowbitFormats
import LowbitQuant

/// Decodes rows of a stored tensor to `Float`, whatever its type (through LowbitQuant's
/// ``TensorDecoder``, which decodes large requests in parallel itself).
enum WeightDecoding {
    /// Decodes rows `rows` of `tensor` (its matrix view) into `destination`, which holds exactly
    /// `rows.count × tensor.rowLength` floats.
    static func decode(_ tensor: TensorInfo, from source: any TensorSource, rows: Range<Int>,
                       into destination: UnsafeMutableBufferPointer<Float>) throws {
        guard TensorDecoder.canDecode(tensor.type) else {
            throw EvalError(.unsupportedModel, file: source.path, item: tensor.name,
                            "tensors of type \(tensor.type) cannot be decoded, so the model cannot be evaluated")
        }
        try TensorDecoder.decode(tensor, from: source, rows: rows, into: destination)
    }
}
