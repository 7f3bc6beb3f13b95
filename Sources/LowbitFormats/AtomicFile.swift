#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import LowbitSystem

/// A file written under a temporary name in the destination directory and renamed into place
/// only when ``commit()`` succeeds, after an fsync. If the writer is dropped or fails before
/// committing, the temporary file is removed and nothing appears under the final name.
///
/// The temporary file (`.NAME.lowbit-PID-RANDOM.tmp`) is locked with `flock` for the writer's
/// life, and registered with ``TemporaryOutputs`` so that an interrupt removes it; a run that is
/// killed outright leaves it unlocked, and ``StaleTemporaries`` removes it at the next run.
public final class AtomicFile {
    /// The final path.
    public let path: String
    /// The temporary path being written.
    public let temporaryPath: String
    private var fd: Int32
    private var committed = false
    private let registration: Int
    /// Bytes written so far.
    public private(set) var bytesWritten = 0
    /// The ``ContentHash`` of everything written, when the file was opened with `hashing: true`.
    public private(set) var contentHash: ContentHash?

    /// Creates the temporary file for `path`. With `hashing`, every byte written is also hashed
    /// (``contentHash``).
    public init(path: String, hashing: Bool = false) throws {
        self.path = path
        temporaryPath = StaleTemporaries.temporaryFilePath(for: path)
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw FormatError(.io, file: path, "cannot create \(temporaryPath): \(String(cString: strerror(errno)))")
        }
        // The writer's lock: the kernel drops it when this process ends, however it ends.
        _ = flock(fd, LOCK_EX | LOCK_NB)
        registration = TemporaryOutputs.shared.register(temporary: temporaryPath, final: path)
        if hashing { contentHash = ContentHash() }
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !committed {
            unlink(temporaryPath)
            TemporaryOutputs.shared.unregister(registration)
        }
    }

    /// Appends `bytes`. A failed write (ENOSPC, EFBIG, EIO ...) throws an error naming the output.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw FormatError(.io, file: path, "write failed after \(bytesWritten + done) bytes: \(String(cString: strerror(errno)))")
            }
            done += n
        }
        bytesWritten += bytes.count
        contentHash?.update(bytes)
    }

    /// Appends `bytes`.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Appends `count` zero bytes.
    public func writeZeros(_ count: Int) throws {
        guard count > 0 else { return }
        try write([UInt8](repeating: 0, count: count))
    }

    /// Flushes to disk and renames the file to its final name, then syncs the directory. The
    /// lock is held until the file has its final name.
    public func commit() throws {
        guard fsync(fd) == 0 else {
            throw FormatError(.io, file: path, "fsync failed: \(String(cString: strerror(errno)))")
        }
        try TemporaryOutputs.shared.publish(registration) {
            guard rename(temporaryPath, path) == 0 else {
                throw FormatError(.io, file: path, "rename failed: \(String(cString: strerror(errno)))")
            }
            committed = true
        }
        close(fd)
        fd = -1
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let dfd = open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}
