/// How a SentencePiece-style Hugging Face tokenizer.json (Llama 2, Mistral) marks spaces before
/// its BPE model runs: the normalizer's `Prepend` / `Replace` steps, then an optional `Metaspace`
/// pre-tokenizer. Applied, as `tokenizers` does, to each stretch of text between added tokens.
///
/// Works on UTF-8 bytes; patterns and replacements are literal strings.
struct SentencePieceSpacing: Sendable, Equatable {
    /// A normalizer step.
    enum Step: Sendable, Equatable {
        /// `Prepend`: put the bytes before a non-empty text.
        case prepend([UInt8])
        /// `Replace` with a literal (`String`) pattern: every occurrence, left to right.
        case replace([UInt8], with: [UInt8])
    }

    /// `Metaspace.prepend_scheme`.
    enum PrependScheme: String, Sendable {
        /// Prepend the mark unless the text already starts with it.
        case always
        /// As `always`, but only for the text at the very start of the input.
        case first
        case never
    }

    /// The `Metaspace` pre-tokenizer.
    struct Metaspace: Sendable, Equatable {
        /// The mark that replaces each space (U+2581 `▁`).
        var replacement: [UInt8]
        var prependScheme: PrependScheme
        /// Cut the text into words, each starting at a mark (`MergedWithNext`).
        var split: Bool
    }

    var normalizerSteps: [Step] = []
    var metaspace: Metaspace? = nil

    /// Whether the text gets a leading mark, which decoding removes again as a leading space.
    var prependsMark: Bool {
        normalizerSteps.contains { if case .prepend = $0 { true } else { false } }
            || (metaspace.map { $0.prependScheme != .never } ?? false)
    }

    /// The text of one stretch between added tokens after the normalizer steps.
    func normalize(_ bytes: [UInt8]) -> [UInt8] {
        var text = bytes
        for step in normalizerSteps {
            switch step {
            case .prepend(let prefix):
                if !text.isEmpty { text = prefix + text }
            case .replace(let pattern, let replacement):
                text = Self.replacing(pattern, with: replacement, in: text)
            }
        }
        return text
    }

    /// Normalized text after the Metaspace replacement and prepend rule. `atInputStart`: the
    /// text begins at the first byte of the input.
    func marked(_ bytes: UnsafeBufferPointer<UInt8>, atInputStart: Bool) -> [UInt8] {
        var text = Array(bytes)
        guard let metaspace else { return text }
        text = Self.replacing([0x20], with: metaspace.replacement, in: text)
        let prepend = switch metaspace.prependScheme {
        case .always: true
        case .first: atInputStart
        case .never: false
        }
        if prepend, !text.starts(with: metaspace.replacement) { text = metaspace.replacement + text }
        return text
    }

    /// The words of a ``marked(_:atInputStart:)`` result the BPE model merges separately: the
    /// whole text, or with `Metaspace.split` one word per mark (a mark starts a word).
    func words(_ text: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        guard !text.isEmpty else { return [] }
        guard let metaspace, metaspace.split, !metaspace.replacement.isEmpty else { return [0..<text.count] }
        var words: [Range<Int>] = []
        var start = 0
        var i = 0
        let mark = metaspace.replacement
        while i + mark.count <= text.count {
            if (0..<mark.count).allSatisfy({ text[i + $0] == mark[$0] }) {
                if i > start { words.append(start..<i) }
                start = i
                i += mark.count
            } else {
                i += 1
            }
        }
        words.append(start..<text.count)
        return words
    }

    /// `text` with every occurrence of `pattern` replaced, scanning left to right.
    static func replacing(_ pattern: [UInt8], with replacement: [UInt8], in text: [UInt8]) -> [UInt8] {
        guard !pattern.isEmpty, text.count >= pattern.count else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(text.count + text.count / 4)
        var i = 0
        while i < text.count {
            if i + pattern.count <= text.count, text[i] == pattern[0],
               (1..<pattern.count).allSatisfy({ text[i + $0] == pattern[$0] }) {
                out.append(contentsOf: replacement)
                i += pattern.count
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }
}
