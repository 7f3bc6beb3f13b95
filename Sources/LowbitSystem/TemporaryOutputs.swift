import Foundation

/// Every temporary output this process is writing, so that an interrupt or a fatal signal can
/// remove them all and leave nothing behind.
///
/// Writers ``register(temporary:final:)`` a temporary path when they create it and
/// ``unregister(_:)`` it when it is gone; the rename that publishes an output goes through
/// ``publish(_:_:)``, which the interrupt path cannot cut in half: either the output is published
/// before the cleanup starts, or the cleanup removes it and the rename never happens.
package final class TemporaryOutputs: @unchecked Sendable {
    /// The process-wide registry.
    package static let shared = TemporaryOutputs()

    /// A registered temporary output.
    package struct Entry: Sendable {
        /// The temporary path being written (a file or a directory).
        package var temporary: String
        /// The path it is renamed to when complete.
        package var final: String
    }

    private let lock = NSLock()
    private var entries: [Int: Entry] = [:]
    private var nextID = 0
    private var cleaning = false

    init() {}

    /// Records a temporary output; returns the handle to unregister it with.
    package func register(temporary: String, final: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        nextID += 1
        entries[nextID] = Entry(temporary: temporary, final: final)
        return nextID
    }

    /// Forgets a temporary output (it was published or removed by its writer).
    package func unregister(_ id: Int) {
        lock.lock()
        entries[id] = nil
        lock.unlock()
    }

    /// Runs `rename` (the step that publishes the output) and unregisters `id`, unless the
    /// process is being cleaned up after a signal: then this never returns, because the process
    /// is about to exit.
    package func publish(_ id: Int, _ rename: () throws -> Void) rethrows {
        lock.lock()
        defer { lock.unlock() }
        while cleaning {
            lock.unlock()
            sleep(1000)
            lock.lock()
        }
        try rename()
        entries[id] = nil
    }

    /// The outputs being written now.
    package var current: [Entry] {
        lock.lock()
        defer { lock.unlock() }
        return entries.keys.sorted().map { entries[$0]! }
    }

    /// Removes every registered temporary output and blocks further publishing. Returns the
    /// final paths of the outputs that were abandoned (outer ones only: a file being written
    /// inside a temporary directory is not listed separately).
    package func removeAll() -> [String] {
        lock.lock()
        cleaning = true
        let all = entries.keys.sorted().map { entries[$0]! }
        entries = [:]
        lock.unlock()
        for entry in all { SystemCalls.removeTree(entry.temporary) }
        return all.filter { entry in
            !all.contains { other in entry.temporary.hasPrefix(other.temporary + "/") }
        }.map(\.final)
    }
}
