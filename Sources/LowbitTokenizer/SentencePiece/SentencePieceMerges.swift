/// The link between a SentencePiece vocabulary's scores (GGUF `tokenizer.ggml.model = llama`)
/// and the ranked merges of a Hugging Face BPE model with byte fallback (a Llama 2 tokenizer.json).
///
/// llama.cpp merges the neighbouring pair whose concatenation is the best-scored piece; Hugging
/// Face merges the listed pair of lowest rank. Listing every split of every normal piece into two
/// normal pieces, best piece first, makes both pick the same merge except when two different
/// splits of one piece compete at once (e.g. `ab|a|ba`), where llama.cpp takes the leftmost and
/// Hugging Face the lower-ranked split; real vocabularies rarely meet this.
enum SentencePieceMerges {
    /// Every split (at Unicode scalar boundaries) of a normal piece into two normal pieces, best
    /// score first; ties by lower piece id, then lower left id, then lower right id.
    static func merges(tokens: [String], scores: [Float], types: [TokenType]) -> [(String, String)] {
        var ids: [String: Int] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, token) in tokens.enumerated() where types[i] == .normal && ids[token] == nil { ids[token] = i }
        struct Ranked { var score: Float; var piece: Int; var left: Int; var right: Int; var cut: String.Index }
        var ranked: [Ranked] = []
        for (i, piece) in tokens.enumerated() where types[i] == .normal && ids[piece] == i {
            let scalars = piece.unicodeScalars
            guard scalars.count > 1 else { continue }
            var cut = scalars.index(after: scalars.startIndex)
            while cut < scalars.endIndex {
                if let left = ids[String(scalars[..<cut])], let right = ids[String(scalars[cut...])] {
                    ranked.append(Ranked(score: scores[i], piece: i, left: left, right: right, cut: cut))
                }
                cut = scalars.index(after: cut)
            }
        }
        ranked.sort { a, b in
            if a.score != b.score { return a.score > b.score }
            if a.piece != b.piece { return a.piece < b.piece }
            if a.left != b.left { return a.left < b.left }
            return a.right < b.right
        }
        return ranked.map { r in
            let scalars = tokens[r.piece].unicodeScalars
            return (String(scalars[..<r.cut]), String(scalars[r.cut...]))
        }
    }

    /// SentencePiece scores that order pieces as ranked `merges` do: a piece made by merge rank
    /// `r` (its first) scores `-r`; other normal pieces score below every merge, by id; byte,
    /// control and other tokens score 0.
    static func scores(tokens: [String], types: [TokenType], merges: [(String, String)]) -> [Float] {
        var firstRank: [String: Int] = [:]
        firstRank.reserveCapacity(merges.count)
        for (rank, pair) in merges.enumerated() where firstRank[pair.0 + pair.1] == nil {
            firstRank[pair.0 + pair.1] = rank
        }
        return tokens.enumerated().map { i, token in
            guard types[i] == .normal else { return 0 }
            return -Float(firstRank[token] ?? (merges.count + i))
        }
    }
}
