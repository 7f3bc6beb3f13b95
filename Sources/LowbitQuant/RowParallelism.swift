import Dispatch
import Foundation

/// Splits `count` rows into chunks of at least `minimumRows` rows (about `threads` chunks per
/// thread for balance) and runs `body` on each chunk, in parallel when there is more than one.
/// Results never depend on the split: every row is processed independently.
@usableFromInline
func forEachRowChunk(count: Int, minimumRows: Int,
                     threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                     _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let maxChunks = max(1, threads) * 4
    let chunks = max(1, min(maxChunks, count / max(1, minimumRows)))
    if chunks == 1 || threads <= 1 {
        body(0..<count)
        return
    }
    withoutActuallyEscaping(body) { body in
        let run = UncheckedRowBody(body: body)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            run.body((count * c / chunks)..<(count * (c + 1) / chunks))
        }
    }
}

/// Carries a non-Sendable closure into `concurrentPerform`; the closures passed here only touch
/// disjoint rows of caller-owned buffers.
private struct UncheckedRowBody: @unchecked Sendable {
    let body: (Range<Int>) -> Void
}
