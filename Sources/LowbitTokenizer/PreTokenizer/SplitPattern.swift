import Foundation

/// A pre-tokenizer regular expression, implemented by hand over Unicode scalars.
///
/// Lowbit does not run arbitrary regexes: each case is one pattern used by real tokenizers,
/// matched with the regex's exact semantics (leftmost alternative wins, greedy quantifiers,
/// `(?!\S)` lookahead) but in one forward pass. ``init(regex:)`` recognises their spellings in
/// tokenizer.json and llama.cpp.
public enum SplitPattern: Sendable, Hashable, CustomStringConvertible {
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2
    /// Llama 3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
    case llama3
    /// Qwen 2: the Llama 3 pattern with single digits (`\p{N}` instead of `\p{N}{1,3}`).
    case qwen2
    /// `\p{N}` (one number character), or `\p{N}+` when `individual` is false.
    case numbers(individual: Bool)
    /// `[0-9][0-9][0-9]`.
    case asciiDigitTriples
    /// `[\p{P}\$\+<=>\^~\|]+` (llama.cpp's default pre-tokenizer).
    case punctuationRun

    /// The regex this pattern implements, as tokenizer.json spells it.
    public var regex: String {
        switch self {
        case .gpt2: #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
        case .llama3:
            #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        case .qwen2:
            #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        case .numbers(let individual): individual ? #"\p{N}"# : #"\p{N}+"#
        case .asciiDigitTriples: "[0-9][0-9][0-9]"
        case .punctuationRun: #"[\p{P}\$\+<=>\^~\|]+"#
        }
    }

    /// The regex.
    public var description: String { regex }

    /// Recognises a regex spelling (tokenizer.json's, or llama.cpp's case-expanded variant).
    public init?(regex: String) {
        let caseExpanded = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
        let ignoreCase = "(?i:'s|'t|'re|'ve|'m|'ll|'d)"
        let gpt2Short = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#
        for candidate in [SplitPattern.gpt2, .llama3, .qwen2, .numbers(individual: true),
                          .numbers(individual: false), .asciiDigitTriples, .punctuationRun] {
            let spelling = candidate.regex
            if regex == spelling || regex == spelling.replacingFirst(ignoreCase, with: caseExpanded) {
                self = candidate
                return
            }
        }
        if regex == gpt2Short { self = .gpt2; return }
        return nil
    }

    /// The matches of the pattern in `text`, as ranges of Unicode scalar offsets, found left to
    /// right like a regex engine's `finditer`.
    public func matches(in text: String) -> [Range<Int>] {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { buffer in
            let scalars = ScalarText(buffer, range: 0..<buffer.count)
            var result: [Range<Int>] = []
            var pos = 0
            while pos < scalars.count {
                let end = match(scalars, at: pos, end: scalars.count)
                if end > pos {
                    result.append(pos..<end)
                    pos = end
                } else {
                    pos += 1
                }
            }
            return result
        }
    }

    /// The end (exclusive) of the match starting at `pos`, or `pos` when none starts there.
    /// `end` is the end of the piece being split: lookaheads treat it as the end of the text.
    func match(_ text: ScalarText, at pos: Int, end: Int) -> Int {
        switch self {
        case .gpt2: return Self.matchGPT2(text, pos, end)
        case .llama3: return Self.matchLlama3(text, pos, end, maxDigits: 3)
        case .qwen2: return Self.matchLlama3(text, pos, end, maxDigits: 1)
        case .numbers(let individual):
            guard text.classes[pos].contains(.number) else { return pos }
            if individual { return pos + 1 }
            return Self.run(text, from: pos, end: end) { $0.contains(.number) }
        case .asciiDigitTriples:
            guard pos + 3 <= end else { return pos }
            for k in pos..<(pos + 3) where !(0x30...0x39).contains(text.scalars[k]) { return pos }
            return pos + 3
        case .punctuationRun:
            var i = pos
            while i < end, Self.isDefaultPunctuation(text, i) { i += 1 }
            return i
        }
    }

    // MARK: - the patterns

    @inline(__always)
    private static func run(_ text: ScalarText, from pos: Int, end: Int, limit: Int = .max,
                            _ predicate: (ScalarClass) -> Bool) -> Int {
        var i = pos
        while i < end, i - pos < limit, predicate(text.classes[i]) { i += 1 }
        return i
    }

    @inline(__always)
    private static func isOther(_ c: ScalarClass) -> Bool {
        c.isDisjoint(with: [.whitespace, .letter, .number])
    }

    private static func isDefaultPunctuation(_ text: ScalarText, _ i: Int) -> Bool {
        if text.classes[i].contains(.punctuation) { return true }
        switch text.scalars[i] {
        case 0x24, 0x2B, 0x3C, 0x3D, 0x3E, 0x5E, 0x7E, 0x7C: return true  // $ + < = > ^ ~ |
        default: return false
        }
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d`, case-sensitive or not: the match end, or `pos`.
    @inline(__always)
    private static func contraction(_ text: ScalarText, _ pos: Int, _ end: Int, ignoreCase: Bool) -> Int {
        guard text.scalars[pos] == 0x27, pos + 1 < end else { return pos }
        func lower(_ v: UInt32) -> UInt32 { ignoreCase && (0x41...0x5A).contains(v) ? v + 32 : v }
        let c1 = lower(text.scalars[pos + 1])
        switch c1 {
        case 0x73, 0x74, 0x6D, 0x64: return pos + 2  // s t m d
        default: break
        }
        guard pos + 2 < end else { return pos }
        let c2 = lower(text.scalars[pos + 2])
        if (c1 == 0x72 && c2 == 0x65) || (c1 == 0x76 && c2 == 0x65) || (c1 == 0x6C && c2 == 0x6C) {
            return pos + 3  // re ve ll
        }
        return pos
    }

    /// `\s+(?!\S)|\s+` at a whitespace scalar.
    @inline(__always)
    private static func whitespaceRun(_ text: ScalarText, _ pos: Int, _ end: Int) -> Int {
        let runEnd = run(text, from: pos, end: end) { $0.contains(.whitespace) }
        // \s+(?!\S): before a non-space the run gives back its last scalar, if it has two or more.
        if runEnd < end && runEnd - pos > 1 { return runEnd - 1 }
        return runEnd
    }

    private static func matchGPT2(_ text: ScalarText, _ pos: Int, _ end: Int) -> Int {
        let c = text.classes[pos]
        let afterContraction = contraction(text, pos, end, ignoreCase: false)
        if afterContraction > pos { return afterContraction }
        // ` ?X+` for X in \p{L}, \p{N}, [^\s\p{L}\p{N}]
        var start = pos
        var cls = c
        if text.scalars[pos] == 0x20, pos + 1 < end, !text.classes[pos + 1].contains(.whitespace) {
            start = pos + 1
            cls = text.classes[pos + 1]
        }
        if start > pos || !c.contains(.whitespace) {
            if cls.contains(.letter) { return run(text, from: start, end: end) { $0.contains(.letter) } }
            if cls.contains(.number) { return run(text, from: start, end: end) { $0.contains(.number) } }
            if isOther(cls) { return run(text, from: start, end: end) { isOther($0) } }
        }
        if c.contains(.whitespace) { return whitespaceRun(text, pos, end) }
        return pos + 1
    }

    private static func matchLlama3(_ text: ScalarText, _ pos: Int, _ end: Int, maxDigits: Int) -> Int {
        let c = text.classes[pos]
        let afterContraction = contraction(text, pos, end, ignoreCase: true)
        if afterContraction > pos { return afterContraction }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if c.contains(.letter) { return run(text, from: pos, end: end) { $0.contains(.letter) } }
        if c.isDisjoint(with: [.newline, .letter, .number]), pos + 1 < end, text.classes[pos + 1].contains(.letter) {
            return run(text, from: pos + 1, end: end) { $0.contains(.letter) }
        }
        // \p{N}{1,maxDigits}
        if c.contains(.number) { return run(text, from: pos, end: end, limit: maxDigits) { $0.contains(.number) } }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var start = pos
        if text.scalars[pos] == 0x20, pos + 1 < end, isOther(text.classes[pos + 1]) { start = pos + 1 }
        if isOther(text.classes[start]) {
            let symbolsEnd = run(text, from: start, end: end) { isOther($0) }
            return run(text, from: symbolsEnd, end: end) { $0.contains(.newline) }
        }
        guard c.contains(.whitespace) else { return pos + 1 }
        // \s*[\r\n]+ : up to and including the last newline of the whitespace run.
        let runEnd = run(text, from: pos, end: end) { $0.contains(.whitespace) }
        var lastNewline = -1
        for i in pos..<runEnd where text.classes[i].contains(.newline) { lastNewline = i }
        if lastNewline >= 0 { return lastNewline + 1 }
        return whitespaceRun(text, pos, end)
    }
}

extension String {
    fileprivate func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
