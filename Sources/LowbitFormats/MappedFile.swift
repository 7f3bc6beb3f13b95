#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole file.
///
/// All access goes through bounds-checked ranges: a range outside the file throws a
/// ``FormatError`` instead of reading out of bounds. The mapping lives as long as the object.
public final class MappedFile: @unchecked Sendable {
    /// The path the file was opened with.
    public let path: String
    /// The file size in bytes.
    public let count: Int
    private let base: UnsafeRawPointer?

    /// Maps `path` read-only. An empty file is valid and maps to zero bytes.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw FormatError(.io, file: path, "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw FormatError(.io, file: path, "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw FormatError(.io, file: path, "not a regular file")
        }
        count = Int(st.st_size)
        if count == 0 {
            base = nil
            return
        }
        let p = mmap(nil, count, PROT_READ, MAP_SHARED, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw FormatError(.io, file: path, "cannot map: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
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
    public func willNeed(_ range: Range<Int>) { advise(range, MADV_WILLNEED) }

    /// Tells the kernel that the pages of `range` are no longer needed, so memory stays bounded
    /// while a large file streams through.
    public func release(_ range: Range<Int>) { advise(range, MADV_DONTNEED) }

    private func advise(_ range: Range<Int>, _ advice: Int32) {
        guard let base, range.lowerBound >= 0, range.upperBound <= count, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        let end = min(count, range.upperBound)
        madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, advice)
    }
}
