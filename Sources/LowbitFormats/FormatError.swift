/// An error that names where it happened: the file, and the tensor or key involved, with a
/// reason a user understands. Each module gives it its own list of kinds (``FormatError``,
/// `QuantError`, `TokenizerError`, ``JSONError``, `EvalError`, ...), so tests can match on what
/// went wrong while messages stay uniform.
///
/// Code that works on bytes or metadata without knowing their file throws with an empty `file`;
/// the caller that opened the file fills it in with ``located(in:)``.
public struct LocatedError<K: Hashable & Sendable>: Error, CustomStringConvertible, Sendable, Equatable {
    /// The module's list of problem kinds.
    public typealias Kind = K

    /// What kind of problem this is; tests match on it.
    public var kind: Kind
    /// The path of the file the problem is in.
    public var file: String
    /// The tensor or metadata key involved, if any.
    public var item: String?
    /// What is wrong, in words a user understands.
    public var reason: String
    /// The byte offset in the file (or in the parsed text) where the problem was found, if known.
    public var offset: Int?

    /// An error of `kind` in `file` (empty while the file is not known), about `item`, found at
    /// byte `offset`.
    public init(_ kind: Kind, file: String = "", item: String? = nil, offset: Int? = nil, _ reason: String) {
        self.kind = kind
        self.file = file
        self.item = item
        self.offset = offset
        self.reason = reason
    }

    /// The same error with `file` filled in, unless it already names one.
    public func located(in file: String) -> Self {
        guard self.file.isEmpty else { return self }
        var copy = self
        copy.file = file
        return copy
    }

    /// `file: subject at byte offset: 'item': reason`, leaving out the parts that are unknown
    /// (the subject comes from a kind that conforms to ``LocatedErrorSubject``).
    public var description: String {
        var place = file
        if let subject = (Kind.self as? any LocatedErrorSubject.Type)?.subject {
            place = place.isEmpty ? subject : place + ": " + subject
        }
        if let offset { place += (place.isEmpty ? "" : " ") + "at byte \(offset)" }
        var parts: [String] = place.isEmpty ? [] : [place]
        if let item, !item.isEmpty { parts.append("'\(item)'") }
        parts.append(reason)
        return parts.joined(separator: ": ")
    }
}

/// A kind of ``LocatedError`` whose messages name what they are about (`tokenizer`,
/// `invalid JSON`), which matters when no file is known.
public protocol LocatedErrorSubject {
    /// A word or two that starts the error's message, after the file.
    static var subject: String { get }
}

/// An error that can be told which file it concerns once a caller knows it (a parser working
/// on bytes already in memory cannot).
public protocol FileLocatable: Error {
    /// The same error naming `file`, unless it already names one.
    func located(in file: String) -> Self
}

extension LocatedError: FileLocatable {}

/// Runs `body`; an error of Lowbit's shape that names no file yet is given `file`.
public func withFileNamed<T>(_ file: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as any FileLocatable {
        throw error.located(in: file)
    }
}

/// The kinds of problem a model file can have.
public enum FormatErrorKind: String, Sendable {
    case io, truncated, badMagic, unsupportedVersion, badHeader, badOffset, badSize, overflow
    case unknownType, duplicateName, badShape, badAlignment, badMetadata, missingFile
    case missingTensor, notDecodable, limitExceeded
    /// A model whose architecture or configuration Lowbit does not handle.
    case unsupportedModel
}

/// An error raised while reading or writing a model file, naming the file and, where one is
/// involved, the tensor or metadata key.
public typealias FormatError = LocatedError<FormatErrorKind>
