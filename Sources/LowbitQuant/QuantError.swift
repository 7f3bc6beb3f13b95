import LowbitFormats

/// The kinds of problem quantizing or dequantizing a tensor can meet; tests match on them.
public enum QuantErrorKind: String, Sendable {
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

/// An error raised while quantizing or dequantizing a tensor.
///
/// Every error names the tensor involved as its `item` (none when the caller gave no name), the
/// file the tensor was read from when it is known, and says in words a user understands what
/// is wrong.
public typealias QuantError = LocatedError<QuantErrorKind>
