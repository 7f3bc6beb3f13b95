import Foundation

extension JSONValue {
    /// Reads and parses the JSON file at `path`: the one JSON reader of the package. Every error
    /// names the file.
    public static func read(file path: String) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(.io, file: path, "cannot read")
        }
        do {
            return try data.withUnsafeBytes { try JSONValue.parse($0) }
        } catch let error as FormatError {
            throw error
        } catch {
            throw FormatError(.badHeader, file: path, "invalid JSON: \(error)")
        }
    }
}
