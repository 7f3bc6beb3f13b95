#ifndef LOWBIT_KERNELS_H
#define LOWBIT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Matrix products over packed operands for the evaluator's weight matrices.
///
/// `C[m×n] (+)= A[m×k] · Wᵀ`, where W holds n rows of k (a weight matrix as stored: one row per
/// output feature). Both operands are packed first, in one of two element kinds:
/// - LOWBIT_PACK_F32: exact single precision (fused multiply-add in float);
/// - LOWBIT_PACK_BF16: both operands rounded to bfloat16 (round to nearest even), products summed
///   in float by the AVX-512 BF16 dot-product instruction where the CPU has it — twice the
///   arithmetic rate of float on CPUs with it.
///
/// Packed W: panels of LOWBIT_PANEL_COLUMNS rows of W; within a panel, for each step of k (F32)
/// or each pair of k (BF16), the panel's 32 values side by side (a pair per value for BF16).
/// Rows past n and the odd last k of BF16 are zero. Packed A: blocks of LOWBIT_BLOCK_ROWS rows;
/// within a block of r rows, for each step (or pair) of k, the r values side by side.
/// All pointers to packed data must be 64-byte aligned. None of these functions allocate.

#define LOWBIT_PANEL_COLUMNS 32
#define LOWBIT_BLOCK_ROWS 12

typedef enum {
    LOWBIT_PACK_F32 = 0,
    LOWBIT_PACK_BF16 = 1,
} lowbit_pack_kind;

/// Which code runs: the fastest this CPU has (AVX-512 where present), or the portable C
/// everywhere (tests compare the two). Both read and write the same packed layouts.
typedef enum {
    LOWBIT_KERNELS_FASTEST = 0,
    LOWBIT_KERNELS_PORTABLE = 1,
} lowbit_kernels;

/// Bytes of a packed W of n rows of k (a multiple of 64).
size_t lowbit_packed_weights_bytes(lowbit_pack_kind kind, int64_t n, int64_t k);

/// Packs `rows` rows of k floats at `w` (row-major, `ldw` apart) as rows `first_row`... of the
/// packed W at `packed` (sized for n ≥ first_row + rows; padding must already be zero).
void lowbit_pack_weights(lowbit_pack_kind kind, lowbit_kernels kernels, const float *w, int64_t ldw, int64_t first_row, int64_t rows,
                         int64_t k, void *packed);

/// Bytes of a packed A of m rows of k (a multiple of 64).
size_t lowbit_packed_activations_bytes(lowbit_pack_kind kind, int64_t m, int64_t k);

/// Packs the row blocks `block_begin..<block_end` of A (m rows of k floats, `lda` apart) into
/// `packed` (sized for all m rows).
void lowbit_pack_activations(lowbit_pack_kind kind, lowbit_kernels kernels, const float *a, int64_t lda, int64_t m, int64_t k,
                             int64_t block_begin, int64_t block_end, void *packed);

/// Columns `panel_begin * 32 ..< min(n, panel_end * 32)` of C[m×n] (rows `ldc` apart) from a packed
/// A and a packed W of the same kind; adds to what C holds when `accumulate` is non-zero.
void lowbit_gemm_packed(lowbit_pack_kind kind, lowbit_kernels kernels, int64_t m, int64_t n, int64_t k,
                        const void *packed_a, const void *packed_w, int64_t panel_begin, int64_t panel_end,
                        float *c, int64_t ldc, int accumulate);

/// Whether the CPU multiplies BF16 natively (AVX-512 BF16); without it BF16 products are
/// computed in float by portable code (same rounding of the operands, much slower).
int lowbit_has_native_bf16(void);

/// Whether the F32 product runs on AVX-512 code (otherwise portable C).
int lowbit_has_avx512(void);

#endif
