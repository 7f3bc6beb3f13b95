import Foundation
import LowbitFormats
import Testing

/// Hostile files and bad command lines: a clean message and the documented exit status,
/// never a crash.
@Suite("inspect: errors and exit statuses")
struct InspectErrorTests {
    /// (path relative to fixtures/, tensor or key the error must name)
    static let hostile: [(path: String, item: String?)] = {
        var cases: [(String, String?)] = []
        if let gguf = try? CLI.loadJSON("gguf/hostile.json").objectValue {
            cases += gguf.map { ("gguf/hostile/\($0.key)", $0.value["item"]?.stringValue) }
        }
        if let st = try? CLI.loadJSON("safetensors/hostile/manifest.json").objectValue {
            cases += st.map { ("safetensors/hostile/\($0.key)", $0.value["item"]?.stringValue) }
        }
        return cases
    }()

    @Test func hostileFixturesArePresent() {
        #expect(InspectErrorTests.hostile.count >= 60)
    }

    @Test(arguments: InspectErrorTests.hostile.map(\.path))
    func hostileFileFailsCleanly(_ relative: String) throws {
        let path = CLI.fixture(relative)
        let result = try CLI.run(["inspect", path, "--json", "--stats"])
        #expect(!result.crashed, "crashed: \(result.stderr)")
        #expect(result.status == 1, "status \(result.status): \(result.stderr)")
        #expect(result.stdout.isEmpty)
        // lowbit: <file>: ['<tensor>': ]<reason> — the file is the fixture or a file inside it.
        let directory = path.hasSuffix("/") ? String(path.dropLast()) : path
        #expect(result.stderr.hasPrefix("lowbit: \(directory)"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        if let item = InspectErrorTests.hostile.first(where: { $0.path == relative })?.item {
            #expect(result.stderr.contains("'\(item)'"), "\(result.stderr)")
        }
    }

    @Test func missingPathIsBadInput() throws {
        let result = try CLI.run(["inspect", "/nonexistent/model.gguf"])
        #expect(result.status == 1)
        #expect(result.stderr == "lowbit: /nonexistent/model.gguf: cannot open: No such file or directory\n")
    }

    @Test func notAModelIsBadInput() throws {
        let result = try CLI.run(["inspect", CLI.fixture("gguf/make_fixtures.py")])
        #expect(result.status == 1)
        #expect(result.stderr.contains("not a model file"))
    }

    @Test(arguments: [
        ["inspect"],
        ["inspect", "a.gguf", "--no-such-flag"],
        ["inspect", "a.gguf", "--filter", "("],
        ["inspect", "a.gguf", "--threads", "0"],
        ["no-such-subcommand"],
    ])
    func usageErrorsExitTwo(_ args: [String]) throws {
        let result = try CLI.run(args)
        #expect(result.status == 2, "\(args): \(result.status) \(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(!result.stderr.isEmpty)
    }

    @Test func helpExitsZero() throws {
        for args in [["--help"], ["inspect", "--help"], ["help", "inspect"]] {
            let result = try CLI.run(args)
            #expect(result.status == 0, "\(args)")
            #expect(result.stdout.contains("USAGE"), "\(args)")
        }
    }
}
