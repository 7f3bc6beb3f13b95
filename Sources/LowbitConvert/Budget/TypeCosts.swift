import LowbitFormats
import LowbitQuant

/// What storing one tensor in one GGUF type costs: its bytes and the predicted loss.
public struct TypeCost: Sendable, Equatable {
    /// The type (after llama.cpp's fallback for the tensor's row length).
    public var type: GGMLType
    /// Bytes of the whole tensor in this type.
    public var bytes: Int
    /// The importance-weighted squared error of the dequantized weights, Σ_rows Σ_c imp[c]·(w − ŵ)²,
    /// measured on sampled rows and scaled to all rows. With an importance matrix (imp = mean x²
    /// of column c's input) this is the expected squared error the tensor adds to its layer's
    /// outputs, summed over them; without one, imp = 1 (plain squared weight error).
    public var loss: Double
}

/// Measures ``TypeCost``s: each candidate type quantizes the same sampled rows of a tensor with
/// its codec (and the tensor's importance vector, as the conversion itself would), and the
/// round trip's weighted error is summed.
public struct TypeCostMeasurement: Sendable {
    /// Rows sampled per tensor, evenly spaced (all rows when the tensor has fewer).
    public var sampleRows: Int

    /// A measurement over at most `sampleRows` rows per tensor.
    public init(sampleRows: Int = 256) {
        precondition(sampleRows >= 1, "sample at least one row")
        self.sampleRows = sampleRows
    }

    /// The candidate types for a tensor with rows of `rowLength`: each of `types` replaced by
    /// llama.cpp's fallback when its block does not divide the row, duplicates removed, in order.
    public static func candidates(_ types: [GGMLType], rowLength: Int) -> [GGMLType] {
        var out: [GGMLType] = []
        for t in types {
            let fitted = GGUFTypePolicy.fallback(for: t, rowLength: rowLength)
            if !out.contains(fitted) { out.append(fitted) }
        }
        return out
    }

    /// The costs of `candidates` for `tensor` of `source` (`name` is its GGUF name, for errors),
    /// weighted by `importance` (one vector per stacked matrix, as ``TensorJob/importance``).
    ///
    /// - Throws: decoding errors, or ``ConvertError`` naming the tensor when its values are not
    ///   finite.
    public func costs(of tensor: TensorInfo, in source: any TensorSource, name: String, candidates: [GGMLType],
                      importance: [Float]?) throws -> [TypeCost] {
        let rows = tensor.rowCount, width = tensor.rowLength
        let picked = Self.sampledRows(rows, count: sampleRows)
        let matrices = importance.map { max(1, $0.count / max(1, width)) } ?? 1
        let perMatrix = max(1, rows / matrices)
        // Sampled rows grouped by the stacked matrix (expert) whose importance they use.
        var groups: [Int: [Int]] = [:]
        for r in picked { groups[min(matrices - 1, r / perMatrix), default: []].append(r) }
        var values: [Int: [Float]] = [:]
        for (m, rs) in groups {
            var v = [Float]()
            v.reserveCapacity(rs.count * width)
            for r in rs { v += try TensorDecoder.decode(tensor, from: source, rows: r..<(r + 1)) }
            guard v.allSatisfy(\.isFinite) else {
                throw ConvertError(.nonFiniteWeights, file: tensor.file, item: tensor.name, "the tensor has NaN or infinite values")
            }
            values[m] = v
        }
        let scale = Double(rows) / Double(picked.count)
        return try candidates.map { type in
            var loss = 0.0
            for (m, v) in values {
                let w = importance.map { Array($0[(m * width)..<((m + 1) * width)]) }
                let layout = GGUFBlockLayout(type)
                var trailer = LayoutTrailer()
                let strip = try layout.encode(v, rowLength: width, tensorAbsmax: nil, importance: w, name: name, trailer: &trailer)
                var back = [Float](repeating: 0, count: v.count)
                try back.withUnsafeMutableBufferPointer { try strip.dequantize($0) }
                for i in v.indices {
                    let d = Double(v[i]) - Double(back[i])
                    loss += (w.map { Double($0[i % width]) } ?? 1) * d * d
                }
            }
            let bytes = rows * (width / type.blockSize) * type.bytesPerBlock
            return TypeCost(type: type, bytes: bytes, loss: loss * scale)
        }
    }

    /// `count` row indices of `rows`, evenly spaced from the middle of each stride.
    static func sampledRows(_ rows: Int, count: Int) -> [Int] {
        guard rows > count else { return Array(0..<rows) }
        return (0..<count).map { ($0 * rows + rows / 2) / count }
    }
}
