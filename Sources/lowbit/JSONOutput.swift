import LowbitFormats

/// How `lowbit` writes metadata values and statistics as JSON.
///
/// - Integers whose magnitude is at most 2^53 are JSON numbers; larger ones (u64/i64 values that
///   a double cannot hold exactly, so JavaScript and many JSON readers would corrupt them) are
///   decimal strings.
/// - Floats are numbers; a `float32` prints in the shortest form that reads back to the same
///   `float32` (`1e-05`, not `9.999999747378752e-06`). NaN and infinities, which JSON cannot
///   express, are `null`.
/// - Arrays, nested arrays included, are JSON arrays, always in full.
enum JSONOutput {
    /// The largest integer magnitude every JSON reader holds exactly (2^53).
    static let exactIntegerLimit: UInt64 = 1 << 53

    /// `value` as JSON under the rules above.
    static func json(_ value: MetadataValue) -> JSONValue {
        switch value {
        case .uint8(let v): .integer(Int64(v))
        case .int8(let v): .integer(Int64(v))
        case .uint16(let v): .integer(Int64(v))
        case .int16(let v): .integer(Int64(v))
        case .uint32(let v): .integer(Int64(v))
        case .int32(let v): .integer(Int64(v))
        case .uint64(let v): v <= exactIntegerLimit ? .integer(Int64(v)) : .string(String(v))
        case .int64(let v): v.magnitude <= exactIntegerLimit ? .integer(v) : .string(String(v))
        case .float32(let v): v.isFinite ? .number(Double(v.description) ?? Double(v)) : .null
        case .float64(let v): v.isFinite ? .number(v) : .null
        case .bool(let v): .bool(v)
        case .string(let v): .string(v)
        case .array(_, let items): .array(items.map(json))
        }
    }

    /// Metadata in file order as a JSON object.
    static func json(_ metadata: [(key: String, value: MetadataValue)]) -> JSONValue {
        .object(metadata.map { (key: $0.key, value: json($0.value)) })
    }

    /// A finite number, or `null`.
    static func number(_ v: Double) -> JSONValue { v.isFinite ? .number(v) : .null }

    /// `{"min", "max", "mean", "std", "absmax", "nan", "inf"}` over the finite values; the first
    /// five are `null` when the tensor has no finite value.
    static func json(_ stats: TensorStatistics) -> JSONValue {
        .object([
            (key: "min", value: number(stats.min)),
            (key: "max", value: number(stats.max)),
            (key: "mean", value: number(stats.mean)),
            (key: "std", value: number(stats.std)),
            (key: "absmax", value: number(stats.absmax)),
            (key: "nan", value: .integer(Int64(stats.nanCount))),
            (key: "inf", value: .integer(Int64(stats.infCount))),
        ])
    }

    /// One tensor as `{"name", "dtype", "shape", "offset", "nbytes", "file"}`; with
    /// `includeStats`, also `"stats"`: the statistics, or `null` for a type Lowbit cannot decode.
    static func json(_ tensor: TensorInfo, stats: TensorStatistics?, includeStats: Bool) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            (key: "name", value: .string(tensor.name)),
            (key: "dtype", value: .string(tensor.type.name)),
            (key: "shape", value: .array(tensor.shape.map { .integer(Int64($0)) })),
            (key: "offset", value: .integer(Int64(tensor.offset))),
            (key: "nbytes", value: .integer(Int64(tensor.byteCount))),
            (key: "file", value: .string(tensor.file)),
        ]
        if includeStats { members.append((key: "stats", value: stats.map(json) ?? .null)) }
        return .object(members)
    }
}
