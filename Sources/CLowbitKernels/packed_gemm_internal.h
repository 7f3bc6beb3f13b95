// Shared between the portable and the AVX-512 halves of the packed matrix product.
#ifndef LOWBIT_PACKED_GEMM_INTERNAL_H
#define LOWBIT_PACKED_GEMM_INTERNAL_H

#include "lowbit_kernels.h"
#include <string.h>

static inline float lowbit_float_from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/// One tile of C (rows ≤ 12, cols ≤ 32) with AVX-512; `steps` = k (F32) or k pairs (BF16).
void lowbit_tile_avx512(lowbit_pack_kind kind, int64_t rows, int64_t cols, int64_t steps, const void *a,
                        const void *w, float *c, int64_t ldc, int accumulate);

/// Packs one row of k floats of W as BF16 pairs, `stride` uint32 apart (the panel width).
void lowbit_pack_bf16_row_avx512(const float *row, int64_t k, uint32_t *out, int64_t stride);

/// Packs one block of `rows` ≤ 12 rows of A as BF16 pairs with AVX-512 BF16 conversions.
void lowbit_pack_bf16_block_avx512(const float *a, int64_t lda, int64_t rows, int64_t k, uint32_t *out);

#endif
