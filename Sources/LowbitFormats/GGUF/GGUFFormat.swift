/// Constants and small rules of the GGUF container format that the reader and the writer share.
///
/// See `formats/gguf.md` for the byte-by-byte description.
public enum GGUFFormat {
    /// The four bytes every GGUF file starts with: `G`, `G`, `U`, `F`.
    public static let magic: [UInt8] = [0x47, 0x47, 0x55, 0x46]
    /// The versions Lowbit reads. Version 2 and 3 share one layout for little-endian files
    /// (version 3 only added big-endian files); version 1 used 32-bit counts and is not read.
    public static let supportedVersions: ClosedRange<UInt32> = 2...3
    /// The version Lowbit writes.
    public static let writtenVersion: UInt32 = 3
    /// The alignment of tensor data when the file does not set `general.alignment`.
    public static let defaultAlignment = 32
    /// The metadata key that sets the alignment (a `uint32`).
    public static let alignmentKey = "general.alignment"
    /// The most dimensions a tensor may have.
    public static let maxDimensions = 4
    /// The deepest nesting of arrays inside arrays the reader accepts (deeper files are
    /// rejected instead of recursing without bound).
    public static let maxArrayDepth = 16
    /// The most metadata values (array elements included, summed over the file) the reader
    /// materialises; real vocabularies hold a few million at most.
    public static let maxMetadataValues = 1 << 24
    /// The longest key the format allows, in bytes.
    public static let maxKeyLength = 65_535

    /// Bytes of the fixed header: magic, version, tensor count, key-value count.
    static let headerSize = 24
    /// The fewest bytes one key-value can take: key length, one key byte, value type, a 1-byte value.
    static let minKeyValueSize = 8 + 1 + 4 + 1
    /// The fewest bytes one tensor info can take: name length, one name byte, n_dims (0), type, offset.
    static let minTensorInfoSize = 8 + 1 + 4 + 4 + 8

    /// Whether `value` is a valid alignment: a nonzero power of two that fits in a `uint32`.
    public static func isValidAlignment(_ value: Int) -> Bool {
        value > 0 && value <= Int(UInt32.max) && value & (value - 1) == 0
    }

    /// `offset` rounded up to a multiple of `alignment` (a power of two), or nil on overflow.
    static func align(_ offset: Int, to alignment: Int) -> Int? {
        let (sum, overflow) = offset.addingReportingOverflow(alignment - 1)
        return overflow ? nil : sum & ~(alignment - 1)
    }
}

extension GGUFValueType {
    /// The name gguf-py and llama.cpp use for the type (`UINT8`, `STRING`, `ARRAY`, ...).
    public var name: String {
        switch self {
        case .uint8: "UINT8"
        case .int8: "INT8"
        case .uint16: "UINT16"
        case .int16: "INT16"
        case .uint32: "UINT32"
        case .int32: "INT32"
        case .float32: "FLOAT32"
        case .bool: "BOOL"
        case .string: "STRING"
        case .array: "ARRAY"
        case .uint64: "UINT64"
        case .int64: "INT64"
        case .float64: "FLOAT64"
        }
    }

    /// The fewest bytes one value of this type takes in the file (a string: its length field;
    /// an array: its element type and count).
    var minimumEncodedSize: Int {
        switch self {
        case .string: 8
        case .array: 12
        default: fixedSize ?? 1
        }
    }
}
