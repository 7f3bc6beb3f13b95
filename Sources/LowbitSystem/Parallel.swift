import Dispatch
import Foundation

/// Lowbit's one parallel-for: every multi-threaded loop in the package goes through here.
///
/// The bodies are not `Sendable`: they may capture raw pointers and write through them, on the
/// promise (the caller's) that different iterations write disjoint memory. The partitioning
/// helpers are fixed functions of their arguments, never of scheduling, so results that depend
/// on the split (sums merged in chunk order) stay the same from run to run.
package enum Parallel {
    /// Calls `body(i)` for every `i` in `0..<iterations`, on as many threads as the system
    /// gives (`DispatchQueue.concurrentPerform`), and waits for all of them. One iteration runs
    /// on the calling thread.
    @inlinable
    package static func forEach(_ iterations: Int, _ body: (Int) -> Void) {
        if iterations <= 0 { return }
        if iterations == 1 {
            body(0)
            return
        }
        withoutActuallyEscaping(body) { body in
            let work = UnsafeTransfer(body)
            DispatchQueue.concurrentPerform(iterations: iterations) { work.wrappedValue($0) }
        }
    }

    /// Calls `body` with `parts` contiguous, disjoint ranges that cover `0..<count` (fewer when
    /// `count` is small: at least `minimumPerPart` items each), each on its own thread, and waits
    /// for all of them. Part `p` is `count * p / parts ..< count * (p + 1) / parts`.
    package static func forRanges(_ count: Int, threads: Int, minimumPerPart: Int = 1,
                                 _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let parts = max(1, min(threads, count / max(1, minimumPerPart)))
        if parts == 1 {
            body(0..<count)
            return
        }
        forEach(parts) { part in
            let lo = count * part / parts
            let hi = count * (part + 1) / parts
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Like ``forRanges(_:threads:minimumPerPart:_:)`` but rethrows the first error any part threw.
    package static func forRangesThrowing(_ count: Int, threads: Int, minimumPerPart: Int = 1,
                                         _ body: (Range<Int>) throws -> Void) throws {
        let failure = LockedValueBox<(any Error)?>(nil)
        forRanges(count, threads: threads, minimumPerPart: minimumPerPart) { range in
            do { try body(range) } catch { failure.recordFirst(error) }
        }
        if let error = failure.withLockedValue({ $0 }) { throw error }
    }

    /// Splits `count` items into chunks of at least `minimumPerChunk` (up to four per thread,
    /// for balance) and runs `body` on each chunk, on at most `threads` threads at once; thread
    /// `t` takes chunks `t`, `t + threads`, ... For work whose items are independent (rows).
    package static func forChunks(_ count: Int, minimumPerChunk: Int,
                                 threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                                 _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let workers = max(1, threads)
        let chunks = max(1, min(workers * 4, count / max(1, minimumPerChunk)))
        if chunks == 1 || workers == 1 {
            body(0..<count)
            return
        }
        let active = min(workers, chunks)
        forEach(active) { worker in
            for c in stride(from: worker, to: chunks, by: active) {
                body((count * c / chunks)..<(count * (c + 1) / chunks))
            }
        }
    }
}
