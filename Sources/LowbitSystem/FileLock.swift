/// An exclusive `flock` held on a file or directory for as long as the object lives.
///
/// Every temporary output Lowbit writes carries one for its writer's lifetime. The kernel drops
/// the lock when the process ends, however it ends (SIGKILL, power loss), so a temporary output
/// whose lock can be taken belongs to no live run: it is stale. PIDs in the temporary names are
/// only a hint; they are reused.
package final class FileLock: @unchecked Sendable {
    /// The locked path (as it was when locked; a rename does not drop the lock).
    package let path: String
    private let fd: Int32

    /// Locks `path` without waiting. Returns nil if it cannot be opened or another process
    /// holds the lock.
    package init?(path: String) {
        guard let fd = SystemCalls.openForLock(path) else { return nil }
        guard SystemCalls.tryExclusiveLock(fd) else {
            SystemCalls.close(fd)
            return nil
        }
        self.path = path
        self.fd = fd
    }

    /// Takes the lock on an already open descriptor that this object then owns and closes.
    /// Returns nil (closing `fd`) if another process holds the lock.
    package init?(descriptor fd: Int32, path: String) {
        guard SystemCalls.tryExclusiveLock(fd) else {
            SystemCalls.close(fd)
            return nil
        }
        self.path = path
        self.fd = fd
    }

    deinit { SystemCalls.close(fd) }
}
