import LowbitFormats

/// Exact rescalings of a source tensor's values, applied to its decoded values before they are
/// encoded: the seam through which a calibration method that changes the weights themselves
/// (AWQ's folded scales, in LowbitCalibrate) reaches the converter without Convert knowing it.
///
/// A tensor is seen as its matrix view (``TensorInfo/rowCount`` rows of
/// ``TensorInfo/rowLength`` values; a 1-D tensor such as a norm weight is one row). Value
/// (`r`, `c`) becomes `value · rowFactors[r] · columnFactors[c]`, in the source's row order
/// (before Q/K rows are permuted for GGUF: only row factors depend on the order, and a rotary
/// tensor's rows are not reordered before they are scaled). Missing factors are 1.
///
/// After scaling, a transform may clamp the values (AWQ's clip search): value (`r`, `c`) is
/// limited to ±`clamps[r · groups + c / clampGroupSize]`, `groups` being the row's number of
/// groups of ``clampGroupSize`` columns.
public struct WeightTransform: Sendable, Equatable {
    /// One factor per row of the matrix view, or nil.
    public var rowFactors: [Float]?
    /// One factor per value of a row, or nil.
    public var columnFactors: [Float]?
    /// One bound per row and group of ``clampGroupSize`` columns, row after row, or nil.
    public var clamps: [Float]?
    /// Columns per clamp group.
    public var clampGroupSize: Int

    /// A transform with the given factors (nil: all ones) and clamps (nil: none).
    public init(rowFactors: [Float]? = nil, columnFactors: [Float]? = nil, clamps: [Float]? = nil,
                clampGroupSize: Int = 1) {
        precondition(clampGroupSize >= 1, "clamp groups need at least one column")
        self.rowFactors = rowFactors
        self.columnFactors = columnFactors
        self.clamps = clamps
        self.clampGroupSize = clampGroupSize
    }

    /// Multiplies the row factors by `factors` (one per row), composing with any already set.
    public mutating func scaleRows(by factors: [Float]) {
        rowFactors = Self.compose(rowFactors, factors)
    }

    /// Multiplies the column factors by `factors` (one per column), composing with any already set.
    public mutating func scaleColumns(by factors: [Float]) {
        columnFactors = Self.compose(columnFactors, factors)
    }

    private static func compose(_ a: [Float]?, _ b: [Float]) -> [Float] {
        guard let a else { return b }
        precondition(a.count == b.count, "factors of different lengths: \(a.count) and \(b.count)")
        return zip(a, b).map { $0 * $1 }
    }

    /// Clamp groups per row of `rowLength` values.
    public func clampGroups(rowLength: Int) -> Int { (rowLength + clampGroupSize - 1) / clampGroupSize }

    /// Scales, then clamps, `values`, the rows `rows` of the tensor (row after row, `rowLength`
    /// each).
    public func apply(to values: inout [Float], rows: Range<Int>, rowLength: Int) {
        precondition(values.count == rows.count * rowLength, "\(values.count) values for \(rows.count) rows of \(rowLength)")
        defer { if let clamps { clamp(&values, rows: rows, rowLength: rowLength, clamps) } }
        values.withUnsafeMutableBufferPointer { v in
            for (i, r) in rows.enumerated() {
                let base = i * rowLength
                let rf = rowFactors?[r] ?? 1
                if let cf = columnFactors {
                    for c in 0..<rowLength { v[base + c] = v[base + c] * rf * cf[c] }
                } else if rf != 1 {
                    for c in 0..<rowLength { v[base + c] *= rf }
                }
            }
        }
    }

    private func clamp(_ values: inout [Float], rows: Range<Int>, rowLength: Int, _ clamps: [Float]) {
        let groups = clampGroups(rowLength: rowLength)
        for (i, r) in rows.enumerated() {
            for c in 0..<rowLength {
                let m = clamps[r * groups + c / clampGroupSize]
                values[i * rowLength + c] = min(max(values[i * rowLength + c], -m), m)
            }
        }
    }

    /// Checks the factors against `tensor`'s matrix view.
    /// - Throws: ``ConvertError`` (``ConvertErrorKind/badOption``) naming the tensor and its file
    ///   when a factor vector has the wrong length or a factor is not finite and positive.
    public func check(against tensor: TensorInfo) throws {
        for (what, factors, expected) in [("row", rowFactors, tensor.rowCount), ("column", columnFactors, tensor.rowLength)] {
            guard let factors else { continue }
            guard factors.count == expected else {
                throw ConvertError(.badOption, file: tensor.file, item: tensor.name,
                                   "the weight transform has \(factors.count) \(what) factors, the tensor has \(expected) \(what)s")
            }
            if let bad = factors.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
                throw ConvertError(.badOption, file: tensor.file, item: tensor.name,
                                   "\(what) factor \(bad) of the weight transform is \(factors[bad]); factors must be finite and positive")
            }
        }
        if let clamps {
            let expected = tensor.rowCount * clampGroups(rowLength: tensor.rowLength)
            guard clamps.count == expected else {
                throw ConvertError(.badOption, file: tensor.file, item: tensor.name,
                                   "the weight transform has \(clamps.count) clamps, the tensor has \(expected) groups of \(clampGroupSize)")
            }
            if let bad = clamps.firstIndex(where: { !($0.isFinite && $0 >= 0) }) {
                throw ConvertError(.badOption, file: tensor.file, item: tensor.name,
                                   "clamp \(bad) of the weight transform is \(clamps[bad]); clamps must be finite and not negative")
            }
        }
    }
}

/// The ``WeightTransform``s of a conversion, by source tensor name (as the input file names
/// it), and what produced them (`awq`), for the summary.
public struct WeightTransforms: Sendable, Equatable {
    /// The method that computed the transforms, for reports.
    public var method: String
    /// The transforms by source tensor name.
    public var byTensor: [String: WeightTransform]

    /// Transforms computed by `method` (none yet).
    public init(method: String, byTensor: [String: WeightTransform] = [:]) {
        self.method = method
        self.byTensor = byTensor
    }

    /// The transform of the source tensor `name`, if any.
    public func transform(for name: String) -> WeightTransform? { byTensor[name] }

    /// Multiplies the row factors of `name` by `factors`.
    public mutating func scaleRows(of name: String, by factors: [Float]) {
        byTensor[name, default: WeightTransform()].scaleRows(by: factors)
    }

    /// Multiplies the column factors of `name` by `factors`.
    public mutating func scaleColumns(of name: String, by factors: [Float]) {
        byTensor[name, default: WeightTransform()].scaleColumns(by: factors)
    }

    /// Checks every transform against the tensors of `source`.
    /// - Throws: ``ConvertError`` naming a tensor the input does not have, or one whose
    ///   factors do not fit it (``WeightTransform/check(against:)``).
    public func check(against source: any TensorSource) throws {
        let tensors = Dictionary(source.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in byTensor.keys.sorted() {
            guard let tensor = tensors[name] else {
                throw ConvertError(.missingInput, file: source.path, item: name,
                                   "the \(method) weight transforms name a tensor the input does not have")
            }
            try byTensor[name]!.check(against: tensor)
        }
    }
}
