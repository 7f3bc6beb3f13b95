import Foundation
import LowbitFormats
import Testing
import LowbitTestSupport

/// Runs the built `lowbit` binary and reads the committed fixtures, for the end-to-end tests.
enum CLI {
    /// `fixtures/<relative>` as a path.
    static func fixture(_ relative: String) -> String {
        Fixtures.path(relative)
    }

    /// The `lowbit` binary: `$LOWBIT`, else the one SwiftPM built next to the test bundle.
    static let binary: String = {
        if let env = ProcessInfo.processInfo.environment["LOWBIT"], !env.isEmpty { return env }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // The test runner is .build/<config>/LowbitPackageTests.xctest (a file on Linux, a
        // bundle directory on Darwin): the binary lives in .build/<config>/.
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("lowbit").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return Fixtures.repositoryRoot.appendingPathComponent(".build/debug/lowbit").path
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        /// Whether the process ended by a signal (a crash or trap) rather than exiting.
        var crashed: Bool
    }

    /// Runs `lowbit args...` to completion.
    static func run(_ args: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = args
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes while the process runs so a large output cannot block it.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self),
                      crashed: process.terminationReason == .uncaughtSignal)
    }

    /// Runs `lowbit args...`, expects exit status 0 and returns the JSON it printed.
    static func json(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
        let result = try run(args)
        #expect(result.status == 0, "lowbit \(args.joined(separator: " ")): \(result.stderr)", sourceLocation: sourceLocation)
        return try JSONValue.parse(result.stdout)
    }

    /// A JSON file of the fixtures.
    static func loadJSON(_ relative: String) throws -> JSONValue {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture(relative)))
        return try data.withUnsafeBytes { try JSONValue.parse($0) }
    }
}
