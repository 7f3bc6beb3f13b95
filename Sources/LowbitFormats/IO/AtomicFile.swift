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
        do { fd = try SystemCalls.open(temporaryPath, .createExclusive(permissions: 0o644)) } catch {
            throw FormatError(.io, file: path, "cannot create \(temporaryPath): \(error.reason)")
        }
        // The writer's lock: the kernel drops it when this process ends, however it ends.
        _ = SystemCalls.tryExclusiveLock(fd)
        registration = TemporaryOutputs.shared.register(temporary: temporaryPath, final: path)
        if hashing { contentHash = ContentHash() }
    }

    deinit {
        if fd >= 0 { SystemCalls.close(fd) }
        if !committed {
            SystemCalls.unlink(temporaryPath)
            TemporaryOutputs.shared.unregister(registration)
        }
    }

    /// Appends `bytes`. A failed write (ENOSPC, EFBIG, EIO ...) throws an error naming the output.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            do {
                done += try SystemCalls.write(fd, from: bytes.baseAddress! + done, count: bytes.count - done,
                                              path: temporaryPath)
            } catch {
                throw FormatError(.io, file: path, "write failed after \(bytesWritten + done) bytes: \(error.reason)")
            }
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
        do { try SystemCalls.sync(fd, path: temporaryPath) } catch {
            throw FormatError(.io, file: path, "fsync failed: \(error.reason)")
        }
        try TemporaryOutputs.shared.publish(registration) {
            do throws(SystemCallError) { try SystemCalls.rename(temporaryPath, to: path) } catch {
                throw FormatError(.io, file: path, "rename failed: \(error.reason)")
            }
            committed = true
        }
        SystemCalls.close(fd)
        fd = -1
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        SystemCalls.syncDirectory(dir.isEmpty ? "/" : dir)
    }
}
