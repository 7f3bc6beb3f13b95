import LowbitSystem

/// A read-only memory mapping of a whole file.
///
/// All access goes through bounds-checked ranges: a range outside the file throws a
/// ``FormatError`` instead of reading out of bounds. The mapping lives as long as the object.
///
/// The file stays open, so ``checkIntact(item:)`` can tell whether it shrank (reading a page
/// past the new end would raise SIGBUS) or whether its path now names another file. The
/// mapping is recorded in ``MappedRegions`` so that a SIGBUS is reported with the file's name.
public final class MappedFile: @unchecked Sendable {
    /// The path the file was opened with.
    public let path: String
    /// The file size in bytes.
    public let count: Int
    private let base: UnsafeRawPointer?
    private let fd: Int32
    private var warnedReplaced = false

    /// Maps `path` read-only. An empty file is valid and maps to zero bytes.
    public init(path: String) throws {
        self.path = path
        let fd: Int32
        do { fd = try SystemCalls.open(path, .readOnly) } catch {
            throw FormatError(.io, file: path, "cannot open: \(error.reason)")
        }
        let status: FileStatus
        do { status = try SystemCalls.status(fd: fd, path: path) } catch {
            SystemCalls.close(fd)
            throw FormatError(.io, file: path, "cannot stat: \(error.reason)")
        }
        guard status.isRegularFile else {
            SystemCalls.close(fd)
            throw FormatError(.io, file: path, "not a regular file")
        }
        self.fd = fd
        count = status.size
        if count == 0 {
            base = nil
            return
        }
        let p: UnsafeRawPointer
        do { p = try SystemCalls.mapReadOnly(fd, count: count, path: path) } catch {
            SystemCalls.close(fd)
            throw FormatError(.io, file: path, "cannot map: \(error.reason)")
        }
        base = p
        MappedRegions.shared.add(start: p, count: count, path: path)
    }

    deinit {
        if let base {
            MappedRegions.shared.remove(start: base)
            SystemCalls.unmap(base, count: count)
        }
        SystemCalls.close(fd)
    }

    /// Checks that the file has not shrunk since it was mapped (reading its missing pages would
    /// raise SIGBUS). If its path now names a different file, returns a warning once: the old
    /// file stays mapped and is still read, so that case is harmless.
    ///
    /// - Parameter item: the tensor about to be read, for the error.
    /// - Returns: a warning to show the user, or nil.
    public func checkIntact(item: String? = nil) throws -> String? {
        guard let now = FileIdentity.of(fd: fd) else {
            throw FormatError(.io, file: path, item: item, "cannot stat the open file: \(SystemCalls.describe(SystemCalls.lastError))")
        }
        guard now.size >= count else {
            throw FormatError(.truncated, file: path, item: item,
                "the file shrank from \(count) to \(now.size) bytes while it was being read; was it overwritten or truncated by another program?")
        }
        guard !warnedReplaced, let named = FileIdentity.of(path: path), !named.isSameFile(as: now) else { return nil }
        warnedReplaced = true
        return "\(path): the path now names a different file; Lowbit goes on reading the file it opened, which is still mapped"
    }

    /// Checks that `range` lies inside the file.
    public func check(_ range: Range<Int>, item: String? = nil) throws {
        guard range.lowerBound >= 0, range.upperBound <= count else {
            throw FormatError(.truncated, file: path, item: item,
                "byte range \(range.lowerBound)..<\(range.upperBound) lies outside the file (\(count) bytes)")
        }
    }

    /// Calls `body` with the bytes of `range`; throws if the range is not inside the file.
    public func withBytes<R>(_ range: Range<Int>, item: String? = nil,
                             _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try check(range, item: item)
        guard let base else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }

    /// Tells the kernel that the pages of `range` will be needed soon.
    public func willNeed(_ range: Range<Int>) { advise(range, .willNeed) }

    /// Tells the kernel that the pages of `range` are no longer needed, so memory stays bounded
    /// while a large file streams through.
    public func release(_ range: Range<Int>) { advise(range, .dontNeed) }

    private func advise(_ range: Range<Int>, _ advice: SystemCalls.Advice) {
        guard let base, range.lowerBound >= 0, range.upperBound <= count, !range.isEmpty else { return }
        let page = SystemCalls.pageSize
        let start = range.lowerBound / page * page
        let end = min(count, range.upperBound)
        SystemCalls.advise(base + start, count: end - start, advice)
    }
}
