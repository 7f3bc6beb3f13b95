/// An error raised while quantizing or dequantizing a tensor.
///
/// Every error names the tensor involved (empty when the caller gave none) and says in words a
/// user understands what is wrong.
public struct QuantError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of problem this is; tests match on it.
    public enum Kind: String, Sendable {
        /// The tensor's type has no decoder / the target type no encoder.
        case unsupportedType
        /// The shape does not fit the type (row length not a multiple of the block size, ...).
        case badShape
        /// A buffer or byte range has the wrong size, or rows lie outside the tensor.
        case badSize
        /// The tensor holds NaN or infinite values where finite ones are required.
        case nonFinite
        /// An argument is out of range (group size, importance length, ...).
        case badArgument
    }

    public var kind: Kind
    /// The tensor involved.
    public var tensor: String
    /// What is wrong.
    public var reason: String

    public init(_ kind: Kind, tensor: String, _ reason: String) {
        self.kind = kind
        self.tensor = tensor
        self.reason = reason
    }

    public var description: String { tensor.isEmpty ? reason : "'\(tensor)': \(reason)" }
}
