#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The system calls of Lowbit's reliability layer, each behind a small typed wrapper, so the
/// rest of the module reads as Swift and the platform `#if` lives in this one file.
enum SystemCalls {
    /// The text of an `errno` value.
    static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// The current `errno`.
    static var lastError: Int32 { errno }

    static var processID: Int32 { getpid() }

    /// Opens `path` read-only (a directory too), close-on-exec; nil with `errno` set on failure.
    static func openForLock(_ path: String) -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        return fd >= 0 ? fd : nil
    }

    static func close(_ fd: Int32) { _ = closeCall(fd) }

    /// Takes an exclusive `flock` on `fd` without waiting; false if another process holds it.
    static func tryExclusiveLock(_ fd: Int32) -> Bool {
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
            if errno == EINTR { continue }
            return false
        }
    }

    /// Whether `path` is a directory (not following a final symlink).
    static func isDirectory(_ path: String) -> Bool? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names in directory `path` (without `.` and `..`); nil if it cannot be read.
    static func list(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes a file, or a directory and everything in it. Returns false if something stayed.
    @discardableResult
    static func removeTree(_ path: String) -> Bool {
        guard let directory = isDirectory(path) else { return true }
        guard directory else { return unlink(path) == 0 || errno == ENOENT }
        // Another thread of this process may still create a file in the directory while it is
        // being removed: try a few times.
        for _ in 0..<5 {
            for name in list(path) ?? [] { removeTree(path + "/" + name) }
            if rmdir(path) == 0 || errno == ENOENT { return true }
        }
        return false
    }

    /// Bytes available to an unprivileged writer on the filesystem holding `path`.
    static func availableBytes(at path: String) -> Int? {
        var fs = statvfs()
        guard statvfs(path, &fs) == 0 else { return nil }
        let (product, overflow) = Int(fs.f_bavail).multipliedReportingOverflow(by: Int(fs.f_frsize))
        return overflow ? Int.max : product
    }

    /// Size, inode and device of an open file, or nil.
    static func identity(fd: Int32) -> FileIdentity? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return FileIdentity(st)
    }

    /// Size, inode, device and modification time of `path` (following symlinks), or nil.
    static func identity(path: String) -> FileIdentity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileIdentity(st)
    }

    /// Writes all of `text` to standard error, unbuffered.
    static func writeStandardError(_ text: String) {
        var bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }

    /// Whether standard error is a terminal (a progress bar may be mid-line there).
    static var standardErrorIsTerminal: Bool { isatty(2) == 1 }

    /// Ends the process at once with `status`, without running atexit handlers or flushing
    /// buffers that other threads may be using.
    static func exitImmediately(_ status: Int32) -> Never { _exit(status) }

    private static func closeCall(_ fd: Int32) -> Int32 {
        #if canImport(Darwin)
        Darwin.close(fd)
        #elseif canImport(Musl)
        Musl.close(fd)
        #else
        Glibc.close(fd)
        #endif
    }
}

/// Standard error, written unbuffered with `write(2)`: safe from any thread and usable while
/// the process is being torn down (C's `stderr` is not usable from Swift 6 concurrency-checked
/// code).
public enum StandardError {
    /// Writes all of `text` to file descriptor 2.
    public static func write(_ text: String) { SystemCalls.writeStandardError(text) }
}

/// What identifies a file's contents on disk: size, inode, device and modification time.
public struct FileIdentity: Equatable, Sendable {
    public var size: Int
    public var inode: UInt64
    public var device: UInt64
    /// Modification time in nanoseconds since the epoch.
    public var modified: Int64

    init(_ st: stat) {
        size = Int(st.st_size)
        inode = UInt64(st.st_ino)
        device = UInt64(st.st_dev)
        #if canImport(Darwin)
        modified = Int64(st.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(st.st_mtimespec.tv_nsec)
        #else
        modified = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        #endif
    }

    /// The identity of `path`, or nil if it cannot be read.
    public static func of(path: String) -> FileIdentity? { SystemCalls.identity(path: path) }

    /// The identity of the open file `fd`, or nil.
    public static func of(fd: Int32) -> FileIdentity? { SystemCalls.identity(fd: fd) }

    /// Whether `other` is the same file (same inode on the same device).
    public func isSameFile(as other: FileIdentity) -> Bool { inode == other.inode && device == other.device }
}
