import Dispatch
import Foundation

/// Splits `count` rows into chunks of at least `minimumRows` rows (up to four per thread, for
/// balance) and runs `body` on each chunk, on at most `threads` threads at once.
/// Results never depend on the split: every row is processed independently.
@usableFromInline
func forEachRowChunk(count: Int, minimumRows: Int,
                     threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                     _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let workers = max(1, threads)
    let chunks = max(1, min(workers * 4, count / max(1, minimumRows)))
    if chunks == 1 || workers == 1 {
        body(0..<count)
        return
    }
    withoutActuallyEscaping(body) { body in
        let run = UncheckedRowBody(body: body)
        let active = min(workers, chunks)
        DispatchQueue.concurrentPerform(iterations: active) { worker in
            for c in stride(from: worker, to: chunks, by: active) {
                run.body((count * c / chunks)..<(count * (c + 1) / chunks))
            }
        }
    }
}

/// Carries a non-Sendable closure into `concurrentPerform`; the closures passed here only touch
/// disjoint rows of caller-owned buffers.
private struct UncheckedRowBody: @unchecked Sendable {
    let body: (Range<Int>) -> Void
}
