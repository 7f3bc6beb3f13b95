import Foundation

/// The repository's committed `fixtures/` directory, found from this source file's path.
public enum Fixtures {
    /// The repository root (this file is Tests/LowbitTestSupport/Fixtures.swift).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `fixtures/` directory.
    public static let directory: URL = repositoryRoot.appendingPathComponent("fixtures")

    /// `fixtures/<relative>` as a URL.
    public static func url(_ relative: String) -> URL {
        directory.appendingPathComponent(relative)
    }

    /// `fixtures/<relative>` as a path.
    public static func path(_ relative: String) -> String {
        url(relative).path
    }

    /// The bytes of `fixtures/<relative>`.
    public static func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url(relative)))
    }
}
