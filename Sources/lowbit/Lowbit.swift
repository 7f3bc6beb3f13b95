import ArgumentParser
import LowbitSystem

/// The `lowbit` command: its subcommands each live in a file of their own (`InspectCommand.swift`,
/// ...). The entry point is ``main()`` below, which maps errors to the exit statuses of
/// ``ExitStatus``.
@main
struct Lowbit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lowbit",
        abstract: "Quantize LLM checkpoints, look inside model files, and measure what quantization cost.",
        discussion: """
            Exit status: 0 success, 1 bad input or failure, 2 usage error, 129/130/143 interrupted \
            by SIGHUP/SIGINT/SIGTERM (nothing is left half-written).
            """,
        subcommands: [Inspect.self, Convert.self, Verify.self, Perplexity.self, Compare.self, Imatrix.self])

    /// Parses the command line, runs the chosen subcommand (synchronous or asynchronous), and
    /// exits through ``ErrorReporter`` on any error.
    static func main() async {
        // Before any other thread starts: interrupts remove temporary outputs and exit cleanly.
        let subcommand = CommandLine.arguments.dropFirst().first { !$0.hasPrefix("-") }
        Interruption.install(activity: "lowbit" + (subcommand.map { " " + $0 } ?? ""))
        do {
            var command = try parseAsRoot(nil)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            ErrorReporter.exit(with: error)
        }
    }
}
