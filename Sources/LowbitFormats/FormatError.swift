/// An error raised while reading or writing a model file.
///
/// Every case names the file and, where one is involved, the tensor or metadata key, so that a
/// user can see at once which file is bad and why.
public struct FormatError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of problem this is; tests match on it.
    public enum Kind: String, Sendable {
        case io, truncated, badMagic, unsupportedVersion, badHeader, badOffset, badSize, overflow
        case unknownType, duplicateName, badShape, badAlignment, badMetadata, missingFile
        case missingTensor, notDecodable, limitExceeded
    }

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

    public var description: String {
        if let item { return "\(file): '\(item)': \(reason)" }
        return "\(file): \(reason)"
    }
}
