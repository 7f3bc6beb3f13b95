import ArgumentParser
import LowbitFormats
import LowbitSystem

/// The exit statuses of `lowbit`, the same for every subcommand (documented in the README):
///
/// | status | meaning |
/// |---|---|
/// | 0 | success (also `--help`) |
/// | 1 | bad input or a failure while running: an unreadable or malformed file, a tensor that cannot be processed, a failed write |
/// | 2 | usage error: unknown option, missing or invalid argument |
/// | 129, 130, 143 | interrupted by SIGHUP, SIGINT, SIGTERM: temporary outputs removed, nothing written (see `Interruption` in LowbitSystem) |
enum ExitStatus: Int32 {
    case success = 0
    case failure = 1
    case usage = 2
}

/// Turns any error a subcommand throws into a message on standard error and an exit status.
///
/// Errors of Lowbit's libraries are printed as `lowbit: <file>: '<tensor>': <reason>`;
/// swift-argument-parser's usage errors keep its message and usage text but exit with
/// ``ExitStatus/usage`` instead of its default `EX_USAGE` (64).
enum ErrorReporter {
    /// Prints what `error` means for the user and exits with the matching status.
    static func exit(with error: any Error) -> Never {
        if let code = error as? ExitCode {
            // A subcommand that printed its own message and chose a status.
            terminate(code == .validationFailure ? .usage : code.rawValue == 0 ? .success : .failure)
        }
        let parserCode = Lowbit.exitCode(for: error)
        if parserCode == .success {
            // --help, --version: ArgumentParser's text on standard output.
            let text = Lowbit.fullMessage(for: error)
            if !text.isEmpty { print(text) }
            terminate(.success)
        }
        if parserCode == .validationFailure {
            printError(Lowbit.fullMessage(for: error))
            terminate(.usage)
        }
        printError("lowbit: \(describe(error))")
        if !TemporaryOutputs.shared.current.isEmpty { _ = TemporaryOutputs.shared.removeAll() }
        terminate(.failure)
    }

    /// The one-line description of an error: `<file>: '<tensor>': <reason>` for format errors,
    /// the error's own description otherwise.
    static func describe(_ error: any Error) -> String {
        if let formatError = error as? FormatError { return formatError.description }
        return String(describing: error)
    }

    /// Writes `message` and a newline to standard error.
    static func printError(_ message: String) {
        writeStandardError(message.hasSuffix("\n") ? message : message + "\n")
    }

    /// Writes `text` to file descriptor 2 unbuffered (C's `stderr` is not usable from Swift 6
    /// concurrency-checked code).
    static func writeStandardError(_ text: String) {
        StandardError.write(text)
    }

    private static func terminate(_ status: ExitStatus) -> Never {
        // exit(3) flushes standard output.
        SystemCalls.exit(status.rawValue)
    }
}
