import LowbitFormats

/// One way of storing a weight's values in an output file: GGUF block types, plain floats,
/// compressed-tensors `float-quantized` and `pack-quantized`, MLX affine.
///
/// Writing: a conversion streams a weight through its layout strip by strip:
/// ``plan(name:rows:columns:shape:)`` declares the output tensors up front,
/// ``encode(_:rowLength:tensorAbsmax:importance:name:trailer:)`` turns each strip of whole rows
/// into the bytes of the first tensor (and keeps what the trailing tensors need in a
/// ``LayoutTrailer``), ``finish(_:rows:columns:)`` gives the trailing tensors (scales, shapes,
/// zero points, biases), and ``configEntry`` is what the layout adds to `config.json`.
///
/// Reading back: ``recognise(_:in:)`` finds the weights a checkpoint stores with the layout (the
/// one place that knows its part names), ``dequantize(_:from:)`` rebuilds their values and
/// ``verify(_:in:)`` checks them. `lowbit verify` and ``QuantizedCheckpointView`` go through
/// ``WeightLayouts/registered``, the converter through the layout a plan chose.
///
/// A new layout is one conforming type plus its line in ``WeightLayouts/registered`` (and, to
/// offer it as a `--type`, its entry in LowbitConvert's `TargetType` table).
public protocol WeightLayout: Sendable {
    /// The name plans and summaries print (`Q4_K`, `BF16`, `FP8_E4M3`, `INT4_G128`, `MLX_INT4_G64`).
    var name: String { get }
    /// Whether values are quantized (lossy beyond a float cast).
    var isQuantized: Bool { get }
    /// Strips hold a multiple of this many rows (FP8 blocks must not straddle strips).
    var stripRowMultiple: Int { get }
    /// Whether ``encode(_:rowLength:tensorAbsmax:importance:name:trailer:)`` needs the absolute maximum of
    /// the whole weight (FP8 per tensor), found in a first pass over the strips.
    var needsTensorAbsmax: Bool { get }
    /// What the layout adds to `config.json` for a weight stored with it, if anything.
    var configEntry: LayoutConfigEntry? { get }

    /// The layout to store a weight with rows of `rowLength` values: this one, a variant that
    /// fits the rows (INT layouts fall back to a smaller group size), or none.
    func fitted(toRowLength rowLength: Int) -> LayoutFit

    /// The output tensors of the weight `name` (`X.weight`) of `rows` x `columns`, in the order
    /// their bytes are written; `shape` is the weight's shape as the output format stores it.
    func plan(name: String, rows: Int, columns: Int, shape: [Int]) -> [PlannedTensor]

    /// Encodes a strip of whole rows of `rowLength` values into the bytes of the first planned
    /// tensor, adding the scales and offsets the trailing tensors need to `trailer`.
    /// `importance`, when given, holds one weight per column (`rowLength` values, from an
    /// importance matrix) for the quantizer's error; layouts that have no use for it ignore it.
    /// - Throws: when a block type cannot hold the rows (see ``TensorEncoder``).
    func encode(_ values: [Float], rowLength: Int, tensorAbsmax: Float?, importance: [Float]?, name: String,
                trailer: inout LayoutTrailer) throws -> EncodedStrip

    /// The trailing tensors' bytes once every strip is encoded (none for most layouts).
    func finish(_ trailer: LayoutTrailer, rows: Int, columns: Int) -> [[UInt8]]

    /// The weight stored with this layout whose first part (in plan order) is `tensor`, with
    /// the layout's parameters read from the parts; nil when `tensor` is not such a first part.
    /// - Throws: `FormatError` (``StoredCheckpoint/badParts(_:_:)``) naming the file and the part
    ///   when the parts are missing or disagree, so that nothing downstream reads out of bounds.
    static func recognise(_ tensor: TensorInfo, in checkpoint: StoredCheckpoint) throws -> StoredWeight?

    /// The values `weight` (recognised by this layout) stands for: `rows x columns` floats,
    /// row-major.
    /// - Throws: when a part cannot be read or decoded.
    func dequantize(_ weight: StoredWeight, from source: any TensorSource) throws -> [Float]

    /// The problems of `weight` (recognised by this layout) beyond what ``recognise(_:in:)``
    /// checks: parts that do not decode, values that are NaN or infinite. Empty when it is sound.
    func verify(_ weight: StoredWeight, in source: any TensorSource) -> [LayoutProblem]
}

extension WeightLayout {
    /// Any number of rows per strip.
    public var stripRowMultiple: Int { 1 }
    /// No first pass over the weight.
    public var needsTensorAbsmax: Bool { false }
    /// Nothing in `config.json`.
    public var configEntry: LayoutConfigEntry? { nil }
    /// Any row fits.
    public func fitted(toRowLength rowLength: Int) -> LayoutFit { .fits(self, note: nil) }
    /// No trailing tensors.
    public func finish(_ trailer: LayoutTrailer, rows: Int, columns: Int) -> [[UInt8]] { [] }

    /// Decodes every part stored as floats or GGUF blocks (codes, scales, biases) strip by strip
    /// and counts its non-finite values; integer parts (packed words, shapes, zero points) have
    /// no values to check beyond the agreement ``recognise(_:in:)`` enforces.
    /// Every part is released afterwards, so verifying a large model keeps little of it in memory.
    public func verify(_ weight: StoredWeight, in source: any TensorSource) -> [LayoutProblem] {
        defer { weight.parts.forEach(source.release) }
        return weight.parts.filter { TensorDecoder.canDecode($0.type) }.flatMap { StoredParts.checkDecodes($0, in: source) }
    }
}

/// What a weight's encoder carries from strip to strip for the tensors written after the
/// strips: per-group scales and offsets (zero points or biases), in row order.
public struct LayoutTrailer: Sendable {
    /// Scales of the strips encoded so far (for FP8 per tensor, the one scale).
    public var scales: [Float] = []
    /// Zero points or biases of the strips encoded so far.
    public var offsets: [Float] = []

    /// An empty trailer, for a weight's first strip.
    public init() {}
}

/// One encoded strip: its bytes, and how to read them back (for `--error-metrics`).
public struct EncodedStrip {
    /// The strip's bytes, in the first planned tensor.
    public var bytes: [UInt8]
    /// Writes the values the bytes stand for into a buffer of the strip's size.
    public var dequantize: (UnsafeMutableBufferPointer<Float>) throws -> Void

    /// A strip of `bytes` read back by `dequantize`.
    public init(bytes: [UInt8], dequantize: @escaping (UnsafeMutableBufferPointer<Float>) throws -> Void) {
        self.bytes = bytes
        self.dequantize = dequantize
    }
}

/// Whether a layout can store a weight's rows (``WeightLayout/fitted(toRowLength:)``).
public enum LayoutFit: Sendable {
    /// Store the weight with `layout`; `note` says why it differs from the one asked for.
    case fits(any WeightLayout, note: String?)
    /// The layout cannot store such rows, for `reason`: the weight stays unquantized.
    case doesNotFit(reason: String)
}

/// What a layout adds to a Hugging Face `config.json`.
public enum LayoutConfigEntry: Equatable, Sendable {
    /// A compressed-tensors config group: its `weights` arguments and `format`; weights with equal
    /// arguments share a group of `quantization_config`.
    case compressedTensors(weights: JSONValue, format: String)
    /// MLX's `quantization` object.
    case mlx(JSONValue)
}
