import LowbitFormats
import LowbitQuant

/// Codes, scales and offsets that a calibrated method (GPTQ) chose for some of the input's
/// tensors, given to the converter through ``ConversionOptions/calibratedEncodings``: a job
/// whose layout is an INT layout (``IntGroupWeightLayout``: compressed-tensors pack-quantized,
/// MLX affine) packs them strip by strip instead of rounding its values.
///
/// The converter defines this seam and never learns how the results were made: calibration
/// lives in another module, and the command line composes the two.
public protocol CalibratedEncodings: Sendable {
    /// The method's name for summaries (`gptq`).
    var method: String { get }

    /// Members of the compressed-tensors `weights` arguments that the method changes (GPTQ's
    /// `actorder`), for the config groups of the weights it encoded.
    var weightsArguments: [(key: String, value: JSONValue)] { get }

    /// Whether the source tensor `name` (as the input names it) has a result.
    func contains(_ name: String) -> Bool

    /// The result for the source tensor `name`, its rows in the input's row order, on the grid
    /// `quantizer` of a weight of `rows × columns`; nil when the method did not encode it.
    ///
    /// - Throws: ``ConvertError`` naming the tensor when the stored result cannot be read or
    ///   was made on another grid or shape.
    func result(for name: String, quantizer: IntGroupQuantizer, rows: Int, columns: Int) throws -> IntGroupQuantizer.Result?
}
