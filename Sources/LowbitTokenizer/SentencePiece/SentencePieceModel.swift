/// SentencePiece-style BPE as llama.cpp runs it for `tokenizer.ggml.model = llama` (Llama 2):
/// spaces become `▁`, neighbouring pieces merge while their concatenation is a vocabulary entry,
/// highest score first (leftmost on ties), and characters that end up outside the vocabulary
/// fall back to byte tokens `<0xAB>`.
struct SentencePieceModel: Sendable {
    /// UTF-8 text of each piece -> id.
    let vocabulary: ByteStringTable
    let scores: [Float]
    /// The `<0xAB>` token of each byte (-1 where absent).
    let byteTokens: [Int32]
    let unknownId: Int32?
    /// Prepend a space to the text (`tokenizer.ggml.add_space_prefix`, true by default).
    let addSpacePrefix: Bool

    /// The escaped piece text: spaces replaced by U+2581 `▁`.
    static func escape(_ bytes: UnsafeBufferPointer<UInt8>, prefixSpace: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 3)
        if prefixSpace { out.append(contentsOf: [0xE2, 0x96, 0x81]) }
        for b in bytes {
            if b == 0x20 { out.append(contentsOf: [0xE2, 0x96, 0x81]) } else { out.append(b) }
        }
        return out
    }

    private struct Symbol {
        var start: Int
        var length: Int
        var prev: Int
        var next: Int
    }

    /// A merge candidate: its heap key and the byte length of the merged piece.
    private struct Candidate: Comparable {
        var key: UInt64
        var size: Int
        static func < (a: Candidate, b: Candidate) -> Bool { a.key < b.key }
        static func == (a: Candidate, b: Candidate) -> Bool { a.key == b.key }
    }

    /// Heap key: higher score first, then lower left index. Scores are mapped to an order-
    /// preserving UInt32 and inverted so that a min-heap pops the best candidate.
    @inline(__always)
    private static func key(score: Float, left: Int) -> UInt64 {
        var bits = score.bitPattern
        bits = (bits & 0x8000_0000) != 0 ? ~bits : bits | 0x8000_0000
        return UInt64(~bits) << 32 | UInt64(UInt32(left))
    }

    /// Appends the tokens of escaped text to `out`.
    func encode(_ text: [UInt8], into out: inout [Int32]) {
        guard !text.isEmpty else { return }
        var symbols: [Symbol] = []
        symbols.reserveCapacity(text.count)
        var offset = 0
        while offset < text.count {
            let b = text[offset]
            let length = min(b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4, text.count - offset)
            symbols.append(Symbol(start: offset, length: length, prev: symbols.count - 1,
                                  next: offset + length < text.count ? symbols.count + 1 : -1))
            offset += length
        }
        var heap = MinHeap<Candidate>()
        text.withUnsafeBufferPointer { buffer in
            func candidate(_ left: Int, _ right: Int) {
                guard left >= 0, right >= 0 else { return }
                let start = symbols[left].start
                let length = symbols[left].length + symbols[right].length
                guard let id = vocabulary.lookup(UnsafeBufferPointer(rebasing: buffer[start..<(start + length)])),
                      Int(id) < scores.count else { return }
                heap.push(Candidate(key: Self.key(score: scores[Int(id)], left: left), size: length))
            }
            for i in 1..<max(symbols.count, 1) { candidate(i - 1, i) }
            while let top = heap.popMin() {
                let left = Int(UInt32(truncatingIfNeeded: top.key))
                let size = top.size
                let right = symbols[left].next
                guard symbols[left].length > 0, right >= 0, symbols[right].length > 0,
                      symbols[left].length + symbols[right].length == size else { continue }
                symbols[left].length += symbols[right].length
                symbols[right].length = 0
                symbols[left].next = symbols[right].next
                if symbols[right].next >= 0 { symbols[symbols[right].next].prev = left }
                candidate(symbols[left].prev, left)
                candidate(left, symbols[left].next)
            }
            var i = 0
            while i >= 0 {
                let s = symbols[i]
                let piece = UnsafeBufferPointer(rebasing: buffer[s.start..<(s.start + s.length)])
                if let id = vocabulary.lookup(piece) {
                    out.append(id)
                } else {
                    for byte in piece {
                        let id = byteTokens[Int(byte)]
                        if id >= 0 { out.append(id) } else if let unknownId { out.append(unknownId) }
                    }
                }
                i = s.next
            }
        }
    }
}
