import COpenBLAS
import LowbitEval
import LowbitSystem

/// GPTQ's Hessians of one decoder layer's linear inputs: `H = 2·XᵀX`, summed in `Double` over
/// every calibration token, where `X` holds a linear's input rows.
///
/// Linears that multiply the same input share one Hessian: a *shared input* names the group
/// (q, k and v see the normed residual; gate and up the other normed residual), and only the
/// group's first member (its *leader*) accumulates, so that the shared input is counted once,
/// not once per linear. Feed it with ``observe(tensor:input:)`` as the model's
/// ``LlamaModel/linearInputObserver``.
///
/// The product runs on ``threads`` threads, each adding `2·X[:, rows]ᵀ·X[:, rows.lower...]` for a
/// band of the upper triangle's rows (OpenBLAS `dgemm` on one thread each; bands of equal work).
public final class HessianAccumulator {
    /// Threads for the products.
    public let threads: Int
    /// Which accumulated Hessian each tensor uses: the leader of its shared input.
    public let leaders: [String: String]
    private var sums: [String: [Double]] = [:]
    private var columnsOf: [String: Int] = [:]
    private var tokens: [String: Int] = [:]
    private var scratch: [Double] = []

    /// An accumulator for the tensors in `groups`: each inner array is one shared input, its
    /// first name the leader; products on `threads` threads.
    public init(groups: [[String]], threads: Int = 1) {
        self.threads = max(1, threads)
        var leaders: [String: String] = [:]
        for group in groups {
            guard let leader = group.first else { continue }
            for name in group { leaders[name] = leader }
        }
        self.leaders = leaders
    }

    /// Adds `2·XᵀX` of one product's input rows when `name` leads its shared input (the
    /// observer body); other names are ignored.
    public func observe(tensor name: String, input: LinearLayerInput) {
        guard leaders[name] == name, input.rows > 0 else { return }
        let n = input.columns, k = input.rows
        if scratch.count < n * k { scratch = [Double](repeating: 0, count: n * k) }
        var sum = sums.removeValue(forKey: name) ?? [Double](repeating: 0, count: n * n)
        precondition(sum.count == n * n, "\(name) has \(n) input columns, earlier \(columnsOf[name] ?? 0)")
        scratch.withUnsafeMutableBufferPointer { x in
            for r in 0..<k {
                input.withRow(r) { row in for c in 0..<n { x[r * n + c] = Double(row[c]) } }
            }
            sum.withUnsafeMutableBufferPointer { h in
                // The upper triangle of H += 2·XᵀX (X is k × n, row-major), in bands of rows
                // [b0, b1) × columns [b0, n) of about equal area; the band's part below the
                // diagonal is written too, and ignored (``hessian(for:)`` mirrors the upper one).
                let bands = min(n, 4 * threads)
                let edges = (0...bands).map { b in
                    b == bands ? n : Int((Double(n) * (1 - (1 - Double(b) / Double(bands)).squareRoot())).rounded())
                }
                let xp = UnsafeTransfer(x.baseAddress!), hp = UnsafeTransfer(h.baseAddress!)
                Parallel.forRanges(bands, threads: threads) { part in
                    for b in part where edges[b] < edges[b + 1] {
                        let (b0, b1) = (edges[b], edges[b + 1])
                        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blasint(b1 - b0), blasint(n - b0), blasint(k),
                                    2.0, xp.wrappedValue + b0, blasint(n), xp.wrappedValue + b0, blasint(n),
                                    1.0, hp.wrappedValue + b0 * n + b0, blasint(n))
                    }
                }
            }
        }
        sums[name] = sum
        columnsOf[name] = n
        tokens[name, default: 0] += k
    }

    /// The tokens accumulated into the Hessian `name` uses.
    public func tokenCount(for name: String) -> Int {
        leaders[name].flatMap { tokens[$0] } ?? 0
    }

    /// The full (symmetric) Hessian of `name`'s input, `columns × columns` row-major; nil when
    /// nothing was observed for it.
    public func hessian(for name: String) -> [Double]? {
        guard let leader = leaders[name], var h = sums[leader], let n = columnsOf[leader] else { return nil }
        for i in 0..<n { for j in 0..<i { h[i * n + j] = h[j * n + i] } }
        return h
    }
}
