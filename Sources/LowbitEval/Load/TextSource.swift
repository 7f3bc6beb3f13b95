import Foundation
import LowbitFormats

/// Reads an evaluation text: a plain UTF-8 file, or one compressed with zstd (`.zst`).
public enum TextSource {
    /// The text of `path`, decompressed when the name ends in `.zst` (or the file starts with
    /// zstd's magic number). Invalid UTF-8 is an error, not silently replaced.
    public static func read(path: String) throws -> String {
        let file = try MappedFile(path: path)
        let bytes: [UInt8] = try file.withBytes(0..<file.count) { raw in
            let magic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]
            let isZstd = path.hasSuffix(".zst") || (raw.count >= 4 && Array(raw[0..<4]) == magic)
            return isZstd ? try Zstd.decompressStream(raw, file: path) : Array(raw)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw EvalError(.badText, file: path, "the text is not valid UTF-8")
        }
        guard !text.isEmpty else { throw EvalError(.badText, file: path, "the text is empty") }
        return text
    }
}
