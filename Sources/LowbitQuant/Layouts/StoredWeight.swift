import LowbitFormats

/// A checkpoint as the layouts read it back: its tensors by name, and what its `config.json`
/// says that the stored parts do not (MLX's bit width).
public struct StoredCheckpoint: Sendable {
    /// The checkpoint's tensors as stored.
    public let source: any TensorSource
    /// `quantization.bits` of an MLX `config.json`, which MLX's packed words do not record
    /// (nil: 4, MLX's default).
    public let mlxBits: Int?
    private let byName: [String: TensorInfo]

    /// The checkpoint of `source`.
    public init(_ source: any TensorSource, mlxBits: Int? = nil) {
        self.source = source
        self.mlxBits = mlxBits
        var byName: [String: TensorInfo] = [:]
        for t in source.tensors where byName[t.name] == nil { byName[t.name] = t }
        self.byName = byName
    }

    /// The stored tensor named `name`, if there is one.
    public func part(_ name: String) -> TensorInfo? { byName[name] }

    /// The error for parts of a weight that cannot be read back: `item` is the part at fault.
    public func badParts(_ item: String, _ reason: String) -> FormatError {
        FormatError(.badShape, file: source.path, item: item, reason)
    }
}

/// One weight found in a checkpoint by the layout that stored it (``WeightLayout/recognise(_:in:)``):
/// the stored parts it is made of and the layout that reads them back.
public struct StoredWeight: Sendable {
    /// The name of the weight the parts stand for (`X.weight`).
    public var name: String
    /// Rows of the weight's matrix view.
    public var rows: Int
    /// Values per row.
    public var columns: Int
    /// The stored tensors, in the order ``WeightLayout/plan(name:rows:columns:shape:)`` lists them.
    public var parts: [TensorInfo]
    /// The layout, with the parameters (bits, group size, granularity) read from the parts.
    public var layout: any WeightLayout

    /// A weight of `rows` x `columns` named `name`, stored as `parts` with `layout`.
    public init(name: String, rows: Int, columns: Int, parts: [TensorInfo], layout: any WeightLayout) {
        self.name = name
        self.rows = rows
        self.columns = columns
        self.parts = parts
        self.layout = layout
    }

    /// Whether the weight is stored as more than the one plain tensor of its name (scales,
    /// packed codes...): such weights are what ``QuantizedCheckpointView`` rebuilds.
    public var isMultiPart: Bool { parts.count > 1 }

    /// The values of the whole weight, row-major (``WeightLayout/dequantize(_:from:)``).
    public func dequantize(from source: any TensorSource) throws -> [Float] {
        try layout.dequantize(self, from: source)
    }

    /// The problems ``WeightLayout/verify(_:in:)`` finds in the weight.
    public func verify(in source: any TensorSource) -> [LayoutProblem] {
        layout.verify(self, in: source)
    }
}

/// Something wrong with a stored weight: the part at fault and why.
public struct LayoutProblem: Sendable, Equatable {
    /// The stored tensor the problem is in.
    public var part: TensorInfo
    /// What is wrong, in a sentence fragment (`3 NaN or Inf values`).
    public var reason: String

    /// A problem with `part`.
    public init(part: TensorInfo, reason: String) {
        self.part = part
        self.reason = reason
    }
}

/// Reading stored parts back, for the layouts' ``WeightLayout/dequantize(_:from:)``.
enum StoredParts {
    /// The little-endian 32-bit words of a packed part.
    static func words(_ t: TensorInfo, from source: any TensorSource) throws -> [UInt32] {
        try source.withBytes(of: t) { raw in
            (0..<(raw.count / 4)).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) }
        }
    }

    /// The values of a float part (scales, biases).
    static func floats(_ t: TensorInfo, from source: any TensorSource) throws -> [Float] {
        try TensorDecoder.decode(t, from: source)
    }

    /// The problems of a single tensor decoded strip by strip (about 8 M values at a time):
    /// that it does not decode, or how many of its values are NaN or infinite.
    static func checkDecodes(_ tensor: TensorInfo, in source: any TensorSource) -> [LayoutProblem] {
        defer { source.release(tensor) }
        let stripRows = max(1, (8 << 20) / max(1, tensor.rowLength))
        var row = 0
        while row < tensor.rowCount {
            let rows = row..<min(tensor.rowCount, row + stripRows)
            do {
                let values = try TensorDecoder.decode(tensor, from: source, rows: rows)
                let bad = values.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
                if bad > 0 { return [LayoutProblem(part: tensor, reason: "\(bad) NaN or Inf values")] }
            } catch {
                return [LayoutProblem(part: tensor, reason: "does not decode: \(error)")]
            }
            row = rows.upperBound
        }
        return []
    }

}
