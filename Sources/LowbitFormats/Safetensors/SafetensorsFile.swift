/// One safetensors file, memory-mapped, with a validated header (see ``SafetensorsHeader``).
///
/// Tensor bytes are handed out straight from the mapping, without copying. safetensors does
/// not align tensor data, so read elements with unaligned loads.
public final class SafetensorsFile: TensorSource {
    /// The path the file was opened with.
    public let path: String
    /// Always ``ModelFormat/safetensors``.
    public var format: ModelFormat { .safetensors }
    /// `__metadata__` entries as ``MetadataValue/string(_:)``, in header order.
    public let metadata: [(key: String, value: MetadataValue)]
    /// Tensors in file order (by offset); ``TensorInfo/offset`` is absolute in the file.
    public let tensors: [TensorInfo]
    /// The parsed header.
    public let header: SafetensorsHeader
    private let mapped: MappedFile

    /// Maps and validates the file at `path`.
    /// - Throws: ``FormatError`` naming the file (and tensor or key) for any violation.
    public init(path: String) throws {
        let mapped = try MappedFile(path: path)
        let header = try mapped.withBytes(0..<mapped.count) {
            try SafetensorsHeader(prefix: $0, fileSize: mapped.count, path: path)
        }
        self.path = path
        self.mapped = mapped
        self.header = header
        self.metadata = header.metadata
        self.tensors = header.tensors
    }

    /// The size of the file in bytes.
    public var fileSize: Int { mapped.count }

    /// Calls `body` with the tensor's bytes, straight from the mapping; throws if the tensor is not
    /// in this file or its range is not inside it.
    public func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try checkOwnership(tensor)
        return try mapped.withBytes(tensor.byteRange, item: tensor.name, body)
    }

    /// Checks that the file has not shrunk or been replaced since it was opened (see
    /// ``MappedFile/checkIntact(item:)``).
    public func checkIntact(_ tensor: TensorInfo) throws -> String? {
        try mapped.checkIntact(item: tensor.name)
    }

    /// Lets the kernel drop the tensor's pages from memory.
    public func release(_ tensor: TensorInfo) {
        guard tensor.file == path else { return }
        mapped.release(tensor.byteRange)
    }

    /// Asks the kernel to read `tensor`'s pages ahead of use.
    public func willNeed(_ tensor: TensorInfo) {
        guard tensor.file == path else { return }
        mapped.willNeed(tensor.byteRange)
    }

    /// Throws unless `tensor` describes bytes inside this file's data section.
    private func checkOwnership(_ tensor: TensorInfo) throws {
        guard tensor.file == path else {
            throw FormatError(.missingTensor, file: path, item: tensor.name,
                "tensor belongs to \(tensor.file), not to this file")
        }
        guard tensor.offset >= header.dataOffset, tensor.byteCount >= 0,
              tensor.byteCount <= mapped.count - tensor.offset else {
            throw FormatError(.badOffset, file: path, item: tensor.name,
                "byte range \(tensor.offset)+\(tensor.byteCount) lies outside the data section")
        }
    }
}
