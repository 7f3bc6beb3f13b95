/// The input rows of one linear layer, as the model is about to multiply them by the layer's
/// weight: `rows` × `columns` floats (one row per token, `columns` the weight's row length).
///
/// A view of the model's own buffers, valid only during the observer call that receives it:
/// copy what you need to keep.
public struct LinearLayerInput {
    /// Tokens in this product.
    public let rows: Int
    /// Values per row (the weight's input width, `k`).
    public let columns: Int
    private let base: UnsafePointer<Float>
    private let stride: Int

    init(_ base: UnsafePointer<Float>, rows: Int, columns: Int, stride: Int) {
        self.base = base
        self.rows = rows
        self.columns = columns
        self.stride = stride
    }

    /// The value at (`row`, `column`).
    public subscript(row: Int, column: Int) -> Float {
        precondition(row >= 0 && row < rows && column >= 0 && column < columns, "outside the input")
        return base[row * stride + column]
    }

    /// Calls `body` with row `row`'s `columns` values.
    public func withRow<R>(_ row: Int, _ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        precondition(row >= 0 && row < rows, "row \(row) outside the input's \(rows) rows")
        return try body(UnsafeBufferPointer(start: base + row * stride, count: columns))
    }

    /// Adds each column's sum of squares over the rows to `sums` (`columns` entries): what an
    /// importance matrix collects.
    public func accumulateColumnSumsOfSquares(into sums: inout [Double]) {
        precondition(sums.count == columns, "\(sums.count) sums for \(columns) columns")
        for r in 0..<rows {
            let row = base + r * stride
            for c in 0..<columns { sums[c] += Double(row[c]) * Double(row[c]) }
        }
    }
}

/// Called with a linear layer's tensor name (as the model's file names it: Hugging Face or GGUF)
/// and its input, once per layer per forward pass, before the product: the calibration hook.
public typealias LinearInputObserver = (_ tensorName: String, _ input: LinearLayerInput) -> Void
