import Foundation

/// Wall-clock timing and memory figures for the benchmarks.
enum Measure {
    /// Monotonic time in seconds.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// The shortest of `repetitions` runs of `body`, in seconds (the least disturbed run; the
    /// machine is shared and noisy).
    static func best(repetitions: Int = 3, _ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<max(1, repetitions) {
            let start = now()
            try body()
            best = min(best, now() - start)
        }
        return best
    }

    /// Peak resident set size of this process in bytes (VmHWM of /proc/self/status), or nil
    /// where that file does not exist.
    static func peakRSS() -> Int? { statusField("VmHWM:") }

    /// Current resident set size in bytes (VmRSS).
    static func currentRSS() -> Int? { statusField("VmRSS:") }

    private static func statusField(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kB = Int(fields[1]) { return kB * 1024 }
        }
        return nil
    }
}

/// Raw pointers handed to `DispatchQueue.concurrentPerform` workers.
struct SendablePointers: @unchecked Sendable {
    var source: UnsafeRawPointer
    var destination: UnsafeMutableRawPointer
}
