/// BPE: merges applied by rank inside each pre-tokenized word.
///
/// A word starts as one symbol per byte (byte-level BPE, GPT-2 style) or one per Unicode scalar
/// with byte fallback (Hugging Face's SentencePiece-style BPE, Llama 2), see ``Segmentation``.
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
    /// How a word is cut into its first symbols.
    var segmentation: Segmentation = .bytes

    /// The first symbols of a word.
    enum Segmentation: Sendable {
        /// One symbol per byte, looked up in ``byteTokens`` (byte-level BPE).
        case bytes
        /// One symbol per Unicode scalar whose UTF-8 text is in ``vocabulary``; a scalar that is
        /// not becomes the ``byteTokens`` of its bytes (`<0xAB>`, when all exist), else the
        /// unknown token, consecutive unknowns fused into one when `fuseUnknown` (Hugging Face
        /// `BPE` with `byte_fallback`, `fuse_unk`).
        case scalarsWithByteFallback(fuseUnknown: Bool)
    }

    @inline(__always)
    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Reusable buffers for ``encodeWord(_:scratch:into:)``.
    struct Scratch {
        var ids: [Int32] = []
        var next: [Int32] = []
        var prev: [Int32] = []
        var heap = MinHeap<UInt64>()
    }

    /// Appends the tokens of one word (raw bytes) to `out`.
    func encodeWord(_ word: UnsafeBufferPointer<UInt8>, scratch: inout Scratch, into out: inout [Int32]) {
        guard !word.isEmpty else { return }
        if ignoreMerges, let id = vocabulary.lookup(word) {
            out.append(id)
            return
        }
        scratch.ids.removeAll(keepingCapacity: true)
        scratch.next.removeAll(keepingCapacity: true)
        scratch.prev.removeAll(keepingCapacity: true)
        scratch.heap.removeAll()
        switch segmentation {
        case .bytes:
            for byte in word { scratch.ids.append(byteTokens[Int(byte)]) }
        case .scalarsWithByteFallback(let fuseUnknown):
            appendScalarSymbols(word, fuseUnknown: fuseUnknown, into: &scratch.ids)
        }
        let n = scratch.ids.count
        guard n > 0 else { return }
        for i in 0..<n {
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

    /// The first symbols of `word` for ``Segmentation/scalarsWithByteFallback(fuseUnknown:)``.
    private func appendScalarSymbols(_ word: UnsafeBufferPointer<UInt8>, fuseUnknown: Bool, into ids: inout [Int32]) {
        var offset = 0
        var previousUnknown = false
        while offset < word.count {
            let lead = word[offset]
            let length = min(lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4, word.count - offset)
            let scalar = UnsafeBufferPointer(rebasing: word[offset..<(offset + length)])
            offset += length
            if let id = vocabulary.lookup(scalar) {
                ids.append(id)
                previousUnknown = false
            } else if scalar.allSatisfy({ byteTokens[Int($0)] >= 0 }) {
                for byte in scalar { ids.append(byteTokens[Int(byte)]) }
                previousUnknown = false
            } else if let unknownId {
                if !(fuseUnknown && previousUnknown) { ids.append(unknownId) }
                previousUnknown = true
            }
        }
    }

    @inline(__always)
    private func pushCandidate(_ left: Int, _ right: Int, scratch: inout Scratch) {
        let a = scratch.ids[left], b = scratch.ids[right]
        guard a >= 0, b >= 0, let merge = merges[Self.pairKey(a, b)] else { return }
        scratch.heap.push((merge >> 32) << 32 | UInt64(left))
    }
}

/// One `encode` call's BPE state: scratch buffers and the word cache.
struct BPESession {
    let model: BPEModel
    var scratch = BPEModel.Scratch()
    var cache: [[UInt8]: [Int32]] = [:]

    init(model: BPEModel) { self.model = model }

    mutating func encode(_ word: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        let key = Array(word)
        if let cached = cache[key] {
            out.append(contentsOf: cached)
            return
        }
        let start = out.count
        model.encodeWord(word, scratch: &scratch, into: &out)
        cache[key] = Array(out[start...])
    }
}
