import Foundation

/// The address ranges of the files Lowbit has mapped, so that a SIGBUS (a mapped file that
/// shrank) can be reported with the file's name.
package final class MappedRegions: @unchecked Sendable {
    /// The process-wide registry.
    package static let shared = MappedRegions()

    private let lock = NSLock()
    private var regions: [(start: UInt, count: Int, path: String)] = []

    init() {}

    /// Records that `count` bytes at `start` map `path`.
    package func add(start: UnsafeRawPointer, count: Int, path: String) {
        lock.lock()
        regions.append((UInt(bitPattern: start), count, path))
        lock.unlock()
    }

    /// Forgets the mapping at `start`.
    package func remove(start: UnsafeRawPointer) {
        lock.lock()
        regions.removeAll { $0.start == UInt(bitPattern: start) }
        lock.unlock()
    }

    /// The mapped file and offset of `address`, if it lies in a recorded mapping.
    package func locate(_ address: UInt) -> (path: String, offset: Int)? {
        lock.lock()
        defer { lock.unlock() }
        for r in regions where address >= r.start && address < r.start + UInt(r.count) {
            return (r.path, Int(address - r.start))
        }
        return nil
    }
}
