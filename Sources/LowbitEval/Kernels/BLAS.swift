import COpenBLAS
import LowbitSystem

/// Single-precision matrix products through OpenBLAS, behind a bounds-checked API.
///
/// Lowbit runs OpenBLAS on one thread per call and parallelises by splitting the output columns
/// over its own threads, so BLAS threads never compete with Lowbit's (no oversubscription) and
/// the small products of attention parallelise as well as the large ones.
package enum BLAS {
    /// Makes OpenBLAS compute every call on the calling thread. Called once by the model.
    static func useCallingThreadOnly() {
        openblas_set_num_threads(1)
    }

    /// `C[m×n] = alpha · A[m×k] · Bᵀ + beta · C`, where B is stored as n rows of k (row-major,
    /// leading dimensions `lda`, `ldb`, `ldc`), computed on `threads` threads by splitting n.
    package static func gemmTransposedB(m: Int, n: Int, k: Int, alpha: Float = 1,
                                a: UnsafePointer<Float>, lda: Int,
                                b: UnsafePointer<Float>, ldb: Int,
                                beta: Float = 0,
                                c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = 1) {
        precondition(m >= 0 && n >= 0 && k >= 0 && lda >= k && ldb >= k && ldc >= n, "bad gemm dimensions")
        guard m > 0, n > 0 else { return }
        let a = UnsafeTransfer(UnsafeMutablePointer(mutating: a))
        let b = UnsafeTransfer(UnsafeMutablePointer(mutating: b))
        let c = UnsafeTransfer(c)
        Parallel.forRanges(n, threads: threads, minimumPerPart: 64) { cols in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                        blasint(m), blasint(cols.count), blasint(k), alpha,
                        a.wrappedValue, blasint(lda), b.wrappedValue + cols.lowerBound * ldb, blasint(ldb),
                        beta, c.wrappedValue + cols.lowerBound, blasint(ldc))
        }
    }

    /// `C[m×n] = alpha · A[m×k] · B[k×n] + beta · C` (all row-major), on the calling thread.
    static func gemm(m: Int, n: Int, k: Int, alpha: Float = 1,
                     a: UnsafePointer<Float>, lda: Int,
                     b: UnsafePointer<Float>, ldb: Int,
                     beta: Float = 0,
                     c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(m >= 0 && n >= 0 && k >= 0 && lda >= k && ldb >= n && ldc >= n, "bad gemm dimensions")
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(m), blasint(n), blasint(k), alpha,
                    a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
}
