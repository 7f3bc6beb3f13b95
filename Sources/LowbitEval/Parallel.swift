import Foundation

/// A raw pointer that may cross into `DispatchQueue.concurrentPerform` workers. Each worker
/// touches a disjoint part of the memory, which is what makes sharing it sound.
@usableFromInline
struct SendablePointer<T>: @unchecked Sendable {
    @usableFromInline let pointer: UnsafeMutablePointer<T>
    @inlinable init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}

/// Splits work over a fixed number of threads.
enum Parallel {
    /// Calls `body` with `parts` contiguous, disjoint ranges that cover `0..<count` (fewer when
    /// `count` is small), each on its own thread, and waits for all of them.
    static func forRanges(_ count: Int, threads: Int, minimumPerPart: Int = 1,
                          _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let parts = max(1, min(threads, count / max(1, minimumPerPart)))
        if parts == 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            let work = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                let lo = count * part / parts
                let hi = count * (part + 1) / parts
                if lo < hi { work.value(lo..<hi) }
            }
        }
    }

    /// Like ``forRanges(_:threads:minimumPerPart:_:)`` but rethrows the first error any part threw.
    static func forRangesThrowing(_ count: Int, threads: Int, minimumPerPart: Int = 1,
                                  _ body: (Range<Int>) throws -> Void) throws {
        let failure = FirstError()
        forRanges(count, threads: threads, minimumPerPart: minimumPerPart) { range in
            do { try body(range) } catch { failure.record(error) }
        }
        if let error = failure.error { throw error }
    }
}

/// Keeps the first error thrown by any of several threads.
final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var error: (any Error)?

    func record(_ error: any Error) {
        lock.lock()
        if self.error == nil { self.error = error }
        lock.unlock()
    }
}

/// A value handed to concurrent workers that only read it or write disjoint memory through it.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
