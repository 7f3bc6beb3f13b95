/// llama.cpp's legacy `.dat` imatrix layout, all integers int32 little-endian (see
/// `formats/imatrix.md`): an entry count; per entry its name (length, bytes), `ncall`, the
/// value count and the values `(sum / count) · ncall` as F32; then, optionally, the chunk count
/// and the dataset's name (length, bytes).
extension ImportanceMatrix {
    /// Reads and checks a legacy file's bytes.
    static func readLegacy(_ bytes: UnsafeRawBufferPointer, file: String) throws -> ImportanceMatrix {
        var reader = GGUFByteReader(bytes, file: file)
        let entryCount = try reader.read(Int32.self, "entry count", item: nil)
        guard entryCount >= 1 else {
            throw FormatError(.badHeader, file: file,
                "neither a GGUF imatrix nor a legacy one: the legacy entry count is \(entryCount)")
        }
        var entries: [String: Entry] = [:]
        for index in 0..<Int(entryCount) {
            let name = try readString(&reader, "name of entry #\(index)", item: nil)
            guard !name.isEmpty else {
                throw FormatError(.badHeader, file: file, offset: reader.position, "entry #\(index) has an empty name")
            }
            let ncall = try reader.read(Int32.self, "chunk count (ncall)", item: name)
            let valueCount = try reader.read(Int32.self, "value count", item: name)
            guard ncall >= 1 else {
                throw FormatError(.badMetadata, file: file, item: name,
                    "its chunk count (ncall) is \(ncall); the values are divided by it, so it must be at least 1")
            }
            guard valueCount >= 1 else {
                throw FormatError(.badShape, file: file, item: name, "has \(valueCount) values")
            }
            try reader.require(4 * Int(valueCount), "\(valueCount) F32 values", item: name)
            let start = reader.position
            let values = FloatFormat.f32.decode(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + 4 * Int(valueCount))]))
            reader.skip(4 * Int(valueCount))
            let entry = Entry(columns: Int(valueCount), sumsOfSquares: values, counts: [Float(ncall)])
            try check(entry, name: name, file: file)
            guard entries.updateValue(entry, forKey: name) == nil else {
                throw FormatError(.duplicateName, file: file, item: name, "two entries have this name")
            }
        }
        var chunkCount = 0
        var datasets: [String] = []
        if reader.remaining > 0 {
            let n = try reader.read(Int32.self, "chunk count after the entries", item: nil)
            guard n >= 0 else {
                throw FormatError(.badMetadata, file: file, "the chunk count after the entries is \(n)")
            }
            chunkCount = Int(n)
            let dataset = try readString(&reader, "dataset name", item: nil)
            if !dataset.isEmpty { datasets = [dataset] }
            guard reader.remaining == 0 else {
                throw FormatError(.badSize, file: file, offset: reader.position,
                    "\(reader.remaining) bytes follow the dataset name, which ends the file")
            }
        }
        return ImportanceMatrix(entries: entries, datasets: datasets, chunkCount: chunkCount, chunkSize: 0)
    }

    /// An int32 length, then that many bytes of UTF-8.
    private static func readString(_ reader: inout GGUFByteReader, _ what: String, item: String?) throws -> String {
        let length = try reader.read(Int32.self, "length of \(what)", item: item)
        guard length >= 0 else {
            throw FormatError(.badSize, file: reader.file, item: item, offset: reader.position - 4,
                "the length of \(what) is \(length)")
        }
        try reader.require(Int(length), what, item: item)
        let start = reader.position
        reader.skip(Int(length))
        return String(decoding: UnsafeRawBufferPointer(rebasing: reader.bytes[start..<(start + Int(length))]), as: UTF8.self)
    }

    /// The legacy bytes: entries with at least one nonzero count, in name order.
    func legacyBytes(file: String) throws -> [UInt8] {
        var out = LittleEndianBytes()
        let names = entries.keys.sorted().filter { entries[$0]!.counts.contains { $0 > 0 } }
        try out.append(int32: names.count, "entry count", file: file, item: nil)
        // A matrix read from a legacy file has an unknown chunk size (0); its count is already
        // ncall, which a chunk size of 1 keeps.
        let chunk = Double(max(chunkSize, 1))
        for name in names {
            let e = entries[name]!
            let ncall = (Double(e.counts.max()!) / chunk).rounded(.up)
            try out.append(int32: name.utf8.count, "name length", file: file, item: name)
            out.bytes.append(contentsOf: name.utf8)
            try out.append(int32: Int(ncall), "chunk count (ncall)", file: file, item: name)
            try out.append(int32: e.sumsOfSquares.count, "value count", file: file, item: name)
            var values = [Float](repeating: 0, count: e.sumsOfSquares.count)
            for m in 0..<e.matrices {
                let count = Double(e.counts[m])
                for c in 0..<e.columns {
                    let i = m * e.columns + c
                    // A matrix without tokens weighs every column 1, as in llama.cpp.
                    values[i] = count > 0 ? Float(Double(e.sumsOfSquares[i]) / count * ncall) : Float(ncall)
                }
            }
            out.bytes.append(contentsOf: FloatFormat.f32.encode(values))
        }
        try out.append(int32: chunkCount, "chunk count", file: file, item: nil)
        let dataset = datasets.last ?? ""
        try out.append(int32: dataset.utf8.count, "dataset name length", file: file, item: nil)
        out.bytes.append(contentsOf: dataset.utf8)
        return out.bytes
    }
}

/// Bytes built from little-endian int32 fields, each checked to fit.
private struct LittleEndianBytes {
    var bytes: [UInt8] = []

    mutating func append(int32 value: Int, _ what: String, file: String, item: String?) throws {
        guard let v = Int32(exactly: value) else {
            throw FormatError(.overflow, file: file, item: item, "\(what) \(value) does not fit the legacy format's int32")
        }
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
}
