import Foundation
import LowbitSystem

/// Wall-clock timing and memory figures for the benchmarks.
enum Measure {
    /// Monotonic time in seconds.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// CPU time of the whole process (all threads) in seconds.
    static func processCPUTime() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Wall-clock and CPU seconds of a run.
    struct Timing {
        var wall: Double
        var cpu: Double
    }

    /// The shortest wall time and the least CPU time of `repetitions` runs of `body` (the least
    /// disturbed runs; the machine may be shared and noisy).
    static func best(repetitions: Int = 3, _ body: () throws -> Void) rethrows -> Timing {
        var best = Timing(wall: .infinity, cpu: .infinity)
        for _ in 0..<max(1, repetitions) {
            let start = now(), cpuStart = processCPUTime()
            try body()
            best.wall = min(best.wall, now() - start)
            best.cpu = min(best.cpu, processCPUTime() - cpuStart)
        }
        return best
    }

    /// Starts a new peak-RSS measurement: resets VmHWM to the current RSS (Linux 4.0+, writing
    /// "5" to /proc/self/clear_refs). Returns false where that is not possible.
    @discardableResult
    static func resetPeakRSS() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        do { try handle.write(contentsOf: Data("5".utf8)) } catch { return false }
        return true
    }

    /// Peak resident set size of this process in bytes (VmHWM of /proc/self/status), or nil
    /// where that file does not exist.
    static func peakRSS() -> Int? { ProcessMemory.peakResidentBytes() }

    /// Current resident set size in bytes (VmRSS).
    static func currentRSS() -> Int? { ProcessMemory.currentResidentBytes() }
}
