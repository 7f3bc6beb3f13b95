/// Writes a GGUF version 3 file: the plan (metadata, tensor names, types, shapes) is given up
/// front, so the header with every tensor offset is written at once; tensor data then streams
/// through ``append(_:)`` in plan order, and ``finish()`` moves the file into place atomically.
///
/// Tensor data starts at a multiple of the alignment, and every tensor's data is padded with
/// zeros to the next multiple (the last one included), as llama.cpp and gguf-py do.
public final class GGUFWriter: TensorWriter {
    /// The final path of the output.
    public let path: String
    /// The alignment of tensor data.
    public let alignment: Int
    /// The absolute offset of each planned tensor's data, in plan order.
    public let tensorOffsets: [Int]
    /// The size the finished file will have.
    public let fileSize: Int
    private let plan: [PlannedTensor]
    private let byteCounts: [Int]
    private let output: AtomicFile
    /// The tensor receiving bytes, and how many it has received.
    private var current = 0
    private var receivedInCurrent = 0
    private var finished = false

    /// Validates the plan, creates the temporary output and writes the header.
    ///
    /// `general.alignment` is added to the metadata when `alignment` is not 32 and the metadata
    /// does not already hold it; if it does, it must be a `uint32` equal to `alignment`.
    /// Tensors must have a ggml type, at most 4 dimensions in `ne` order, and a row length
    /// (`shape[0]`) that is a multiple of the type's block size.
    public init(path: String, metadata: [(key: String, value: MetadataValue)], tensors: [PlannedTensor],
                alignment: Int = GGUFFormat.defaultAlignment) throws {
        guard GGUFFormat.isValidAlignment(alignment) else {
            throw FormatError(.badAlignment, file: path, "alignment \(alignment) is not a nonzero power of two below 2^32")
        }
        var encoder = GGUFEncoder(file: path)
        var keyValues = metadata
        try Self.checkKeys(keyValues, alignment: alignment, file: path)
        if alignment != GGUFFormat.defaultAlignment, !keyValues.contains(where: { $0.key == GGUFFormat.alignmentKey }) {
            keyValues.append((key: GGUFFormat.alignmentKey, value: .uint32(UInt32(alignment))))
        }
        encoder.appendMagicAndVersion()
        encoder.append(UInt64(tensors.count))
        encoder.append(UInt64(keyValues.count))
        for (key, value) in keyValues {
            try encoder.append(key: key, value: value)
        }

        var names = Set<String>()
        var byteCounts: [Int] = []
        var relativeOffsets: [Int] = []
        var next = 0
        for t in tensors {
            let (type, bytes) = try Self.check(t, file: path)
            guard names.insert(t.name).inserted else {
                throw FormatError(.duplicateName, file: path, item: t.name, "two planned tensors have this name")
            }
            guard let padded = GGUFFormat.align(bytes, to: alignment),
                  case (let after, false) = next.addingReportingOverflow(padded) else {
                throw FormatError(.overflow, file: path, item: t.name, "the data section would exceed 2^63 bytes")
            }
            relativeOffsets.append(next)
            byteCounts.append(bytes)
            encoder.append(string: t.name)
            encoder.append(UInt32(t.shape.count))
            for d in t.shape { encoder.append(UInt64(d)) }
            encoder.append(type.rawValue)
            encoder.append(UInt64(relativeOffsets.last!))
            next = after
        }
        let dataOffset = GGUFFormat.align(encoder.bytes.count, to: alignment)!
        encoder.appendZeros(dataOffset - encoder.bytes.count)
        guard case (let total, false) = dataOffset.addingReportingOverflow(next) else {
            throw FormatError(.overflow, file: path, "the file would exceed 2^63 bytes")
        }

        self.path = path
        self.alignment = alignment
        self.plan = tensors
        self.byteCounts = byteCounts
        self.tensorOffsets = relativeOffsets.map { $0 + dataOffset }
        self.fileSize = total
        output = try AtomicFile(path: path)
        try output.write(encoder.bytes)
        try advancePastEmptyTensors()
    }

    /// Appends the next bytes of tensor data (any split across tensors is fine).
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard !finished else {
            throw FormatError(.io, file: path, "data appended after finish()")
        }
        var rest = bytes
        while !rest.isEmpty {
            guard current < plan.count else {
                throw FormatError(.badSize, file: path,
                    "received \(rest.count) bytes more than the planned tensors hold")
            }
            let take = min(rest.count, byteCounts[current] - receivedInCurrent)
            try output.write(UnsafeRawBufferPointer(rebasing: rest[..<take]))
            receivedInCurrent += take
            rest = UnsafeRawBufferPointer(rebasing: rest[take...])
            try advancePastEmptyTensors()
        }
    }

    /// Appends the next bytes of tensor data.
    public func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append($0) }
    }

    /// Checks that every planned byte arrived, then syncs and renames the file into place.
    public func finish() throws {
        guard !finished else { return }
        guard current == plan.count else {
            throw FormatError(.badSize, file: path, item: plan[current].name,
                "received \(receivedInCurrent) of its \(byteCounts[current]) bytes before finish()")
        }
        try output.commit()
        finished = true
    }

    /// Pads and moves on while the current tensor is complete.
    private func advancePastEmptyTensors() throws {
        while current < plan.count, receivedInCurrent == byteCounts[current] {
            let padded = GGUFFormat.align(byteCounts[current], to: alignment)!
            try output.writeZeros(padded - byteCounts[current])
            current += 1
            receivedInCurrent = 0
        }
    }

    /// Checks the metadata keys: non-empty, unique, and a consistent `general.alignment`.
    private static func checkKeys(_ metadata: [(key: String, value: MetadataValue)], alignment: Int,
                                  file: String) throws {
        var seen = Set<String>()
        for (key, value) in metadata {
            guard !key.isEmpty, key.utf8.count <= GGUFFormat.maxKeyLength else {
                throw FormatError(.badMetadata, file: file, item: key, "keys must be 1...\(GGUFFormat.maxKeyLength) bytes")
            }
            guard seen.insert(key).inserted else {
                throw FormatError(.duplicateName, file: file, item: key, "key given twice")
            }
            if key == GGUFFormat.alignmentKey {
                let stated = try GGUFParser.alignment(from: value, file: file)
                guard stated == alignment else {
                    throw FormatError(.badAlignment, file: file, item: key,
                        "is \(stated), but the writer was asked for alignment \(alignment)")
                }
            }
        }
    }

    /// Checks one planned tensor and returns its ggml type and byte size.
    private static func check(_ t: PlannedTensor, file: String) throws -> (GGMLType, Int) {
        guard !t.name.isEmpty else {
            throw FormatError(.badHeader, file: file, "a planned tensor has an empty name")
        }
        guard case .ggml(let type) = t.type else {
            throw FormatError(.unknownType, file: file, item: t.name,
                "type \(t.type.name) is a safetensors dtype; GGUF stores ggml types")
        }
        guard t.shape.count <= GGUFFormat.maxDimensions, t.shape.allSatisfy({ $0 >= 0 }) else {
            throw FormatError(.badShape, file: file, item: t.name,
                "shape \(t.shape) must have at most \(GGUFFormat.maxDimensions) non-negative dimensions")
        }
        guard (t.shape.first ?? 1) % type.blockSize == 0 else {
            throw FormatError(.badShape, file: file, item: t.name,
                "row length \(t.shape.first ?? 1) is not a multiple of the \(type.name) block size \(type.blockSize)")
        }
        var nonzeroProduct = 1
        for d in t.shape {
            guard case (let p, false) = nonzeroProduct.multipliedReportingOverflow(by: max(d, 1)) else {
                throw FormatError(.overflow, file: file, item: t.name,
                    "the product of the dimensions of \(t.shape) overflows")
            }
            nonzeroProduct = p
        }
        let elements = t.shape.contains(0) ? 0 : nonzeroProduct
        guard let bytes = t.type.byteCount(elements: elements) else {
            throw FormatError(.overflow, file: file, item: t.name, "the byte size of \(t.shape) overflows")
        }
        return (type, bytes)
    }
}
