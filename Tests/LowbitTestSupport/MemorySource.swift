import LowbitFormats

/// A ``TensorSource`` over one byte buffer in memory, tensors at offsets inside it.
public struct MemorySource: TensorSource {
    /// The path reported by the source (tensors carry their own `file`).
    public var path: String
    /// The format reported by the source.
    public var format: ModelFormat
    /// The metadata reported by the source.
    public var metadata: [(key: String, value: MetadataValue)]
    /// The tensors, with offsets and byte counts into ``data``.
    public var tensors: [TensorInfo]
    /// The bytes all tensors live in.
    public var data: [UInt8]

    /// A source of `tensors` over `data`, as given (however they lie about their bytes).
    public init(path: String = "memory", format: ModelFormat = .gguf,
                metadata: [(key: String, value: MetadataValue)] = [], tensors: [TensorInfo], data: [UInt8]) {
        self.path = path
        self.format = format
        self.metadata = metadata
        self.tensors = tensors
        self.data = data
    }

    /// A safetensors-like source of 1-D BF16 tensors, one per `(name, values)`, stored back to back
    /// in file `memory`.
    public init(bf16 arrays: [(String, [Float])]) {
        var data: [UInt8] = []
        var tensors: [TensorInfo] = []
        for (name, values) in arrays {
            let encoded = FloatFormat.bf16.encode(values)
            tensors.append(TensorInfo(name: name, type: .safetensors(.BF16), shape: [values.count],
                                      offset: data.count, byteCount: encoded.count, file: "memory"))
            data += encoded
        }
        self.init(format: .safetensors, tensors: tensors, data: data)
    }

    /// Calls `body` with the bytes of `tensor` (traps if its range lies outside ``data``).
    public func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try data.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[tensor.byteRange])) }
    }

    /// Does nothing: memory is not mapped.
    public func release(_ tensor: TensorInfo) {}
}
