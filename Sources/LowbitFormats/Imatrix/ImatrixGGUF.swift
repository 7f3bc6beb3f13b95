/// llama.cpp's GGUF imatrix format: metadata keys, then per weight `<name>.in_sum2` (F32, ne =
/// [columns, matrices]) and `<name>.counts` (F32, ne = [1, matrices]). See `formats/imatrix.md`.
enum ImatrixGGUF {
    /// `general.type`, whose value is ``typeValue`` in an imatrix file.
    static let typeKey = "general.type"
    /// The value of `general.type` in an imatrix file.
    static let typeValue = "imatrix"
    /// The texts the statistics were collected on (array of strings).
    static let datasetsKey = "imatrix.datasets"
    /// Chunks processed (uint32).
    static let chunkCountKey = "imatrix.chunk_count"
    /// Tokens per chunk (uint32).
    static let chunkSizeKey = "imatrix.chunk_size"
    /// The suffix of the sums of squared activations.
    static let sumsSuffix = ".in_sum2"
    /// The suffix of the token counts.
    static let countsSuffix = ".counts"
}

extension ImportanceMatrix {
    /// Reads and checks the imatrix in an opened GGUF file.
    static func readGGUF(_ file: GGUFFile) throws -> ImportanceMatrix {
        let path = file.path
        if let type = file.metadataValue(ImatrixGGUF.typeKey), type.stringValue != ImatrixGGUF.typeValue {
            throw FormatError(.badMetadata, file: path, item: ImatrixGGUF.typeKey,
                "is \(describe(type)), not \"imatrix\": this GGUF file is not an importance matrix")
        }
        var pairs: [String: (sums: TensorInfo?, counts: TensorInfo?)] = [:]
        for t in file.tensors {
            if let base = t.name.removingSuffix(ImatrixGGUF.sumsSuffix) {
                pairs[base, default: (nil, nil)].sums = t
            } else if let base = t.name.removingSuffix(ImatrixGGUF.countsSuffix) {
                pairs[base, default: (nil, nil)].counts = t
            }
        }
        guard !pairs.isEmpty else {
            throw FormatError(.missingTensor, file: path,
                "holds no '<weight>\(ImatrixGGUF.sumsSuffix)' tensors: it is not an importance matrix")
        }
        let datasets = try datasetNames(file)
        let chunkCount = try unsignedValue(file, ImatrixGGUF.chunkCountKey)
        let chunkSize = try unsignedValue(file, ImatrixGGUF.chunkSizeKey)

        var entries: [String: Entry] = [:]
        for name in pairs.keys.sorted() {
            let pair = pairs[name]!
            guard let sums = pair.sums else {
                throw FormatError(.missingTensor, file: path, item: name + ImatrixGGUF.sumsSuffix,
                    "the file has '\(name)\(ImatrixGGUF.countsSuffix)' but not its sums of squares")
            }
            guard let counts = pair.counts else {
                throw FormatError(.missingTensor, file: path, item: name + ImatrixGGUF.countsSuffix,
                    "the file has '\(name)\(ImatrixGGUF.sumsSuffix)' but not its token counts")
            }
            for t in [sums, counts] where t.type != .ggml(.f32) {
                throw FormatError(.unknownType, file: path, item: t.name, "is \(t.type.name); it must be F32")
            }
            let columns = sums.shape.first ?? 1
            let matrices = sums.shape.dropFirst().reduce(1, *)
            guard columns > 0, matrices > 0 else {
                throw FormatError(.badShape, file: path, item: sums.name, "shape \(sums.shape) holds no values")
            }
            guard counts.elementCount == matrices else {
                throw FormatError(.badShape, file: path, item: counts.name,
                    "holds \(counts.elementCount) counts (shape \(counts.shape)), but '\(sums.name)' "
                    + "(shape \(sums.shape)) has \(matrices) matrices")
            }
            let entry = Entry(columns: columns, sumsOfSquares: try floats(of: sums, in: file),
                              counts: try floats(of: counts, in: file))
            try check(entry, name: name, file: path)
            entries[name] = entry
        }
        return ImportanceMatrix(entries: entries, datasets: datasets, chunkCount: chunkCount, chunkSize: chunkSize)
    }

    /// Writes the GGUF form to `path`, atomically.
    func writeGGUF(to path: String) throws {
        for (key, value) in [(ImatrixGGUF.chunkCountKey, chunkCount), (ImatrixGGUF.chunkSizeKey, chunkSize)]
        where UInt32(exactly: value) == nil {
            throw FormatError(.overflow, file: path, item: key, "\(value) does not fit the file's uint32")
        }
        let metadata: [(key: String, value: MetadataValue)] = [
            (ImatrixGGUF.typeKey, .string(ImatrixGGUF.typeValue)),
            (ImatrixGGUF.datasetsKey, .array(.string, datasets.map { .string($0) })),
            (ImatrixGGUF.chunkCountKey, .uint32(UInt32(chunkCount))),
            (ImatrixGGUF.chunkSizeKey, .uint32(UInt32(chunkSize))),
        ]
        let names = entries.keys.sorted()
        let plan = names.flatMap { name -> [PlannedTensor] in
            let e = entries[name]!
            return [PlannedTensor(name: name + ImatrixGGUF.sumsSuffix, type: .ggml(.f32), shape: [e.columns, e.matrices]),
                    PlannedTensor(name: name + ImatrixGGUF.countsSuffix, type: .ggml(.f32), shape: [1, e.matrices])]
        }
        let writer = try GGUFWriter(path: path, metadata: metadata, tensors: plan)
        for name in names {
            let e = entries[name]!
            try writer.append(FloatFormat.f32.encode(e.sumsOfSquares))
            try writer.append(FloatFormat.f32.encode(e.counts))
        }
        try writer.finish()
    }

    /// The F32 values of `tensor`.
    private static func floats(of tensor: TensorInfo, in file: GGUFFile) throws -> [Float] {
        try file.withBytes(of: tensor) { FloatFormat.f32.decode($0) }
    }

    /// `imatrix.datasets`, required (as llama-quantize requires it) and an array of strings.
    private static func datasetNames(_ file: GGUFFile) throws -> [String] {
        let key = ImatrixGGUF.datasetsKey
        guard let value = file.metadataValue(key) else {
            throw FormatError(.badMetadata, file: file.path, item: key, "is missing; llama.cpp's imatrix files always have it")
        }
        guard case .array(.string, let items) = value else {
            throw FormatError(.badMetadata, file: file.path, item: key, "is \(describe(value)), not an array of strings")
        }
        return items.compactMap(\.stringValue)
    }

    /// A required non-negative integer key.
    private static func unsignedValue(_ file: GGUFFile, _ key: String) throws -> Int {
        guard let value = file.metadataValue(key) else {
            throw FormatError(.badMetadata, file: file.path, item: key, "is missing; llama.cpp's imatrix files always have it")
        }
        guard let n = value.intValue, n >= 0 else {
            throw FormatError(.badMetadata, file: file.path, item: key, "is \(describe(value)), not a non-negative integer")
        }
        return n
    }

    private static func describe(_ value: MetadataValue) -> String {
        if let s = value.stringValue { return "\"\(s)\"" }
        if let n = value.intValue { return "\(value.ggufType.name) \(n)" }
        return "a \(value.ggufType.name)"
    }
}

extension String {
    /// The string without `suffix`, or nil if it does not end with it (or is only the suffix).
    func removingSuffix(_ suffix: String) -> String? {
        guard hasSuffix(suffix), count > suffix.count else { return nil }
        return String(dropLast(suffix.count))
    }
}
