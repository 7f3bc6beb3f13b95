import Foundation
import LowbitSystem

/// A one-line progress bar on standard error: items done of the total, bytes done of the total,
/// the rate in bytes per second and the estimated time left. With a byte total of 0 it counts
/// items only (`imatrix 3/20 chunks  0.52 chunks/s  ETA 0:33`).
///
/// It draws only when standard error is a terminal (so logs and pipes stay clean) and at most
/// ten times a second. It is safe to call from several threads at once. Subcommands that process
/// tensors (inspect --stats, convert, perplexity) share it.
final class ProgressBar: @unchecked Sendable {
    /// What is being counted (`tensors`, `chunks`, ...).
    let unit: String
    let title: String
    let totalItems: Int
    let totalBytes: Int
    /// Whether the bar draws at all.
    let isEnabled: Bool

    private let lock = NSLock()
    private var items = 0
    private var bytes = 0
    private var lastDraw: UInt64 = 0
    private var drawn = false
    private let start: UInt64

    /// Whether standard error is a terminal.
    static var standardErrorIsTerminal: Bool { SystemCalls.standardErrorIsTerminal }

    /// A bar for `totalItems` items holding `totalBytes` bytes. `enabled` defaults to whether
    /// standard error is a terminal.
    init(title: String, totalItems: Int, totalBytes: Int, unit: String = "tensors",
         enabled: Bool = ProgressBar.standardErrorIsTerminal) {
        self.title = title
        self.totalItems = totalItems
        self.totalBytes = totalBytes
        self.unit = unit
        self.isEnabled = enabled
        self.start = ProgressBar.now()
    }

    /// Records `items` more items and `bytes` more bytes done, and redraws if due.
    func advance(items: Int = 1, bytes: Int) {
        guard isEnabled else { return }
        lock.lock()
        defer { lock.unlock() }
        self.items += items
        self.bytes += bytes
        let t = ProgressBar.now()
        if t - lastDraw >= 100_000_000 || self.items == totalItems {
            lastDraw = t
            draw(now: t)
        }
    }

    /// Clears the bar's line, leaving the terminal as it was.
    func finish() {
        guard isEnabled else { return }
        lock.lock()
        defer { lock.unlock() }
        if drawn {
            ErrorReporter.writeStandardError("\r\u{1B}[2K")
            drawn = false
        }
    }

    /// The line the bar shows, for `items` and `bytes` done after `seconds`.
    static func line(title: String, items: Int, totalItems: Int, unit: String, bytes: Int,
                     totalBytes: Int, seconds: Double, width: Int) -> String {
        let fraction = totalBytes > 0 ? Double(bytes) / Double(totalBytes)
            : totalItems > 0 ? Double(items) / Double(totalItems) : 1
        let text: String
        if totalBytes > 0 {
            let rate = seconds > 0 ? Double(bytes) / seconds : 0
            let eta = rate > 0 && totalBytes > bytes ? Double(totalBytes - bytes) / rate : 0
            text = "\(title) \(items)/\(totalItems) \(unit)  \(formatBytes(bytes))/\(formatBytes(totalBytes))"
                + "  \(formatBytes(Int(rate)))/s  ETA \(formatDuration(eta))"
        } else {
            let rate = seconds > 0 ? Double(items) / seconds : 0
            let eta = rate > 0 && totalItems > items ? Double(totalItems - items) / rate : 0
            text = "\(title) \(items)/\(totalItems) \(unit)  " + String(format: "%.2f", rate)
                + " \(unit)/s  ETA \(formatDuration(eta))"
        }
        let barWidth = max(0, min(40, width - text.count - 4))
        guard barWidth >= 10 else { return String(text.prefix(max(0, width - 1))) }
        let filled = Int((min(1, max(0, fraction)) * Double(barWidth)).rounded(.down))
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: barWidth - filled)
            + "] " + text
    }

    /// `bytes` with a binary-free decimal unit: `512 B`, `1.5 MB`, `2.31 GB`.
    static func formatBytes(_ bytes: Int) -> String {
        let b = Double(bytes)
        if b < 1e3 { return "\(bytes) B" }
        if b < 1e6 { return String(format: "%.1f kB", b / 1e3) }
        if b < 1e9 { return String(format: "%.1f MB", b / 1e6) }
        return String(format: "%.2f GB", b / 1e9)
    }

    /// `seconds` as `m:ss` or `h:mm:ss`.
    static func formatDuration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) }
        return String(format: "%d:%02d", s / 60, s % 60)
    }

    private func draw(now t: UInt64) {
        let seconds = Double(t - start) / 1e9
        let text = ProgressBar.line(title: title, items: items, totalItems: totalItems, unit: unit,
                                    bytes: bytes, totalBytes: totalBytes, seconds: seconds,
                                    width: ProgressBar.terminalWidth())
        ErrorReporter.writeStandardError("\r\u{1B}[2K" + text)
        drawn = true
    }

    private static func terminalWidth() -> Int {
        SystemCalls.standardErrorColumns ?? 80
    }

    private static func now() -> UInt64 {
        DispatchTime.now().uptimeNanoseconds
    }
}
