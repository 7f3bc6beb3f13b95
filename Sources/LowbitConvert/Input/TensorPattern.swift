/// A regular expression matched anywhere in a tensor name (as llama-quantize's `--tensor-type`
/// and `--keep` patterns are: a search, not a whole-name match).
public struct TensorPattern: @unchecked Sendable, CustomStringConvertible {
    // Regex is not Sendable because of its lazily built program; a compiled, never-mutated
    // pattern shared read-only between threads is safe.
    private let regex: Regex<AnyRegexOutput>
    /// The pattern as the user wrote it.
    public let pattern: String

    /// Compiles `pattern`; a bad regular expression is a ``ConvertError`` naming it.
    public init(_ pattern: String) throws {
        do {
            regex = try Regex(pattern)
        } catch {
            throw ConvertError.badOption("bad regular expression '\(pattern)': \(error)")
        }
        self.pattern = pattern
    }

    /// Whether the pattern occurs in `name`.
    public func matches(_ name: String) -> Bool { name.contains(regex) }

    /// The pattern as the user wrote it.
    public var description: String { pattern }
}
