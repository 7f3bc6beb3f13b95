import Foundation

/// The temporary names Lowbit writes outputs under, and the clean-up of those that a killed run
/// (SIGKILL, power loss) left behind.
///
/// A file output `DIR/NAME` is written as `DIR/.NAME.lowbit-PID-RANDOM.tmp`, a directory output
/// as `DIR/.NAME.lowbit-PID.tmp`. Each is locked (``FileLock``) by its writer for the writer's
/// whole life, so one whose lock can be taken is stale; one that a live run holds is never
/// touched.
package enum StaleTemporaries {
    /// The temporary name of file output `path` for this process.
    package static func temporaryFilePath(for path: String) -> String {
        let (dir, base) = split(path)
        return "\(dir)/.\(base).lowbit-\(SystemCalls.processID)-\(UInt32.random(in: 0...UInt32.max)).tmp"
    }

    /// The temporary name of directory output `path` for this process.
    package static func temporaryDirectoryPath(for path: String) -> String {
        let (dir, base) = split(path)
        return "\(dir)/.\(base).lowbit-\(SystemCalls.processID).tmp"
    }

    /// A temporary output of `path` found on disk.
    package struct Found: Sendable {
        /// Its path.
        package var path: String
        /// The PID in its name (a hint only: PIDs are reused).
        package var processID: Int32
        /// Whether it is a directory.
        package var isDirectory: Bool
    }

    /// Every temporary output of `path` on disk (both name patterns), live or stale.
    package static func find(for path: String) -> [Found] {
        let (dir, base) = split(path)
        let prefix = ".\(base).lowbit-"
        var found: [Found] = []
        for name in SystemCalls.list(dir) ?? [] where name.hasPrefix(prefix) && name.hasSuffix(".tmp") {
            let middle = name.dropFirst(prefix.count).dropLast(".tmp".count)
            let parts = middle.split(separator: "-", omittingEmptySubsequences: false)
            guard (parts.count == 1 || parts.count == 2), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
                  let pid = Int32(parts[0]) else { continue }
            let full = "\(dir)/\(name)"
            guard let isDirectory = SystemCalls.isDirectory(full) else { continue }
            found.append(Found(path: full, processID: pid, isDirectory: isDirectory))
        }
        return found.sorted { $0.path < $1.path }
    }

    /// Locks a temporary output if no live run holds it (it is stale). The caller owns the
    /// lock while it removes or resumes it.
    package static func claim(_ found: Found) -> FileLock? {
        FileLock(path: found.path)
    }

    /// Removes every stale temporary output of `path`, calling `note` with a line for each, and
    /// leaves those that a live run holds. `keep` (a path) is not removed: a temporary output
    /// about to be resumed.
    @discardableResult
    package static func removeStale(for path: String, except keep: String? = nil,
                                   note: (String) -> Void) -> [String] {
        var removed: [String] = []
        for found in find(for: path) where found.path != keep {
            guard let lock = claim(found) else { continue }
            let ok = SystemCalls.removeTree(found.path)
            withExtendedLifetime(lock) {}
            if ok {
                removed.append(found.path)
                note("removed \(found.path), a temporary output left by an earlier run (pid \(found.processID)) that did not finish")
            } else {
                note("cannot remove \(found.path), a stale temporary output: \(SystemCalls.describe(SystemCalls.lastError))")
            }
        }
        return removed
    }

    static func split(_ path: String) -> (dir: String, base: String) {
        var trimmed = path
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return (".", trimmed) }
        let dir = String(trimmed[..<slash])
        return (dir.isEmpty ? "/" : dir, String(trimmed[trimmed.index(after: slash)...]))
    }
}
