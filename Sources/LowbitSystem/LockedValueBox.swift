import Foundation

/// A value shared by several threads, read and written only under a lock (like swift-nio's
/// `NIOLockedValueBox`).
package final class LockedValueBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    /// A box holding `value`.
    package init(_ value: Value) { self.value = value }

    /// Runs `body` with the value while holding the lock, and returns what it returns.
    package func withLockedValue<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

extension LockedValueBox where Value == (any Error)? {
    /// Keeps `error` unless an earlier one is already held (the first error of several threads).
    package func recordFirst(_ error: any Error) {
        withLockedValue { if $0 == nil { $0 = error } }
    }
}
