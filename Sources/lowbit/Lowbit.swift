import ArgumentParser

/// The `lowbit` command: its subcommands each live in a file of their own (`InspectCommand.swift`,
/// ...). The entry point is ``main()`` below, which maps errors to the exit statuses of
/// ``ExitStatus``.
@main
struct Lowbit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lowbit",
        abstract: "Quantize LLM checkpoints, look inside model files, and measure what quantization cost.",
        discussion: """
            Exit status: 0 success, 1 bad input or failure, 2 usage error.
            """,
        subcommands: [Inspect.self, Convert.self, Verify.self, Perplexity.self, Compare.self])

    /// Parses the command line, runs the chosen subcommand (synchronous or asynchronous), and
    /// exits through ``ErrorReporter`` on any error.
    static func main() async {
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
