/// A model file (or a set of shards) that holds named tensors: the one view of GGUF files,
/// safetensors files and sharded safetensors checkpoints that the rest of Lowbit works with.
public protocol TensorSource: Sendable {
    /// The path the source was opened from.
    var path: String { get }
    var format: ModelFormat { get }
    /// Metadata in file order: GGUF key-values, or safetensors `__metadata__` strings.
    var metadata: [(key: String, value: MetadataValue)] { get }
    /// Tensors in file order.
    var tensors: [TensorInfo] { get }
    /// Calls `body` with the raw bytes of `tensor` (zero-copy, from the mapping).
    func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R
    /// Drops the mapped pages of `tensor` from memory once it has been processed.
    func release(_ tensor: TensorInfo)
    /// Checks, before `tensor` is read, that the file holding it has not shrunk since it was
    /// mapped (reading a missing page would raise SIGBUS); throws a ``FormatError`` naming the
    /// file and tensor if it has. Returns a warning (once per file) if the path now names a
    /// different file, which is harmless: the opened file is still mapped and read.
    func checkIntact(_ tensor: TensorInfo) throws -> String?
}

extension TensorSource {
    /// Sources that are not mapped files have nothing to check.
    public func checkIntact(_ tensor: TensorInfo) throws -> String? { nil }

    /// The metadata value for `key`, if present.
    public func metadataValue(_ key: String) -> MetadataValue? {
        metadata.first(where: { $0.key == key })?.value
    }

    /// The tensor named `name`, if present.
    public func tensor(named name: String) -> TensorInfo? {
        tensors.first(where: { $0.name == name })
    }
}
