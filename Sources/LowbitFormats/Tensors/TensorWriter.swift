/// A tensor an output file will hold, declared before any data is written.
public struct PlannedTensor: Sendable, Hashable {
    /// The tensor's name in the output.
    public var name: String
    /// The element or block type the data will have.
    public var type: TensorType
    /// Dimensions in the order the output format stores them (GGUF: `ne` order, fastest first;
    /// safetensors: row-major, slowest first).
    public var shape: [Int]

    /// A tensor named `name` of `type` and `shape`.
    public init(name: String, type: TensorType, shape: [Int]) {
        self.name = name
        self.type = type
        self.shape = shape
    }

    /// Bytes of data, or nil if the shape does not fit the type.
    public var byteCount: Int? { type.byteCount(elements: shape.reduce(1, *)) }
}

/// A streaming writer of a model file: it is given the whole plan (names, types, shapes) up
/// front, so the header is written once, then receives the data of each tensor in plan order,
/// in as many pieces as the caller likes. Nothing appears under the final path until
/// ``finish()`` succeeds (see ``AtomicFile``).
public protocol TensorWriter: AnyObject {
    /// The final path of the output.
    var path: String { get }
    /// Appends the next bytes of tensor data. Pieces may split tensors anywhere; the writer
    /// inserts any padding the format needs between tensors and throws if more bytes arrive
    /// than the plan holds.
    func append(_ bytes: UnsafeRawBufferPointer) throws
    /// Checks that every planned byte was written, flushes, and moves the file into place.
    func finish() throws
}
