/// Byte-level BPE: merges applied by rank inside each pre-tokenized word.
///
/// Works on token ids: the merge table maps a pair of ids to (rank, merged id), and each word
/// is merged with a min-heap of candidate pairs ordered by (rank, position) — the order of
/// Hugging Face's `Word::merge_all` and llama.cpp's `llm_tokenizer_bpe_session`.
struct BPEModel: Sendable {
    /// `left << 32 | right` -> `rank << 32 | merged id`.
    let merges: [UInt64: UInt64]
    /// The token of each single byte (-1 where the vocabulary has none).
    let byteTokens: [Int32]
    /// Raw bytes -> id for tokens whose text is byte-level encoded.
    let vocabulary: ByteStringTable
    /// Emit the whole word's token when the word is in the vocabulary (Llama 3).
    let ignoreMerges: Bool
    /// Token for bytes the vocabulary lacks (Hugging Face `unk_token`); dropped when nil.
    let unknownId: Int32?

    @inline(__always)
    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Reusable buffers for ``encodeWord(_:scratch:into:)``.
    struct Scratch {
        var ids: [Int32] = []
        var next: [Int32] = []
        var prev: [Int32] = []
        var heap = MinHeap()
    }

    /// Appends the tokens of one word (raw bytes) to `out`.
    func encodeWord(_ word: UnsafeBufferPointer<UInt8>, scratch: inout Scratch, into out: inout [Int32]) {
        guard !word.isEmpty else { return }
        if ignoreMerges, let id = vocabulary.lookup(word) {
            out.append(id)
            return
        }
        let n = word.count
        scratch.ids.removeAll(keepingCapacity: true)
        scratch.next.removeAll(keepingCapacity: true)
        scratch.prev.removeAll(keepingCapacity: true)
        scratch.heap.removeAll()
        for (i, byte) in word.enumerated() {
            scratch.ids.append(byteTokens[Int(byte)])
            scratch.prev.append(Int32(i - 1))
            scratch.next.append(i + 1 < n ? Int32(i + 1) : -1)
        }
        if n > 1 {
            for i in 0..<(n - 1) { pushCandidate(i, i + 1, scratch: &scratch) }
        }
        while let top = scratch.heap.popMin() {
            let rank = top >> 32
            let pos = Int(UInt32(truncatingIfNeeded: top))
            let left = scratch.ids[pos]
            let right = Int(scratch.next[pos])
            guard left != Self.removed, right >= 0 else { continue }
            guard let merge = merges[Self.pairKey(left, scratch.ids[right])], merge >> 32 == rank else { continue }
            scratch.ids[pos] = Int32(truncatingIfNeeded: merge & 0xFFFF_FFFF)
            scratch.ids[right] = Self.removed
            let after = scratch.next[right]
            scratch.next[pos] = after
            if after >= 0 { scratch.prev[Int(after)] = Int32(pos) }
            let before = scratch.prev[pos]
            if before >= 0 { pushCandidate(Int(before), pos, scratch: &scratch) }
            if after >= 0 { pushCandidate(pos, Int(after), scratch: &scratch) }
        }
        var i = 0
        while i >= 0 {
            let id = scratch.ids[i]
            if id >= 0 {
                out.append(id)
            } else if let unknownId {
                out.append(unknownId)
            }
            i = Int(scratch.next[i])
        }
    }

    private static let removed: Int32 = -2

    @inline(__always)
    private func pushCandidate(_ left: Int, _ right: Int, scratch: inout Scratch) {
        let a = scratch.ids[left], b = scratch.ids[right]
        guard a >= 0, b >= 0, let merge = merges[Self.pairKey(a, b)] else { return }
        scratch.heap.push((merge >> 32) << 32 | UInt64(left))
    }
}

/// A binary min-heap of UInt64 keys (rank or score in the high bits, position in the low bits).
struct MinHeap {
    private var items: [UInt64] = []

    mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    mutating func push(_ value: UInt64) {
        items.append(value)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popMin() -> UInt64? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        items[0] = last
        var parent = 0
        let count = items.count
        while true {
            let left = 2 * parent + 1
            guard left < count else { break }
            let right = left + 1
            let child = right < count && items[right] < items[left] ? right : left
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            parent = child
        }
        return top
    }
}
