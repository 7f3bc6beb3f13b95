import Foundation

/// This process's memory as Linux reports it in `/proc/self/status`.
package enum ProcessMemory {
    /// Peak resident set size in bytes (`VmHWM`), or nil where the file does not exist.
    package static func peakResidentBytes() -> Int? { statusField("VmHWM:") }

    /// Current resident set size in bytes (`VmRSS`), or nil where the file does not exist.
    package static func currentResidentBytes() -> Int? { statusField("VmRSS:") }

    private static func statusField(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kB = Int(fields[1]) { return kB * 1024 }
        }
        return nil
    }
}
