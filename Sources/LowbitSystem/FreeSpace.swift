/// The free-space check made before an output is written.
package enum FreeSpace {
    /// Bytes available to this process on the filesystem holding `directory`, or nil if it
    /// cannot be told.
    package static func available(at directory: String) -> Int? {
        SystemCalls.availableBytes(at: directory)
    }

    /// Throws ``NotEnoughSpace`` if writing `bytes` into `directory` would not fit.
    package static func check(bytes: Int, into directory: String, output: String) throws {
        guard let available = available(at: directory), bytes > available else { return }
        throw NotEnoughSpace(output: output, directory: directory, needed: bytes, available: available)
    }
}

/// An output that would not fit on its filesystem.
public struct NotEnoughSpace: Error, CustomStringConvertible, Sendable {
    /// The output that would not fit.
    public var output: String
    /// The directory it would be written in.
    public var directory: String
    /// Bytes the output needs.
    public var needed: Int
    /// Bytes available on the directory's filesystem.
    public var available: Int

    /// The message for the user, with both sizes and what to do.
    public var description: String {
        "\(output): not enough free space: the output needs \(Self.format(needed)), and \(directory) has \(Self.format(available)) available; free some space, choose another place, or pass --force to try anyway"
    }

    static func format(_ bytes: Int) -> String {
        let units: [(Double, String)] = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")]
        for (scale, unit) in units where Double(bytes) >= scale {
            return "\((Double(bytes) / scale * 100).rounded() / 100) \(unit) (\(bytes) bytes)"
        }
        return "\(bytes) bytes"
    }
}
