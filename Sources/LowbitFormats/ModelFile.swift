#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw FormatError(.io, file: path, "cannot open: \(String(cString: strerror(errno)))")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { return try SafetensorsCheckpoint(path: path) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
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
        let fd = openFile(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw FormatError(.io, file: path, "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, count - got) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FormatError(.io, file: path, "cannot read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            got += n
        }
        return Array(buffer.prefix(got))
    }
}

/// `open(2)`, reachable from inside ``ModelFile`` whose own `open` hides it.
private func openFile(_ path: String, _ flags: Int32) -> Int32 { open(path, flags) }
