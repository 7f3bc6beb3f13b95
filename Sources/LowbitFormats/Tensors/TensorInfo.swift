/// One tensor of a model file: what it is and where its bytes are.
///
/// The same view serves both formats; `shape` keeps the order the file stores (GGUF: `ne`
/// order, fastest-varying dimension first; safetensors: row-major, slowest first). Use
/// ``rowLength`` and ``rowCount`` for a format-neutral view of the tensor as a matrix.
public struct TensorInfo: Sendable, Hashable {
    /// The tensor's name in the file.
    public var name: String
    /// The element or block type of the data.
    public var type: TensorType
    /// Dimensions in the order the file stores them.
    public var shape: [Int]
    /// Absolute byte offset of the data in ``file``.
    public var offset: Int
    /// Bytes of data.
    public var byteCount: Int
    /// Path of the file holding the data.
    public var file: String

    /// A tensor named `name` of `type` and `shape`, whose `byteCount` bytes start at `offset` in
    /// `file`.
    public init(name: String, type: TensorType, shape: [Int], offset: Int, byteCount: Int, file: String) {
        self.name = name
        self.type = type
        self.shape = shape
        self.offset = offset
        self.byteCount = byteCount
        self.file = file
    }

    /// The byte range of the data in ``file``.
    public var byteRange: Range<Int> { offset..<(offset + byteCount) }

    /// The product of the dimensions (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }

    /// Dimensions slowest first (row-major), whatever the format.
    public var rowMajorShape: [Int] {
        switch type {
        case .ggml: shape.reversed()
        case .safetensors: shape
        }
    }

    /// Length of the innermost (contiguous) dimension; 1 for a scalar.
    public var rowLength: Int { rowMajorShape.last ?? 1 }

    /// Number of rows of ``rowLength`` elements.
    public var rowCount: Int { rowLength == 0 ? 0 : elementCount / rowLength }
}
