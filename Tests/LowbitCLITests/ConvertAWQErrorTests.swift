import Foundation
import Testing

/// `lowbit convert --method awq`'s usage errors: exit status 2, a message naming the option,
/// and no output.
@Suite struct ConvertAWQErrorTests {
    static let model = CLI.fixture("eval/tiny.gguf")

    @Test(arguments: [
        (["--method", "awq"], "--method awq needs --calibration TEXT"),
        (["--method", "awq", "--calibration", "calib.txt", "--imatrix", "x.gguf"], "--imatrix cannot weight an AWQ conversion"),
        (["--method", "awq", "--calibration", "calib.txt", "--awq-grid", "0"], "--awq-grid must be at least 1"),
        (["--method", "awq", "--calibration", "calib.txt", "--awq-tokens", "0"], "--awq-tokens must be at least 1"),
    ])
    func usageErrorsExitTwo(_ extra: [String], _ message: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("awq-cli-\(getpid())-\(abs(message.hashValue))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out").path
        let result = try CLI.run(["convert", Self.model, "-o", out, "--type", "int4"] + extra)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}
