/// An importance matrix: for every weight matrix that multiplies activations, the sum over the
/// calibration tokens of each input column's squared activation, and how many tokens were
/// counted. Quantizers weight each column's rounding error by the mean, `sum / count`.
///
/// Entries are keyed by GGUF tensor names (`blk.0.attn_q.weight`), whatever the model's own
/// file format, as llama.cpp's `llama-imatrix` writes them. A weight with several matrices
/// (the experts of a mixture-of-experts layer) has one row of sums and one count per matrix.
public struct ImportanceMatrix: Sendable, Equatable {
    /// The statistics of one weight.
    public struct Entry: Sendable, Equatable {
        /// Input columns of each matrix (the weight's row length).
        public var columns: Int
        /// Sums of squared activations, `matrices` rows of `columns` values, matrix by matrix.
        public var sumsOfSquares: [Float]
        /// Tokens counted, one per matrix.
        public var counts: [Float]

        /// Matrices in the weight (1 for a dense layer, the expert count for experts).
        public var matrices: Int { counts.count }

        /// An entry of `counts.count` matrices of `columns` columns each.
        public init(columns: Int, sumsOfSquares: [Float], counts: [Float]) {
            precondition(columns > 0 && sumsOfSquares.count == columns * counts.count,
                         "\(sumsOfSquares.count) sums for \(counts.count) matrices of \(columns) columns")
            self.columns = columns
            self.sumsOfSquares = sumsOfSquares
            self.counts = counts
        }

        /// The importance of each column of matrix `matrix` as llama.cpp's quantizer takes it: the
        /// mean squared activation, `sum / count`; a matrix that saw no tokens (an expert the
        /// calibration text never routed to) weighs every column 1.
        public func importance(matrix: Int) -> [Float] {
            precondition(matrix >= 0 && matrix < matrices, "matrix \(matrix) of \(matrices)")
            let count = counts[matrix]
            let row = sumsOfSquares[(matrix * columns)..<((matrix + 1) * columns)]
            guard count > 0 else { return [Float](repeating: 1, count: columns) }
            return row.map { $0 / count }
        }
    }

    /// The statistics, by GGUF tensor name.
    public var entries: [String: Entry]
    /// The texts the statistics were collected on (file names), in order.
    public var datasets: [String]
    /// Chunks of text processed.
    public var chunkCount: Int
    /// Tokens per chunk.
    public var chunkSize: Int

    /// A matrix of `entries`, collected over `chunkCount` chunks of `chunkSize` tokens of `datasets`.
    public init(entries: [String: Entry] = [:], datasets: [String] = [], chunkCount: Int = 0, chunkSize: Int = 0) {
        self.entries = entries
        self.datasets = datasets
        self.chunkCount = chunkCount
        self.chunkSize = chunkSize
    }
}
