/// A piece of input text after special tokens are cut out: either a token or raw text.
enum Fragment {
    case token(Int32)
    /// A byte range of the UTF-8 input.
    case text(Range<Int>)
}

/// Finds added / special tokens in raw text before the model runs, leftmost first and, at one
/// position, longest first.
struct SpecialTokenMatcher: Sendable {
    struct Entry: Sendable {
        var bytes: [UInt8]
        var id: Int32
        /// Matched only when the caller asks for special tokens to be parsed.
        var requiresParseSpecial: Bool
        /// Hugging Face `lstrip` / `rstrip`: the match swallows whitespace on that side.
        var stripLeft = false
        var stripRight = false
    }

    /// Candidates by first byte, longest first.
    private let byFirstByte: [[Entry]]
    let isEmpty: Bool

    init(_ entries: [Entry]) {
        var table = [[Entry]](repeating: [], count: 256)
        for entry in entries where !entry.bytes.isEmpty { table[Int(entry.bytes[0])].append(entry) }
        for i in 0..<256 {
            table[i].sort { $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id }
        }
        byFirstByte = table
        isEmpty = entries.allSatisfy { $0.bytes.isEmpty }
    }

    /// Cuts `bytes` into fragments.
    func partition(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool) -> [Fragment] {
        var fragments: [Fragment] = []
        var textStart = 0
        var pos = 0
        let n = bytes.count
        while pos < n {
            var matched: Entry? = nil
            for entry in byFirstByte[Int(bytes[pos])] {
                if entry.requiresParseSpecial && !parseSpecial { continue }
                let length = entry.bytes.count
                if pos + length <= n, entry.bytes.withUnsafeBufferPointer({ token in
                    (0..<length).allSatisfy { token[$0] == bytes[pos + $0] }
                }) {
                    matched = entry
                    break
                }
            }
            guard let entry = matched else {
                pos += 1
                continue
            }
            var start = pos
            var end = pos + entry.bytes.count
            if entry.stripLeft {
                while start > textStart, Self.isSpace(bytes[start - 1]) { start -= 1 }
            }
            if entry.stripRight {
                while end < n, Self.isSpace(bytes[end]) { end += 1 }
            }
            if textStart < start { fragments.append(.text(textStart..<start)) }
            fragments.append(.token(entry.id))
            pos = end
            textStart = end
        }
        if textStart < n { fragments.append(.text(textStart..<n)) }
        return fragments
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }
}
