import LowbitFormats

/// An importance matrix given to a conversion (`lowbit convert --imatrix FILE`), with the
/// rules llama.cpp's `llama-quantize --imatrix` applies to it. GGUF types follow them all; the
/// INT and FP8 safetensors layouts look their weights up by GGUF name with the same length rules
/// (``weights(for:shape:)``), and the GGUF-only parts (type mix, keys) do not apply:
///
/// - each matrix's importance is `sum / count` of its squared activations, 1 for every column
///   of a matrix that saw no tokens (``ImportanceMatrix/Entry/importance(matrix:)``); a weight's
///   vector is its matrices' vectors one after the other;
/// - any non-finite value in any vector rejects the whole matrix;
/// - a tensor is looked up by its GGUF output name, only when its type changes; a tensor the
///   matrix has no entry for is quantized without importance;
/// - a vector whose length is not the tensor's row length times its matrix count (`ne[0]·ne[2]`)
///   is an error naming the tensor and the file, except for `token_embd.weight` (never a matrix
///   product's input, so its entry is ignored);
/// - expert tensors (`ne[2]` > 1) quantize the rows of expert `e` with vector `e`;
/// - an importance matrix with at least one entry changes llama.cpp's type mix (see
///   ``GGUFTypePolicy/hasImportanceMatrix``) and adds the `quantize.imatrix.*` keys.
public struct ConversionImportance: Sendable {
    /// The matrix as read.
    public let matrix: ImportanceMatrix
    /// The file it came from, as the user named it: errors name it and the output records it
    /// (`quantize.imatrix.file`).
    public let file: String
    /// The importance vectors by GGUF tensor name.
    let vectors: [String: [Float]]

    /// Checks `matrix` (from `file`) as llama.cpp does before quantizing anything.
    /// - Throws: ``ConvertError`` (``ConvertErrorKind/badImportance``) naming the file and the
    ///   first tensor, in name order, with a non-finite importance.
    public init(_ matrix: ImportanceMatrix, file: String) throws {
        var vectors: [String: [Float]] = [:]
        for name in matrix.entries.keys.sorted() {
            let entry = matrix.entries[name]!
            let vector = (0..<entry.matrices).flatMap { entry.importance(matrix: $0) }
            if let bad = vector.firstIndex(where: { !$0.isFinite }) {
                throw ConvertError(.badImportance, file: file, item: name,
                                   "importance \(vector[bad]) at index \(bad) is not finite; the importance matrix is refused")
            }
            vectors[name] = vector
        }
        self.matrix = matrix
        self.file = file
        self.vectors = vectors
    }

    /// Reads and checks the importance matrix at `path` (llama.cpp's GGUF or legacy `.dat`).
    /// - Throws: `FormatError` for a file that cannot be read as an importance matrix,
    ///   ``ConvertError`` for one llama-quantize would refuse.
    public init(contentsOf path: String) throws {
        try self.init(ImportanceMatrix(contentsOf: path), file: path)
    }

    /// Whether the matrix counts for llama.cpp: it has at least one entry. An empty matrix
    /// changes nothing, neither the types nor the keys.
    public var isEffective: Bool { !vectors.isEmpty }

    /// The importance of output tensor `name`, whose GGUF shape (`ne`, row length first) is
    /// `shape`: one vector per matrix (`ne[2]` of them, 1 for a 2-D weight) one after the
    /// other, or nil when the matrix has no entry for it, or has one of the wrong length for
    /// `token_embd.weight`.
    /// - Throws: ``ConvertError`` (``ConvertErrorKind/badImportance``) when the entry's length
    ///   is not `ne[0]·ne[2]`.
    public func weights(for name: String, shape: [Int]) throws -> [Float]? {
        guard let vector = vectors[name] else { return nil }
        let expected = (shape.first ?? 1) * (shape.count > 2 ? shape[2] : 1)
        guard vector.count == expected else {
            if Self.ignoresWrongLength(name) { return nil }
            throw ConvertError(.badImportance, file: file, item: name,
                               "the importance matrix has \(vector.count) values for this tensor, which needs \(expected)")
        }
        return vector
    }

    /// The token embeddings, whose entries never fit (llama.cpp skips them silently).
    static func ignoresWrongLength(_ name: String) -> Bool {
        name == "token_embd.weight" || name == "per_layer_token_embd.weight"
    }

    /// The GGUF keys llama-quantize writes for an importance matrix: the file as named
    /// (`quantize.imatrix.file`), its first dataset if it records one, its entry count, and its
    /// chunk count if positive. The integers are UINT32 and the strings are cut to 127 bytes,
    /// as llama-quantize stores them. Empty when the matrix has no entry.
    public var ggufMetadata: [(key: String, value: MetadataValue)] {
        guard isEffective else { return [] }
        var kv: [(key: String, value: MetadataValue)] = [("quantize.imatrix.file", .string(Self.cut(file)))]
        if let dataset = matrix.datasets.first {
            kv.append(("quantize.imatrix.dataset", .string(Self.cut(dataset))))
        }
        kv.append(("quantize.imatrix.entries_count", .uint32(UInt32(clamping: vectors.count))))
        if matrix.chunkCount > 0 {
            kv.append(("quantize.imatrix.chunks_count", .uint32(UInt32(clamping: matrix.chunkCount))))
        }
        return kv
    }

    /// `text` cut to at most 127 UTF-8 bytes, at a character boundary.
    static func cut(_ text: String) -> String {
        guard text.utf8.count > 127 else { return text }
        var out = ""
        for c in text {
            guard out.utf8.count + c.utf8.count <= 127 else { break }
            out.append(c)
        }
        return out
    }
}
