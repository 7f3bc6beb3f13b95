#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A system call that failed: which operation, on which path, and the `errno` it set.
public struct SystemCallError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The operation, as a user would name it: `open`, `stat`, `map`, `read`, `write`, ...
    public var operation: String
    /// The path the call was about.
    public var path: String
    /// The `errno` value.
    public var code: Int32

    /// An error of `operation` on `path` with `errno` value `code`.
    public init(_ operation: String, path: String, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    /// The system's text for ``code``, e.g. `No such file or directory`.
    public var reason: String { SystemCalls.describe(code) }

    /// `path: operation failed: reason`.
    public var description: String { "\(path): \(operation) failed: \(reason)" }
}

/// What `stat` says about a file that Lowbit needs: its size and whether it is a regular file
/// or a directory.
package struct FileStatus: Sendable {
    /// Size in bytes.
    package var size: Int
    /// Whether it is a regular file.
    package var isRegularFile: Bool
    /// Whether it is a directory.
    package var isDirectory: Bool

    init(_ st: stat) {
        size = Int(st.st_size)
        isRegularFile = (st.st_mode & S_IFMT) == S_IFREG
        isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
    }
}

/// Every system call of Lowbit, each behind a small typed wrapper (like swift-system's
/// `Internals/Syscalls.swift`), so the other files read as Swift and the platform `#if` lives in
/// this one file. Calls that can be interrupted by a signal are retried on `EINTR`; failures
/// throw ``SystemCallError`` naming the operation and the path.
package enum SystemCalls {
    /// The text of an `errno` value.
    package static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// The current `errno`.
    package static var lastError: Int32 { errno }

    /// This process's id.
    package static var processID: Int32 { getpid() }

    /// How a file is opened by ``open(_:_:)``; every mode is close-on-exec.
    package enum OpenMode {
        /// Read only (a directory too).
        case readOnly
        /// Read only, failing unless the path is a directory.
        case directory
        /// Write only, created with `permissions`; fails if the path exists.
        case createExclusive(permissions: UInt16)
    }

    /// Opens `path`, retrying on `EINTR`; returns the file descriptor.
    package static func open(_ path: String, _ mode: OpenMode) throws(SystemCallError) -> Int32 {
        while true {
            let fd: Int32
            switch mode {
            case .readOnly: fd = libc_open(path, O_RDONLY | O_CLOEXEC, 0)
            case .directory: fd = libc_open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
            case .createExclusive(let permissions):
                fd = libc_open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(permissions))
            }
            if fd >= 0 { return fd }
            if errno == EINTR { continue }
            throw SystemCallError("open", path: path, code: errno)
        }
    }

    /// Opens `path` read-only (a directory too), close-on-exec; nil with `errno` set on failure.
    static func openForLock(_ path: String) -> Int32? { try? open(path, .readOnly) }

    /// Closes `fd` (not retried: after `EINTR` the descriptor is already closed on Linux).
    package static func close(_ fd: Int32) { _ = libc_close(fd) }

    /// Takes an exclusive `flock` on `fd` without waiting; false if another process holds it.
    package static func tryExclusiveLock(_ fd: Int32) -> Bool {
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
            if errno == EINTR { continue }
            return false
        }
    }

    /// Size and kind of the open file `fd`; `path` names it in the error.
    package static func status(fd: Int32, path: String) throws(SystemCallError) -> FileStatus {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemCallError("stat", path: path, code: errno) }
        return FileStatus(st)
    }

    /// Size and kind of `path` (following symlinks).
    package static func status(path: String) throws(SystemCallError) -> FileStatus {
        var st = stat()
        guard stat(path, &st) == 0 else { throw SystemCallError("stat", path: path, code: errno) }
        return FileStatus(st)
    }

    /// Reads up to `count` bytes from `fd` into `buffer`, retrying on `EINTR`; returns the number
    /// read (0 at the end of the file).
    package static func read(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int,
                             path: String) throws(SystemCallError) -> Int {
        while true {
            let n = libc_read(fd, buffer, count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw SystemCallError("read", path: path, code: errno)
        }
    }

    /// Writes up to `count` bytes of `buffer` to `fd`, retrying on `EINTR`; returns the number
    /// written.
    package static func write(_ fd: Int32, from buffer: UnsafeRawPointer, count: Int,
                              path: String) throws(SystemCallError) -> Int {
        while true {
            let n = libc_write(fd, buffer, count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw SystemCallError("write", path: path, code: errno)
        }
    }

    /// Flushes `fd` to disk, retrying on `EINTR`.
    package static func sync(_ fd: Int32, path: String) throws(SystemCallError) {
        while fsync(fd) != 0 {
            if errno == EINTR { continue }
            throw SystemCallError("fsync", path: path, code: errno)
        }
    }

    /// Flushes directory `path` to disk, so a rename inside it is durable; errors are ignored
    /// (some filesystems cannot sync a directory).
    package static func syncDirectory(_ path: String) {
        guard let fd = try? open(path, .directory) else { return }
        try? sync(fd, path: path)
        close(fd)
    }

    /// Renames `source` to `destination`, replacing it.
    package static func rename(_ source: String, to destination: String) throws(SystemCallError) {
        guard libc_rename(source, destination) == 0 else {
            throw SystemCallError("rename", path: source, code: errno)
        }
    }

    /// Removes the file `path`; false if it could not (a missing file counts as removed).
    @discardableResult
    package static func unlink(_ path: String) -> Bool { libc_unlink(path) == 0 || errno == ENOENT }

    /// Maps `count` bytes of `fd` read-only and shared; `count` must be positive.
    package static func mapReadOnly(_ fd: Int32, count: Int, path: String) throws(SystemCallError) -> UnsafeRawPointer {
        let p = mmap(nil, count, PROT_READ, MAP_SHARED, fd, 0)
        guard let p, p != MAP_FAILED else { throw SystemCallError("map", path: path, code: errno) }
        return UnsafeRawPointer(p)
    }

    /// Unmaps a mapping made by ``mapReadOnly(_:count:path:)``.
    package static func unmap(_ start: UnsafeRawPointer, count: Int) {
        munmap(UnsafeMutableRawPointer(mutating: start), count)
    }

    /// The advice ``advise(_:count:_:)`` gives the kernel about mapped pages.
    package enum Advice {
        /// The pages will be needed soon (`MADV_WILLNEED`).
        case willNeed
        /// The pages are no longer needed (`MADV_DONTNEED`).
        case dontNeed
    }

    /// Advises the kernel about `count` mapped bytes from `start` (a page boundary).
    package static func advise(_ start: UnsafeRawPointer, count: Int, _ advice: Advice) {
        madvise(UnsafeMutableRawPointer(mutating: start), count, advice == .willNeed ? MADV_WILLNEED : MADV_DONTNEED)
    }

    /// The size of a memory page.
    package static var pageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }

    /// Whether `path` is a directory (not following a final symlink).
    package static func isDirectory(_ path: String) -> Bool? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names in directory `path` (without `.` and `..`), in directory order; nil if it
    /// cannot be read.
    package static func list(_ path: String) -> [String]? {
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
        guard directory else { return unlink(path) }
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
            let n = bytes.withUnsafeMutableBytes { libc_write(2, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }

    /// Whether standard error is a terminal (a progress bar may be mid-line there).
    package static var standardErrorIsTerminal: Bool { isatty(2) == 1 }

    /// The width of the terminal on standard error in columns, or nil if it is not a terminal.
    package static var standardErrorColumns: Int? {
        var size = winsize()
        guard ioctl(2, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }

    /// Ends the process at once with `status`, without running atexit handlers or flushing
    /// buffers that other threads may be using.
    static func exitImmediately(_ status: Int32) -> Never { _exit(status) }

    /// Ends the process with `status` the ordinary way: atexit handlers run and standard output
    /// is flushed.
    package static func exit(_ status: Int32) -> Never {
        #if canImport(Darwin)
        Darwin.exit(status)
        #elseif canImport(Musl)
        Musl.exit(status)
        #else
        Glibc.exit(status)
        #endif
    }

    /// How a child process ended, and what it used.
    package struct ChildExit: Sendable {
        /// The exit status, or 128 + the signal number if a signal ended it.
        package var status: Int32
        /// User plus system CPU time in seconds.
        package var cpuSeconds: Double
        /// Peak resident memory in bytes.
        package var peakResidentBytes: Int
    }

    /// Starts `arguments[0]` (a path) with `arguments`, standard output and error to /dev/null;
    /// returns its process id.
    package static func spawnSilently(_ arguments: [String]) throws(SystemCallError) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var cArguments = arguments.map { strdup($0) }
        cArguments.append(nil)
        defer { for p in cArguments { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, arguments[0], &actions, nil, cArguments, environ)
        guard rc == 0 else { throw SystemCallError("spawn", path: arguments[0], code: rc) }
        return Int32(pid)
    }

    /// The largest resident set size this process has had so far, in bytes (`getrusage`).
    package static func peakResidentBytes() -> Int {
        var usage = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
        return Int(usage.ru_maxrss) * 1024
    }

    /// Waits for the child `pid` to end, retrying on `EINTR`.
    package static func waitForExit(_ pid: Int32) -> ChildExit {
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid_t(pid), &status, 0, &usage) < 0 && errno == EINTR {}
        let exit = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        return ChildExit(status: exit, cpuSeconds: cpu, peakResidentBytes: Int(usage.ru_maxrss) * 1024)
    }

}

/// Standard error, written unbuffered with `write(2)`: safe from any thread and usable while
/// the process is being torn down (C's `stderr` is not usable from Swift 6 concurrency-checked
/// code).
package enum StandardError {
    /// Writes all of `text` to file descriptor 2.
    package static func write(_ text: String) { SystemCalls.writeStandardError(text) }
}

/// What identifies a file's contents on disk: size, inode, device and modification time.
package struct FileIdentity: Equatable, Sendable {
    /// Size in bytes.
    package var size: Int
    /// The inode number.
    package var inode: UInt64
    /// The device holding the file.
    package var device: UInt64
    /// Modification time in nanoseconds since the epoch.
    package var modified: Int64

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
    package static func of(path: String) -> FileIdentity? { SystemCalls.identity(path: path) }

    /// The identity of the open file `fd`, or nil.
    package static func of(fd: Int32) -> FileIdentity? { SystemCalls.identity(fd: fd) }

    /// Whether `other` is the same file (same inode on the same device).
    package func isSameFile(as other: FileIdentity) -> Bool { inode == other.inode && device == other.device }
}

// The C functions whose names the wrappers in `SystemCalls` reuse: at file scope the names
// resolve to the C library, so one line each needs no platform `#if`.
private func libc_open(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
private func libc_close(_ fd: Int32) -> Int32 { close(fd) }
private func libc_read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int { read(fd, buffer, count) }
private func libc_write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
private func libc_rename(_ source: String, _ destination: String) -> Int32 { rename(source, destination) }
private func libc_unlink(_ path: String) -> Int32 { unlink(path) }
