/// The row order of query and key projections.
///
/// Hugging Face Llama checkpoints rotate the pairs (x[i], x[i + d/2]) of each head of size d;
/// GGUF files (and llama.cpp) rotate adjacent pairs (x[2i], x[2i+1]). Converting between them
/// permutes the rows of `q_proj` / `k_proj` within each head: GGUF row `2i + j` of a head is
/// Hugging Face row `j * d/2 + i` of the same head.
public struct RotaryPermutation: Sendable {
    /// Rows per head.
    public let headDimension: Int

    public init(rows: Int, heads: Int) throws {
        guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0 else {
            throw ConvertError.badOption("cannot permute \(rows) rows over \(heads) rotary heads")
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
}
