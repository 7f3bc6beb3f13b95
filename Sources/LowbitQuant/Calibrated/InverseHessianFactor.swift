import COpenBLAS
import LowbitSystem

/// The upper Cholesky factor of a Hessian's inverse, computed in place in `Double`: the matrix
/// GPTQ reads its error-feedback rows from.
///
/// llm-compressor computes it in three factorizations (Cholesky of `H`, `cholesky_inverse`, upper
/// Cholesky of `H⁻¹`, about `4n³/3` flops). The factor is unique, and it equals `J·L⁻¹·J` where
/// `J` reverses the index order and `L` is the lower Cholesky factor of `J·H·J`, so Lowbit
/// computes it with one Cholesky and one triangular inverse (`2n³/3`): the same matrix, up to
/// rounding in the last bits. LAPACK runs on the calling thread (OpenBLAS is told to use one
/// thread, as the evaluator does).
package enum InverseHessianFactor {
    /// Replaces `matrix` (an `n × n` symmetric positive definite matrix, row-major) by the
    /// upper triangular `U` with `Uᵀ·U = matrix⁻¹`, after permuting it: the result belongs to
    /// `matrix[order][:, order]`. Entries below the diagonal are left undefined. Returns false,
    /// leaving the buffer undefined, when the matrix is not positive definite.
    package static func factorInPlace(_ matrix: UnsafeMutableBufferPointer<Double>, n: Int, order: [Int],
                                      threads: Int) -> Bool {
        precondition(n > 0 && matrix.count == n * n && order.count == n, "factor needs an n x n matrix and an order of n")
        // Reversed order: entry (i, j) becomes matrix[order[n-1-i]][order[n-1-j]].
        permute(matrix, n: n, by: order.reversed(), threads: threads)
        openblas_set_num_threads(1)
        var size = blasint(n), info: blasint = 0
        var upper = Int8(UInt8(ascii: "U")), nonUnit = Int8(UInt8(ascii: "N"))
        // LAPACK is column-major; a symmetric matrix reads the same either way. The upper factor
        // V (column-major) of J·H·J is Lᵀ, and V⁻¹ = L⁻ᵀ.
        dpotrf_(&upper, &size, matrix.baseAddress!, &size, &info, 1)
        guard info == 0 else { return false }
        dtrtri_(&upper, &nonUnit, &size, matrix.baseAddress!, &size, &info, 1, 1)
        guard info == 0 else { return false }
        // Column-major V⁻¹[i][j] sits at i + j·n; reversing the buffer puts U[a][b] = L⁻¹[n-1-a][n-1-b]
        // at a·n + b, row-major.
        var whole = matrix
        whole.reverse()
        return true
    }

    /// Overwrites `matrix` with the identity (the factor that makes GPTQ round to nearest).
    package static func identity(_ matrix: UnsafeMutableBufferPointer<Double>, n: Int) {
        matrix.update(repeating: 0)
        for i in 0..<n { matrix[i * n + i] = 1 }
    }

    /// In place: entry (i, j) becomes the old entry (`order[i]`, `order[j]`). Columns are
    /// permuted row by row on `threads` threads, then rows by following the permutation's cycles
    /// with one spare row.
    static func permute(_ matrix: UnsafeMutableBufferPointer<Double>, n: Int, by order: [Int], threads: Int) {
        if order.elementsEqual(0..<n) { return }
        let base = matrix.baseAddress!
        order.withUnsafeBufferPointer { order in
            Parallel.forChunks(n, minimumPerChunk: 64, threads: threads) { rows in
                withUnsafeTemporaryAllocation(of: Double.self, capacity: n) { spare in
                    let spare = spare.baseAddress!
                    for r in rows {
                        let row = base + r * n
                        spare.update(from: row, count: n)
                        for j in 0..<n { row[j] = spare[order[j]] }
                    }
                }
            }
            var placed = [Bool](repeating: false, count: n)
            withUnsafeTemporaryAllocation(of: Double.self, capacity: n) { spare in
                let spare = spare.baseAddress!
                for start in 0..<n where !placed[start] {
                    spare.update(from: base + start * n, count: n)
                    var i = start
                    while true {
                        placed[i] = true
                        let next = order[i]
                        if next == start {
                            (base + i * n).update(from: spare, count: n)
                            break
                        }
                        (base + i * n).update(from: base + next * n, count: n)
                        i = next
                    }
                }
            }
        }
    }
}
