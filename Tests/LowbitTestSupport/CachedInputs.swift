import Foundation

/// Inputs too large to commit that scripts/fetch-model.sh and scripts/fetch-eval-text.sh put in the
/// cache (`$LOWBIT_CACHE`, else `.cache/` in the repository). Tests that need them are skipped
/// when they are absent.
public enum CachedInputs {
    static let environment = ProcessInfo.processInfo.environment

    /// The cache directories to look in, in order.
    static let cacheDirectories: [String] = [
        environment["LOWBIT_CACHE"],
        Fixtures.repositoryRoot.appendingPathComponent(".cache").path,
    ].compactMap { $0 }

    /// The first of `candidates` that exists, else the first one (to report as missing).
    public static func firstExisting(_ candidates: [String?]) -> String {
        let paths = candidates.compactMap { $0 }
        return paths.first { FileManager.default.fileExists(atPath: $0) } ?? paths[0]
    }

    /// The file name of the real test model.
    public static let smolLM2Name = "SmolLM2-135M-Instruct.Q4_1.gguf"

    /// The real model, SmolLM2-135M-Instruct.Q4_1.gguf: `$LOWBIT_SMOLLM2`, `$LOWBIT_SMOLLM2_GGUF`,
    /// `$LOWBIT_MODEL`, the cache's `smollm2/`, or /tmp/smollm2/.
    public static let smolLM2Path: String = firstExisting(
        [environment["LOWBIT_SMOLLM2"], environment["LOWBIT_SMOLLM2_GGUF"], environment["LOWBIT_MODEL"]]
            + cacheDirectories.map { "\($0)/smollm2/\(smolLM2Name)" }
            + ["/tmp/smollm2/\(smolLM2Name)"])

    /// Whether ``smolLM2Path`` exists on this machine.
    public static var smolLM2Present: Bool { FileManager.default.fileExists(atPath: smolLM2Path) }

    /// Lowbit's default evaluation text (botchan.txt as scripts/fetch-eval-text.sh stores it):
    /// `$LOWBIT_EVAL_TEXT` or the cache's `botchan.txt`.
    public static let evalTextPath: String = firstExisting(
        [environment["LOWBIT_EVAL_TEXT"]] + cacheDirectories.map { "\($0)/botchan.txt" })
}
