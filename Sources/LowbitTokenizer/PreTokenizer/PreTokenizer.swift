/// How a split step treats the pieces its pattern matches (Hugging Face's `SplitDelimiterBehavior`).
public enum SplitBehavior: String, Sendable, Hashable, CaseIterable {
    /// Matches and the text between them each become pieces.
    case isolated = "Isolated"
    /// Matches are dropped.
    case removed = "Removed"
    /// A match is appended to the piece before it.
    case mergedWithPrevious = "MergedWithPrevious"
    /// A match is prepended to the piece after it.
    case mergedWithNext = "MergedWithNext"
    /// Consecutive matches become one piece.
    case contiguous = "Contiguous"
}

/// Splits text into the words BPE encodes one by one: a sequence of regex split steps, each
/// applied to every piece the previous step produced (as llama.cpp's `unicode_regex_split` and
/// a tokenizer.json `Sequence` of `Split` / `Digits` / `ByteLevel` pre-tokenizers do).
public struct PreTokenizer: Sendable, Hashable {
    /// One split step.
    public struct Step: Sendable, Hashable, CustomStringConvertible {
        /// The regex the step splits on.
        public var pattern: SplitPattern
        /// What happens to the matched text (kept as its own piece, merged, removed).
        public var behavior: SplitBehavior
        /// Split on what the pattern does not match instead.
        public var invert: Bool

        /// A step splitting on `pattern` with `behavior`, or on what it does not match when
        /// `invert`.
        public init(_ pattern: SplitPattern, _ behavior: SplitBehavior = .isolated, invert: Bool = false) {
            self.pattern = pattern
            self.behavior = behavior
            self.invert = invert
        }

        /// `Split(regex, behavior[, inverted])`.
        public var description: String {
            "Split(\(pattern.regex), \(behavior.rawValue)\(invert ? ", inverted" : ""))"
        }
    }

    /// The split steps, applied in order.
    public var steps: [Step]

    /// A pre-tokenizer applying `steps` in order.
    public init(steps: [Step]) { self.steps = steps }

    /// The words of `text`, in order (for inspection; encoding works on bytes directly).
    public func words(in text: String) -> [String] {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { buffer in
            let scalars = ScalarText(buffer, range: 0..<buffer.count)
            return split(scalars).map {
                String(decoding: bytes[scalars.byteOffsets[$0.lowerBound]..<scalars.byteOffsets[$0.upperBound]], as: UTF8.self)
            }
        }
    }

    /// The words of `text`, as ranges of scalar indices, in order.
    func split(_ text: ScalarText) -> [Range<Int>] {
        var pieces: [Range<Int>] = text.count > 0 ? [0..<text.count] : []
        var next: [Range<Int>] = []
        for step in steps {
            next.removeAll(keepingCapacity: true)
            for piece in pieces { step.split(text, piece, into: &next) }
            swap(&pieces, &next)
        }
        return pieces
    }
}

extension PreTokenizer.Step {
    /// Appends the pieces of `piece` to `out`.
    func split(_ text: ScalarText, _ piece: Range<Int>, into out: inout [Range<Int>]) {
        // Segments covering the piece, each flagged as a match (after `invert`) or not.
        var segments: [(range: Range<Int>, isMatch: Bool)] = []
        var gapStart = piece.lowerBound
        var pos = piece.lowerBound
        while pos < piece.upperBound {
            let end = pattern.match(text, at: pos, end: piece.upperBound)
            if end > pos {
                if gapStart < pos { segments.append((gapStart..<pos, invert)) }
                segments.append((pos..<end, !invert))
                pos = end
                gapStart = end
            } else {
                pos += 1
            }
        }
        if gapStart < piece.upperBound { segments.append((gapStart..<piece.upperBound, invert)) }

        switch behavior {
        case .isolated:
            for segment in segments { out.append(segment.range) }
        case .removed:
            for segment in segments where !segment.isMatch { out.append(segment.range) }
        case .mergedWithPrevious:
            var previousIsOpenText = false
            for segment in segments {
                if segment.isMatch && previousIsOpenText {
                    out[out.count - 1] = out[out.count - 1].lowerBound..<segment.range.upperBound
                    previousIsOpenText = false
                } else {
                    out.append(segment.range)
                    previousIsOpenText = !segment.isMatch
                }
            }
        case .mergedWithNext:
            var pending: Range<Int>? = nil
            for segment in segments {
                if segment.isMatch {
                    if let p = pending { out.append(p) }
                    pending = segment.range
                } else if let p = pending {
                    out.append(p.lowerBound..<segment.range.upperBound)
                    pending = nil
                } else {
                    out.append(segment.range)
                }
            }
            if let p = pending { out.append(p) }
        case .contiguous:
            var previousIsMatch = false
            for segment in segments {
                if segment.isMatch && previousIsMatch {
                    out[out.count - 1] = out[out.count - 1].lowerBound..<segment.range.upperBound
                } else {
                    out.append(segment.range)
                }
                previousIsMatch = segment.isMatch
            }
        }
    }
}
