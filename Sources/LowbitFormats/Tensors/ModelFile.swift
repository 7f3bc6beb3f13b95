import LowbitSystem

/// Opens any model file Lowbit reads, deciding the format from the bytes and the path.
public enum ModelFile {
    /// Opens `path` as a ``TensorSource``:
    /// - a `*.gguf` file, or a file starting with the GGUF magic: ``GGUFFile``;
    /// - a directory, or a `*.json` file (a `model.safetensors.index.json`): ``SafetensorsCheckpoint``;
    /// - a `*.safetensors` file, or a file whose first 8 bytes are a header length followed by
    ///   `{`: ``SafetensorsFile``.
    ///
    /// - Throws: ``FormatError`` when the path does not exist, cannot be read, or is none of these.
    public static func open(_ path: String) throws -> any TensorSource {
        let status: FileStatus
        do { status = try SystemCalls.status(path: path) } catch {
            throw FormatError(.io, file: path, "cannot open: \(error.reason)")
        }
        if status.isDirectory { return try SafetensorsCheckpoint(path: path) }
        guard status.isRegularFile else {
            throw FormatError(.io, file: path, "not a regular file or directory")
        }
        let prefix = try readPrefix(path, count: 9)
        switch detect(prefix: prefix, path: path) {
        case .gguf: return try GGUFFile(path: path)
        case .safetensorsFile: return try SafetensorsFile(path: path)
        case .safetensorsIndex: return try SafetensorsCheckpoint(path: path)
        case nil:
            let shown = prefix.prefix(4).map { b in
                (0x20..<0x7f).contains(b) ? String(UnicodeScalar(b)) : "\\x" + String(b, radix: 16)
            }.joined()
            throw FormatError(.badMagic, file: path,
                "not a model file: neither GGUF (magic 'GGUF', found '\(shown)'), nor safetensors "
                + "(8-byte header length then '{'), nor a checkpoint directory or index (.json)")
        }
    }

    /// The kinds of file ``open(_:)`` recognises.
    public enum Kind: Sendable, Equatable {
        case gguf, safetensorsFile, safetensorsIndex
    }

    /// Recognises a file from its path and first bytes (at least 9 when available). The
    /// extensions `.gguf`, `.safetensors` and `.json` decide on their own (the reader then says
    /// what is wrong with a file that does not match its name); other files are recognised by
    /// their content.
    public static func detect(prefix: [UInt8], path: String) -> Kind? {
        if path.hasSuffix(".gguf") { return .gguf }
        if path.hasSuffix(".safetensors") { return .safetensorsFile }
        if path.hasSuffix(".json") { return .safetensorsIndex }
        if prefix.count >= 4, Array(prefix.prefix(4)) == GGUFFormat.magic { return .gguf }
        if prefix.count >= 9, prefix[8] == UInt8(ascii: "{") {
            let length = prefix.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            if length >= 2 { return .safetensorsFile }
        }
        return nil
    }

    private static func readPrefix(_ path: String, count: Int) throws -> [UInt8] {
        let fd: Int32
        do { fd = try SystemCalls.open(path, .readOnly) } catch {
            throw FormatError(.io, file: path, "cannot open: \(error.reason)")
        }
        defer { SystemCalls.close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
        defer { buffer.deallocate() }
        var got = 0
        while got < count {
            let n: Int
            do { n = try SystemCalls.read(fd, into: buffer.baseAddress! + got, count: count - got, path: path) } catch {
                throw FormatError(.io, file: path, "cannot read: \(error.reason)")
            }
            if n == 0 { break }
            got += n
        }
        return Array(buffer.prefix(got))
    }
}
