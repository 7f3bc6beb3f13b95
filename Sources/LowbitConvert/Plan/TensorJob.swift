import LowbitFormats
import LowbitQuant

/// How the values of one output weight are stored.
public enum OutputEncoding: Sendable {
    /// The source bytes unchanged (tensors already in their output type, non-float tensors).
    case copy
    /// The values encoded with a layout (GGUF block or float type, plain floats, FP8, packed INT,
    /// MLX affine, or any other ``WeightLayout``).
    case encode(any WeightLayout)

    /// The layout that encodes the values (nil for copies).
    public var layout: (any WeightLayout)? {
        if case .encode(let layout) = self { return layout }
        return nil
    }

    /// Whether values are quantized (lossy beyond a float cast).
    public var isQuantized: Bool { layout?.isQuantized ?? false }

    /// A short name for plans and summaries.
    public var name: String { layout?.name ?? "copy" }
}

/// The source of an output tensor's values.
public enum JobInput: Sendable {
    /// A tensor of the input model.
    case tensor(TensorInfo)
    /// Values Lowbit computes (e.g. `rope_freqs.weight` for Llama 3.1).
    case values([Float])
}

/// One step of a conversion: a source tensor, what it becomes, and the output tensors it fills.
public struct TensorJob: Sendable {
    /// Where the values come from.
    public var input: JobInput
    /// Name of the output weight (for quantized safetensors layouts, the `.weight` name whose
    /// prefix names the parts).
    public var outputName: String
    /// Rows of the matrix view (1 for vectors).
    public var rows: Int
    /// Values per row of the matrix view.
    public var rowLength: Int
    /// How the values are stored.
    public var encoding: OutputEncoding
    /// When set, Q/K rows are reordered within heads of this many rows, in this direction.
    public var rotary: (heads: Int, toGGUF: Bool)?
    /// Why the encoding was chosen (fallbacks and overrides are reported).
    public var reason: TypeChoiceReason
    /// The output tensors, in the order their bytes are written.
    public var outputs: [PlannedTensor]
    /// Per-column importance weights (one per value of a row) that the layout's quantizer
    /// weights its error with, from an importance matrix; nil quantizes without. A weight of k
    /// stacked matrices (experts) has k vectors one after the other: matrix m's `rows / k`
    /// rows use the m-th.
    public var importance: [Float]? = nil
    /// The rescaling applied to the decoded source values before anything else (see
    /// ``WeightTransforms``); nil for none.
    public var transform: WeightTransform? = nil

    /// Name of the input tensor, or of the output for computed values.
    public var sourceName: String {
        if case .tensor(let t) = input { return t.name }
        return outputName
    }

    /// Bytes the job reads from the input.
    public var inputBytes: Int {
        if case .tensor(let t) = input { return t.byteCount }
        return 0
    }

    /// Bytes the job writes.
    public var outputBytes: Int { outputs.reduce(0) { $0 + ($1.byteCount ?? 0) } }
}
