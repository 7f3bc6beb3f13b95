import Dispatch
import LowbitFormats

/// Writes byte buffers to a ``TensorWriter`` on a background queue, so the next strip is
/// quantized while the last one goes to disk. At most `depth` buffers wait at a time, which
/// bounds memory; the first write error is rethrown by the next call.
final class StripWriter: @unchecked Sendable {
    private let writer: any TensorWriter
    private let queue = DispatchQueue(label: "lowbit.strip-writer")
    private let slots: DispatchSemaphore
    private let lock = DispatchSemaphore(value: 1)
    private var failure: (any Error)?

    init(_ writer: any TensorWriter, depth: Int = 2) {
        self.writer = writer
        self.slots = DispatchSemaphore(value: depth)
    }

    /// Queues `bytes` to be appended after everything queued before.
    func append(_ bytes: [UInt8]) throws {
        try rethrowFailure()
        guard !bytes.isEmpty else { return }
        slots.wait()
        queue.async { [self] in
            defer { slots.signal() }
            lock.wait()
            let failed = failure != nil
            lock.signal()
            guard !failed else { return }
            do {
                try bytes.withUnsafeBytes { try writer.append($0) }
            } catch {
                lock.wait()
                failure = error
                lock.signal()
            }
        }
    }

    /// Waits for every queued write, then finishes the file (fsync and rename).
    func finish() throws {
        queue.sync {}
        try rethrowFailure()
        try writer.finish()
    }

    /// Waits for queued writes without finishing (on error paths the file is then dropped).
    func drain() { queue.sync {} }

    private func rethrowFailure() throws {
        lock.wait()
        let error = failure
        lock.signal()
        if let error { throw error }
    }
}
