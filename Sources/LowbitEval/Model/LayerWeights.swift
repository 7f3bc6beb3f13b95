import CLowbitKernels
import LowbitFormats
import LowbitSystem

/// The model's weight matrices, decoded from their stored type and packed for the matrix
/// products in the model's ``MatrixPrecision``.
///
/// Weights stay in the file's type (memory-mapped). A matrix is decoded and packed block by
/// block right before it is multiplied, so memory stays near the file size plus one matrix —
/// unless the packed matrices fit the cache budget: then each is packed once and kept, which
/// removes the decoding cost from every chunk after the first.
final class WeightStore: @unchecked Sendable {
    let source: any TensorSource
    let threads: Int
    let precision: MatrixPrecision
    /// The layout of every packed matrix (fixed when the store is made).
    let layout: MatrixLayout
    /// Bytes of packed matrices the store may keep.
    let cacheBudget: Int
    private var cache: [String: PackedMatrix] = [:]
    private var cachedBytes = 0
    private var vectors: [String: [Float]] = [:]
    /// Matrices replaced by in-memory values (``LlamaModel/overrideWeight(name:values:)``),
    /// read instead of the file.
    private var overrides: [String: [Float]] = [:]
    /// Scratch for one decoded block of rows (sized for the largest layer matrix), allocated
    /// at the first decode: by then every tensor's shape has been checked against the file.
    private lazy var scratch = [Float](repeating: 0, count: scratchFloats)
    private let scratchFloats: Int
    /// Scratch for the packed activations of every product.
    private let activations = ActivationBuffer()
    private let tensorsByName: [String: TensorInfo]

    init(source: any TensorSource, threads: Int, precision: MatrixPrecision, cacheBudget: Int, scratchFloats: Int) {
        self.source = source
        self.threads = max(1, threads)
        self.precision = precision
        layout = .preferred(for: precision)
        self.cacheBudget = max(0, cacheBudget)
        self.scratchFloats = max(1, scratchFloats)
        var byName: [String: TensorInfo] = [:]
        for t in source.tensors { byName[t.name] = t }
        tensorsByName = byName
    }

    func has(_ name: String) -> Bool { tensorsByName[name] != nil }

    /// The tensor `name`, checked to be a matrix of `rows` × `columns` (any type).
    func tensor(_ name: String, rows: Int? = nil, columns: Int) throws -> TensorInfo {
        guard let t = tensorsByName[name] else {
            throw EvalError(.missingTensor, file: source.path, item: name, "the model has no such tensor")
        }
        guard t.rowLength == columns, rows == nil || t.rowCount == rows else {
            throw EvalError(.badShape, file: source.path, item: name,
                            "shape \(t.shape) does not match the expected \(rows.map(String.init) ?? "?") × \(columns)")
        }
        return t
    }

    /// A 1-D weight (a norm's scale) of `length` elements, decoded once.
    func vector(_ name: String, length: Int) throws -> [Float] {
        if let v = vectors[name] { return v }
        let t = try tensor(name, columns: length)
        guard t.elementCount == length else {
            throw EvalError(.badShape, file: source.path, item: name, "expected \(length) elements, found \(t.elementCount)")
        }
        var v = [Float](repeating: 0, count: length)
        try v.withUnsafeMutableBufferPointer { try WeightDecoding.decode(t, from: source, rows: 0..<1, into: $0) }
        vectors[name] = v
        return v
    }

    /// Replaces the values of the matrix `t` by `values` (rows × rowLength floats, row-major)
    /// from now on, and drops every cached packed matrix that holds it.
    func override(_ t: TensorInfo, values: [Float]) {
        precondition(values.count == t.rowCount * t.rowLength, "\(values.count) values for \(t.name) of \(t.shape)")
        overrides[t.name] = values
        for key in cache.keys where key.split(separator: "+").contains(Substring(t.name)) {
            cachedBytes -= cache.removeValue(forKey: key)!.byteCount
        }
    }

    /// Every value of the matrix `t`, from its override when it has one.
    func values(of t: TensorInfo) throws -> [Float] {
        var out = [Float](repeating: 0, count: t.rowCount * t.rowLength)
        try out.withUnsafeMutableBufferPointer { try decodeRows(t, 0..<t.rowCount, into: $0.baseAddress!) }
        return out
    }

    /// Decodes `rows` of `t` into `destination` (rows.count × rowLength floats), from its
    /// override when it has one.
    private func decodeRows(_ t: TensorInfo, _ rows: Range<Int>, into destination: UnsafeMutablePointer<Float>) throws {
        if let values = overrides[t.name] {
            let k = t.rowLength
            values.withUnsafeBufferPointer { destination.update(from: $0.baseAddress! + rows.lowerBound * k, count: rows.count * k) }
            return
        }
        try WeightDecoding.decode(t, from: source, rows: rows,
                                  into: UnsafeMutableBufferPointer(start: destination, count: rows.count * t.rowLength))
    }

    /// Rows `rows` of the matrices `parts` (all of one row length) taken one under the other,
    /// decoded block by block through the scratch and packed into a new matrix.
    private func packed(_ parts: [TensorInfo], rows: Range<Int>) throws -> PackedMatrix {
        let k = parts[0].rowLength
        let matrix = PackedMatrix(precision: precision, rows: rows.count, columns: k, layout: layout)
        let blockRows = max(1, scratch.count / k)
        var partStart = 0
        try scratch.withUnsafeMutableBufferPointer { buffer in
            let block = buffer.baseAddress!
            for t in parts {
                defer { partStart += t.rowCount }
                // The rows of this part that fall in `rows`, in the part's own numbering.
                let lower = max(rows.lowerBound, partStart) - partStart
                let upper = min(rows.upperBound, partStart + t.rowCount) - partStart
                var r0 = lower
                while r0 < upper {
                    let r1 = min(upper, r0 + blockRows)
                    try decodeRows(t, r0..<r1, into: block)
                    let decoded = UnsafeTransfer(block), first = partStart + r0 - rows.lowerBound
                    Parallel.forRanges(r1 - r0, threads: threads, minimumPerPart: 16) { part in
                        matrix.pack(decoded.wrappedValue + part.lowerBound * k, rows: part.count,
                                    at: first + part.lowerBound)
                    }
                    r0 = r1
                }
                if upper == t.rowCount { source.release(t) }
            }
        }
        return matrix
    }

    /// `out[m × n] (+)= input[m × k] · Wᵀ`, where W is the matrices `parts` (each k wide) one
    /// under the other and n the sum of their row counts: one product serves Q, K and V, or
    /// gate and up, their outputs side by side in `out`. `input` rows are `lda` apart (default:
    /// packed), `out` rows `ldOut` apart; with `accumulate` the product is added to what `out`
    /// holds (a residual connection).
    ///
    /// W is packed once and kept when it fits the cache budget; otherwise it is packed a block
    /// of rows at a time (the size of the decoding scratch) for this product only.
    func project(_ input: UnsafePointer<Float>, rows m: Int, lda: Int? = nil, weights parts: [TensorInfo],
                 into out: UnsafeMutablePointer<Float>, ldOut: Int, accumulate: Bool = false) throws {
        let k = parts[0].rowLength
        let n = parts.reduce(0) { $0 + $1.rowCount }
        precondition(parts.allSatisfy { $0.rowLength == k } && ldOut >= n, "stacked matrices do not fit together")
        let a = activations.pack(input, rows: m, columns: k, lda: lda ?? k, precision: precision, layout: layout,
                                 threads: threads)
        let key = parts.map(\.name).joined(separator: "+")
        if cache[key] == nil, cachedBytes + PackedMatrix.bytes(precision: precision, layout: layout, rows: n, columns: k) <= cacheBudget {
            let matrix = try packed(parts, rows: 0..<n)
            cache[key] = matrix
            cachedBytes += matrix.byteCount
        }
        if let matrix = cache[key] {
            matrix.multiply(a, into: out, ldOut: ldOut, accumulate: accumulate, threads: threads)
            return
        }
        // Whole panels per block, so that every block splits over the threads alike.
        let panel = Int(LOWBIT_PANEL_COLUMNS)
        let blockRows = max(panel, scratch.count / k / panel * panel)
        var r0 = 0
        while r0 < n {
            let r1 = min(n, r0 + blockRows)
            let block = try packed(parts, rows: r0..<r1)
            block.multiply(a, into: out + r0, ldOut: ldOut, accumulate: accumulate, threads: threads)
            r0 = r1
        }
    }

    /// Copies the rows `ids` of the matrix `t` (an embedding table) into `out`, one row each.
    func gatherRows(of t: TensorInfo, ids: [Int32], into out: UnsafeMutablePointer<Float>) throws {
        let width = t.rowLength
        for id in ids where id < 0 || Int(id) >= t.rowCount {
            throw EvalError(.mismatch, file: source.path, item: t.name,
                            "token id \(id) is outside the vocabulary of \(t.rowCount)")
        }
        for (i, id) in ids.enumerated() {
            try decodeRows(t, Int(id)..<(Int(id) + 1), into: out + i * width)
        }
    }
}
