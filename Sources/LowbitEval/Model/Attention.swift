import Foundation
import LowbitSystem

/// Causal grouped-query self-attention over one chunk of tokens, optionally limited to a
/// sliding window.
///
/// Work is split into (row block, head) items: each computes the scores of a block of query
/// rows against the keys up to the block's end only (the causal mask makes the rest zero), so
/// about 9/16 of a full T×T product is done at T = 512. With a window of w, query i sees the keys
/// j with i - w < j <= i, and a block starts at the first key its first row sees. Each worker has
/// its own score scratch.
struct Attention {
    let headCount: Int
    let kvHeadCount: Int
    let headDim: Int
    /// The sliding window (nil: every earlier position).
    let window: Int?
    /// Query rows per work item.
    let blockRows: Int

    init(config: LlamaConfig, blockRows: Int = 64) {
        headCount = config.headCount
        kvHeadCount = config.kvHeadCount
        headDim = config.headDim
        window = config.slidingWindow
        self.blockRows = blockRows
    }

    /// Floats of score scratch one worker needs for `tokens` tokens.
    func scratchPerWorker(tokens: Int) -> Int { min(blockRows, tokens) * tokens }

    /// `out[T × heads·d]` = softmax(q kᵀ / √d, causal) v for each head; q `[T × heads·d]`,
    /// k and v `[T × kvHeads·d]`, their rows `inputStride` floats apart (they may be columns of
    /// one stacked QKV buffer). `scratch` holds `threads` × ``scratchPerWorker(tokens:)`` floats.
    func run(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, inputStride: Int,
             tokens: Int, into out: UnsafeMutablePointer<Float>,
             scratch: UnsafeMutablePointer<Float>, threads: Int) {
        let blocks = (tokens + blockRows - 1) / blockRows
        let items = blocks * headCount
        let workers = max(1, min(threads, items))
        let perWorker = scratchPerWorker(tokens: tokens)
        let q = UnsafeTransfer(UnsafeMutablePointer(mutating: q))
        let k = UnsafeTransfer(UnsafeMutablePointer(mutating: k))
        let v = UnsafeTransfer(UnsafeMutablePointer(mutating: v))
        let o = UnsafeTransfer(out)
        let s = UnsafeTransfer(scratch)
        let this = self
        Parallel.forEach(workers) { worker in
            // Items are ordered by row block, so taking every `workers`-th one balances the
            // growing cost of later blocks.
            var item = worker
            while item < items {
                this.attend(block: item / this.headCount, head: item % this.headCount, tokens: tokens,
                            inputStride: inputStride,
                            q: q.wrappedValue, k: k.wrappedValue, v: v.wrappedValue, out: o.wrappedValue,
                            scores: s.wrappedValue + worker * perWorker)
                item += workers
            }
        }
    }

    private func attend(block: Int, head: Int, tokens: Int, inputStride: Int,
                        q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>,
                        v: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>,
                        scores: UnsafeMutablePointer<Float>) {
        let r0 = block * blockRows
        let r1 = min(tokens, r0 + blockRows)
        let rows = r1 - r0
        // Keys k0..<r1 are visible to some row of the block.
        let k0 = window.map { max(0, r0 - $0 + 1) } ?? 0
        let keys = r1 - k0
        let outStride = headCount * headDim
        let kvHead = head / (headCount / kvHeadCount)
        let scale = 1 / Float(headDim).squareRoot()
        // scores[rows × keys] = scale · q_block · k_headᵀ (leading dimension `keys`).
        BLAS.gemmTransposedB(m: rows, n: keys, k: headDim, alpha: scale,
                             a: q + r0 * inputStride + head * headDim, lda: inputStride,
                             b: k + k0 * inputStride + kvHead * headDim, ldb: inputStride,
                             c: scores, ldc: keys)
        for r in 0..<rows {
            // Keys first..<end (counted from k0) are visible to this query.
            let end = r0 + r + 1 - k0
            let first = window.map { max(0, r0 + r + 1 - $0 - k0) } ?? 0
            let row = scores + r * keys
            for j in 0..<first { row[j] = 0 }
            Softmax.inPlace(row + first, count: end - first)
            for j in end..<keys { row[j] = 0 }
        }
        // out_block_head[rows × d] = P[rows × keys] · v_head[keys × d].
        BLAS.gemm(m: rows, n: headDim, k: keys, a: scores, lda: keys,
                  b: v + k0 * inputStride + kvHead * headDim, ldb: inputStride,
                  c: out + r0 * outStride + head * headDim, ldc: outStride)
    }
}
