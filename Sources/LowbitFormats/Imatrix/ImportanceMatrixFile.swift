/// Reading and writing importance matrices in llama.cpp's two file formats (see
/// `formats/imatrix.md`).
extension ImportanceMatrix {
    /// The file formats of an importance matrix.
    public enum FileFormat: String, Sendable, CaseIterable {
        /// llama.cpp's GGUF imatrix (`general.type = imatrix`, `<tensor>.in_sum2` and
        /// `<tensor>.counts` per weight): raw sums and token counts.
        case gguf
        /// llama.cpp's legacy `.dat` layout: per weight, the mean squared activation times the
        /// number of chunks, then the chunk count and the dataset's name.
        case dat
    }

    /// The format of the file whose first bytes are `prefix`: GGUF when it starts with the GGUF
    /// magic, the legacy layout otherwise (its first four bytes are an entry count, which would
    /// have to exceed a billion to spell "GGUF").
    public static func sniffFormat(prefix: some Collection<UInt8>) -> FileFormat {
        prefix.prefix(4).elementsEqual(GGUFFormat.magic) ? .gguf : .dat
    }

    /// Reads the importance matrix at `path`, in either format, told apart by content (not by
    /// file name).
    ///
    /// The file is checked whole before anything is returned: truncation, wrong lengths, types
    /// or shapes, a `.in_sum2` without its `.counts` (or the reverse), negative or non-finite
    /// counts, non-finite or negative sums all raise a ``FormatError`` naming the file and the
    /// tensor. A legacy entry reads as one matrix of all its values, with its chunk count as the
    /// count, so that ``Entry/importance(matrix:)`` gives the mean squared activation as
    /// llama.cpp's quantizer computes it; its ``chunkSize`` is 0 (the format does not record it).
    public init(contentsOf path: String) throws {
        let mapping = try MappedFile(path: path)
        let format = try mapping.withBytes(0..<min(4, mapping.count)) { Self.sniffFormat(prefix: $0) }
        switch format {
        case .gguf: self = try Self.readGGUF(GGUFFile(path: path))
        case .dat: self = try mapping.withBytes(0..<mapping.count) { try Self.readLegacy($0, file: path) }
        }
    }

    /// Writes the matrix to `path` in `format`, atomically: nothing appears under `path` unless
    /// the whole file was written.
    ///
    /// Entries are written in name order. GGUF keeps the raw sums and counts; the legacy layout
    /// stores `(sum / count) · ncall` with `ncall = ⌈max count / chunkSize⌉`, as llama-imatrix
    /// does (an entry read from a legacy file, whose chunk size is unknown, is written back as
    /// it was read).
    public func write(to path: String, format: FileFormat = .gguf) throws {
        try validate(file: path)
        switch format {
        case .gguf: try writeGGUF(to: path)
        case .dat:
            let output = try AtomicFile(path: path)
            try output.write(legacyBytes(file: path))
            try output.commit()
        }
    }

    /// Checks that every entry can be written: finite, non-negative sums and counts.
    func validate(file: String) throws {
        for name in entries.keys.sorted() {
            let entry = entries[name]!
            try Self.check(entry, name: name, file: file)
        }
    }

    /// Checks one entry's values: sums finite and non-negative, counts finite, non-negative and
    /// whole, and no sums without a count to divide them by.
    static func check(_ entry: Entry, name: String, file: String) throws {
        guard !name.isEmpty else {
            throw FormatError(.badHeader, file: file, "an importance matrix entry has an empty name")
        }
        for (m, count) in entry.counts.enumerated() {
            guard count.isFinite, count >= 0, count == count.rounded() else {
                throw FormatError(.badMetadata, file: file, item: name,
                    "count \(count) of matrix \(m) is not a whole number of tokens")
            }
            let row = entry.sumsOfSquares[(m * entry.columns)..<((m + 1) * entry.columns)]
            if let bad = row.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
                throw FormatError(.badMetadata, file: file, item: name,
                    "sum of squares \(row[bad]) at column \(bad - m * entry.columns) of matrix \(m) is not a finite non-negative number")
            }
            if count == 0, row.contains(where: { $0 != 0 }) {
                throw FormatError(.badMetadata, file: file, item: name,
                    "matrix \(m) has sums of squares but a count of 0 tokens")
            }
        }
    }
}
