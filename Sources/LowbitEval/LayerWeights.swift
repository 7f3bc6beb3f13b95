import LowbitFormats

/// The model's weights as `Float` matrices, decoded from their stored type on demand.
///
/// Weights stay in the file's type (memory-mapped). A matrix is decoded into a reusable scratch
/// buffer right before it is multiplied, so memory stays near the file size plus one matrix —
/// unless the decoded matrices fit the cache budget: then each is decoded once and kept, which
/// removes the decoding cost from every chunk after the first.
final class WeightStore: @unchecked Sendable {
    let source: any TensorSource
    let threads: Int
    /// Bytes of decoded `Float` matrices the store may keep.
    let cacheBudget: Int
    private var cache: [String: [Float]] = [:]
    private var cachedBytes = 0
    private var vectors: [String: [Float]] = [:]
    /// Scratch for one decoded block of rows (sized for the largest layer matrix).
    private var scratch: [Float]
    private let tensorsByName: [String: TensorInfo]

    init(source: any TensorSource, threads: Int, cacheBudget: Int, scratchFloats: Int) {
        self.source = source
        self.threads = max(1, threads)
        self.cacheBudget = max(0, cacheBudget)
        scratch = [Float](repeating: 0, count: max(1, scratchFloats))
        var byName: [String: TensorInfo] = [:]
        for t in source.tensors { byName[t.name] = t }
        tensorsByName = byName
    }

    /// Bytes of decoded matrices currently kept.
    var cacheSize: Int { cachedBytes }

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

    /// Decodes the whole of `t` into a new array on `threads` threads.
    private func decodeAll(_ t: TensorInfo) throws -> [Float] {
        var out = [Float](repeating: 0, count: t.rowCount * t.rowLength)
        try out.withUnsafeMutableBufferPointer { try decodeRows(t, 0..<t.rowCount, into: $0.baseAddress!) }
        source.release(t)
        return out
    }

    /// Decodes `rows` of `t` into `destination` (rows.count × rowLength floats).
    private func decodeRows(_ t: TensorInfo, _ rows: Range<Int>, into destination: UnsafeMutablePointer<Float>) throws {
        try WeightDecoding.decode(t, from: source, rows: rows,
                                  into: UnsafeMutableBufferPointer(start: destination, count: rows.count * t.rowLength))
    }

    /// Whether `t` is (or can be) kept decoded; decodes and keeps it if it fits the budget.
    private func cached(_ t: TensorInfo) throws -> [Float]? {
        if let c = cache[t.name] { return c }
        let bytes = t.rowCount * t.rowLength * 4
        guard cachedBytes + bytes <= cacheBudget else { return nil }
        let decoded = try decodeAll(t)
        cache[t.name] = decoded
        cachedBytes += bytes
        return decoded
    }

    /// `out[m × t.rowCount] (+)= input[m × t.rowLength] · tᵀ`, with `input` rows `lda` apart
    /// (default: packed) and `out` rows `ldOut` apart. With `accumulate` the product is added to
    /// what `out` holds (a residual connection).
    func project(_ input: UnsafePointer<Float>, rows m: Int, lda: Int? = nil, weight t: TensorInfo,
                 into out: UnsafeMutablePointer<Float>, ldOut: Int, accumulate: Bool = false) throws {
        let k = t.rowLength
        let n = t.rowCount
        let lda = lda ?? k
        let beta: Float = accumulate ? 1 : 0
        if let decoded = try cached(t) {
            decoded.withUnsafeBufferPointer { w in
                BLAS.gemmTransposedB(m: m, n: n, k: k, a: input, lda: lda, b: w.baseAddress!, ldb: k,
                                     beta: beta, c: out, ldc: ldOut, threads: threads)
            }
            return
        }
        // Decode a block of rows at a time into the scratch and multiply it.
        let blockRows = max(1, scratch.count / k)
        var r0 = 0
        while r0 < n {
            let r1 = min(n, r0 + blockRows)
            try scratch.withUnsafeMutableBufferPointer { w in
                try decodeRows(t, r0..<r1, into: w.baseAddress!)
                BLAS.gemmTransposedB(m: m, n: r1 - r0, k: k, a: input, lda: lda, b: w.baseAddress!, ldb: k,
                                     beta: beta, c: out + r0, ldc: ldOut, threads: threads)
            }
            r0 = r1
        }
        source.release(t)
    }

    /// Multiplies `input` by several matrices of the same row length at once, their outputs side
    /// by side in `out` (`ldOut` = the sum of their row counts): Q, K and V, or gate and up.
    /// When the matrices fit the cache they are kept stacked as one, so one sgemm serves all.
    func project(_ input: UnsafePointer<Float>, rows m: Int, stacked weights: [TensorInfo],
                 into out: UnsafeMutablePointer<Float>, ldOut: Int) throws {
        let k = weights[0].rowLength
        let n = weights.reduce(0) { $0 + $1.rowCount }
        precondition(weights.allSatisfy { $0.rowLength == k } && ldOut >= n, "stacked matrices do not fit together")
        let key = weights.map(\.name).joined(separator: "+")
        if cache[key] == nil, cachedBytes + n * k * 4 <= cacheBudget {
            var stacked = [Float](repeating: 0, count: n * k)
            var row = 0
            try stacked.withUnsafeMutableBufferPointer { buffer in
                for t in weights {
                    try decodeRows(t, 0..<t.rowCount, into: buffer.baseAddress! + row * k)
                    source.release(t)
                    row += t.rowCount
                }
            }
            cache[key] = stacked
            cachedBytes += n * k * 4
        }
        if let stacked = cache[key] {
            stacked.withUnsafeBufferPointer { w in
                BLAS.gemmTransposedB(m: m, n: n, k: k, a: input, lda: k, b: w.baseAddress!, ldb: k,
                                     c: out, ldc: ldOut, threads: threads)
            }
            return
        }
        var column = 0
        for t in weights {
            try project(input, rows: m, weight: t, into: out + column, ldOut: ldOut)
            column += t.rowCount
        }
    }

    /// Copies the rows `ids` of the matrix `t` (an embedding table) into `out`, one row each.
    func gatherRows(of t: TensorInfo, ids: [Int32], into out: UnsafeMutablePointer<Float>) throws {
        let width = t.rowLength
        for id in ids where id < 0 || Int(id) >= t.rowCount {
            throw EvalError(.mismatch, file: source.path, item: t.name,
                            "token id \(id) is outside the vocabulary of \(t.rowCount)")
        }
        if let decoded = cache[t.name] {
            decoded.withUnsafeBufferPointer { w in
                for (i, id) in ids.enumerated() {
                    (out + i * width).update(from: w.baseAddress! + Int(id) * width, count: width)
                }
            }
            return
        }
        for (i, id) in ids.enumerated() {
            try WeightDecoding.decode(t, from: source, rows: Int(id)..<(Int(id) + 1),
                                      into: UnsafeMutableBufferPointer(start: out + i * width, count: width))
        }
    }
}
