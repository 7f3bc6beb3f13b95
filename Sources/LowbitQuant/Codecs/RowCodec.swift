import LowbitFormats

/// Quantizes and dequantizes one GGUF block type, a row (or any whole number of blocks) at a time.
///
/// Kernels work on raw buffers; ``GGUFCodecs`` and the tensor-level APIs wrap them safely.
/// A row of `count` elements (a multiple of `type.blockSize`) takes
/// `count / type.blockSize * type.bytesPerBlock` bytes.
public protocol RowCodec: Sendable {
    /// The block type this codec reads and writes.
    var type: GGMLType { get }
    /// Quantizes `count` floats from `source` into blocks at `destination`.
    /// `importance`, when given, weights each column's squared error (an importance matrix): it
    /// holds `count` weights and `count` is then exactly one row, since some codecs (the legacy
    /// blocks) scale the weights by the whole row's mean square. Codecs that have no use for it
    /// ignore it.
    func quantize(_ source: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer,
                  count: Int, importance: UnsafePointer<Float>?)
    /// Decodes `count` floats from the blocks at `source` into `destination`.
    func dequantize(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int)
}
