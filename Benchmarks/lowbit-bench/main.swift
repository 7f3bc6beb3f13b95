import ArgumentParser
import Foundation

// lowbit-bench: see LowbitBench (the command line) and KernelBenchmarks.swift (what it measures).
// Usage errors exit with status 2, as they did before the command line used ArgumentParser.
do {
    var command = try LowbitBench.parseAsRoot()
    try command.run()
} catch {
    if LowbitBench.exitCode(for: error) == .validationFailure {
        FileHandle.standardError.write(Data((LowbitBench.fullMessage(for: error) + "\n").utf8))
        exit(2)
    }
    LowbitBench.exit(withError: error)
}
