import CLowbitSystem
import Foundation

/// Clean exits on signals: once ``install(activity:)`` has run, SIGINT, SIGTERM and SIGHUP
/// remove every temporary output (``TemporaryOutputs``), print one line saying what was
/// interrupted and that nothing was written, and exit with 128 + the signal number (130, 143,
/// 129). A SIGBUS, which a mapped input that shrank raises, is reported with the file's name,
/// cleans up the same way and exits 1. SIGXFSZ is ignored, so an over-large write fails with
/// EFBIG and is reported like any write error.
///
/// The signal handlers (C, in `CLowbitSystem`) only write to a pipe; a watcher thread does the
/// work in ordinary code.
package enum Interruption {
    /// The exit status for a signal: 128 + its number, or 1 for SIGBUS.
    package static func exitStatus(for signal: Int32) -> Int32 {
        signal == SIGBUS ? 1 : 128 + signal
    }

    /// The conventional name of the signals Lowbit handles.
    package static func name(of signal: Int32) -> String {
        switch signal {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        case SIGBUS: "SIGBUS"
        default: "signal \(signal)"
        }
    }

    private static let installed = NSLock()
    nonisolated(unsafe) private static var isInstalled = false

    /// Installs the handlers and starts the watcher. `activity` names what the process does
    /// ("lowbit convert"), for the message. Calling it again does nothing.
    package static func install(activity: String) {
        installed.lock()
        defer { installed.unlock() }
        guard !isInstalled else { return }
        let fd = lowbit_signals_install()
        guard fd >= 0 else {
            SystemCalls.writeStandardError("lowbit: warning: cannot install signal handlers (\(SystemCalls.describe(SystemCalls.lastError))); an interrupt may leave a temporary output behind\n")
            return
        }
        isInstalled = true
        let watcher = Thread {
            var address: UInt = 0
            let signal = lowbit_signals_next(fd, &address)
            guard signal > 0 else { return }
            handle(signal: signal, faultAddress: address, activity: activity)
        }
        watcher.name = "lowbit-signals"
        watcher.start()
    }

    private static func handle(signal: Int32, faultAddress: UInt, activity: String) -> Never {
        let abandoned = TemporaryOutputs.shared.removeAll()
        // Start on a clean line if a progress bar is being drawn.
        if SystemCalls.standardErrorIsTerminal { SystemCalls.writeStandardError("\r\u{1B}[2K") }
        let outputs = abandoned.isEmpty ? "" : abandoned.map { "'\($0)'" }.joined(separator: ", ")
        if signal == SIGBUS {
            let place = MappedRegions.shared.locate(faultAddress)
                .map { "\($0.path): the file shrank or vanished while mapped (no data at byte \($0.offset))" }
                ?? "a mapped input file shrank or vanished while being read"
            let written = outputs.isEmpty ? "" : "; nothing was written to \(outputs)"
            SystemCalls.writeStandardError("lowbit: \(place) (SIGBUS)\(written)\n")
        } else {
            let written = outputs.isEmpty ? "" : ": nothing was written to \(outputs) (temporary output removed)"
            SystemCalls.writeStandardError("\(activity) interrupted by \(name(of: signal))\(written)\n")
        }
        SystemCalls.exitImmediately(exitStatus(for: signal))
    }
}
