import LowbitFormats

/// The row order of query and key projections: the one place Lowbit converts between them.
///
/// Hugging Face Llama checkpoints rotate the pairs (x[i], x[i + d/2]) of each head of size d;
/// GGUF files (and llama.cpp) rotate adjacent pairs (x[2i], x[2i+1]). Converting between them
/// permutes the rows of `q_proj` / `k_proj` within each head: GGUF row `2i + j` of a head is
/// Hugging Face row `j * d/2 + i` of the same head.
public struct RotaryPermutation: Sendable {
    /// Rows per head.
    public let headDimension: Int

    /// The permutation of a matrix of `rows` rows split into `heads` rotary heads; `file` and
    /// `item` name the tensor in the error when the rows are not whole heads of even size.
    public init(rows: Int, heads: Int, file: String = "", item: String? = nil) throws {
        guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0 else {
            throw FormatError(.badShape, file: file, item: item, "cannot permute \(rows) rows over \(heads) rotary heads")
        }
        headDimension = rows / heads
    }

    /// The Hugging Face row that becomes GGUF row `row`.
    @inlinable public func hfRow(forGGUFRow row: Int) -> Int {
        let head = row / headDimension, inHead = row % headDimension
        return head * headDimension + (inHead % 2) * (headDimension / 2) + inHead / 2
    }

    /// The GGUF row that becomes Hugging Face row `row`.
    @inlinable public func ggufRow(forHFRow row: Int) -> Int {
        let head = row / headDimension, inHead = row % headDimension
        let half = headDimension / 2
        return head * headDimension + (inHead % half) * 2 + inHead / half
    }

    /// A whole GGUF-ordered matrix (rows of `rowLength` values) put in Hugging Face row order.
    public func huggingFaceOrder(ofGGUF values: [Float], rowLength: Int) -> [Float] {
        var out = values
        let rows = values.count / rowLength
        for r in 0..<rows {
            let from = ggufRow(forHFRow: r)
            out.replaceSubrange(r * rowLength..<(r + 1) * rowLength, with: values[from * rowLength..<(from + 1) * rowLength])
        }
        return out
    }
}
