/// An error that names where it happened: the file, and the tensor or key involved, with a
/// reason a user understands. Each module gives it its own list of kinds (``FormatError``,
/// `EvalError`), so tests can match on what went wrong while messages stay uniform.
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

    public init(_ kind: Kind, file: String, item: String? = nil, _ reason: String) {
        self.kind = kind
        self.file = file
        self.item = item
        self.reason = reason
    }

    /// `file: 'item': reason` (without `file: ` when no file is concerned, `file` being empty).
    public var description: String {
        let location = file.isEmpty ? "" : "\(file): "
        if let item { return "\(location)'\(item)': \(reason)" }
        return location + reason
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
