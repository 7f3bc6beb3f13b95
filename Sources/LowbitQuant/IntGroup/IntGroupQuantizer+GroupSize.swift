/// What to do with a tensor whose rows may not split into the requested groups.
public enum GroupSizeDecision: Hashable, Sendable, CustomStringConvertible {
    /// The requested group size divides the row.
    case use(Int)
    /// It does not; a smaller standard size does (`reason` says which and why).
    case fallback(Int, reason: String)
    /// No standard group size divides the row: keep the tensor in its source precision.
    case keep(reason: String)

    /// The group size to quantize with, or nil when the tensor is kept.
    public var groupSize: Int? {
        switch self {
        case .use(let n), .fallback(let n, _): n
        case .keep: nil
        }
    }

    /// The decision as a log line shows it: `group size 32`, `group size 32 (reason)` or `kept (reason)`.
    public var description: String {
        switch self {
        case .use(let n): "group size \(n)"
        case .fallback(let n, let reason): "group size \(n) (\(reason))"
        case .keep(let reason): "kept (\(reason))"
        }
    }
}

extension IntGroupQuantizer {
    /// Standard group sizes, largest first.
    public static let standardGroupSizes = [128, 64, 32]

    /// Chooses the group size for rows of `rowLength` elements: `requested` if it divides the
    /// row, else the largest of `candidates` that does, else ``GroupSizeDecision/keep(reason:)``.
    public static func chooseGroupSize(requested: Int, rowLength: Int,
                                       candidates: [Int] = standardGroupSizes) -> GroupSizeDecision {
        precondition(requested > 0, "group size must be positive")
        guard rowLength > 0 else { return .keep(reason: "empty rows") }
        if rowLength % requested == 0 { return .use(requested) }
        if let n = candidates.sorted(by: >).first(where: { rowLength % $0 == 0 }) {
            return .fallback(n, reason: "row length \(rowLength) is not a multiple of \(requested); \(n) divides it")
        }
        let list = candidates.sorted(by: >).map(String.init).joined(separator: "/")
        return .keep(reason: "row length \(rowLength) is not a multiple of \(requested) or of any of \(list)")
    }
}
