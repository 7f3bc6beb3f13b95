// The AVX-512 half of the packed matrix product: a 12 × 32 register tile of C per call.
// Compiled for AVX-512 whatever the build's target; used only when the CPU has it.
#include "packed_gemm_internal.h"

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>

static int cpu_has_avx512(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

int lowbit_has_avx512(void) {
    static int cached = -1;
    if (cached < 0) cached = cpu_has_avx512();
    return cached;
}

int lowbit_has_native_bf16(void) {
    static int cached = -1;
    if (cached < 0) cached = cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
    return cached;
}

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))), apply_to = function)

enum { PANEL = LOWBIT_PANEL_COLUMNS };

/// Writes (or adds) two accumulator rows of 16 into C under the column masks.
static inline __attribute__((always_inline)) void store_row(float *c, __m512 lo, __m512 hi, __mmask16 mlo,
                                                              __mmask16 mhi, int accumulate) {
    if (accumulate) {
        lo = _mm512_add_ps(lo, _mm512_maskz_loadu_ps(mlo, c));
        hi = _mm512_add_ps(hi, _mm512_maskz_loadu_ps(mhi, c + 16));
    }
    _mm512_mask_storeu_ps(c, mlo, lo);
    _mm512_mask_storeu_ps(c + 16, mhi, hi);
}

/// A ROWS × 32 tile over `steps` steps. Both kinds hold one 4-byte element per column and step
/// (a float, or a pair of bfloat16), so they share the addressing; only the instruction differs.
static inline __attribute__((always_inline)) void tile(const int ROWS, const int BF16, int64_t steps,
                                                         const uint32_t *a, const uint32_t *w, float *c,
                                                         int64_t ldc, __mmask16 mlo, __mmask16 mhi, int accumulate) {
    __m512 lo[12], hi[12];
    for (int r = 0; r < ROWS; r++) lo[r] = hi[r] = _mm512_setzero_ps();
    for (int64_t s = 0; s < steps; s++) {
        __m512i w0 = _mm512_load_si512(w + s * PANEL), w1 = _mm512_load_si512(w + s * PANEL + 16);
        for (int r = 0; r < ROWS; r++) {
            __m512i x = _mm512_set1_epi32((int)a[s * ROWS + r]);
            if (BF16) {
                lo[r] = _mm512_dpbf16_ps(lo[r], (__m512bh)x, (__m512bh)w0);
                hi[r] = _mm512_dpbf16_ps(hi[r], (__m512bh)x, (__m512bh)w1);
            } else {
                lo[r] = _mm512_fmadd_ps(_mm512_castsi512_ps(x), _mm512_castsi512_ps(w0), lo[r]);
                hi[r] = _mm512_fmadd_ps(_mm512_castsi512_ps(x), _mm512_castsi512_ps(w1), hi[r]);
            }
        }
    }
    for (int r = 0; r < ROWS; r++) store_row(c + r * ldc, lo[r], hi[r], mlo, mhi, accumulate);
}

void lowbit_tile_avx512(lowbit_pack_kind kind, int64_t rows, int64_t cols, int64_t steps, const void *a,
                        const void *w, float *c, int64_t ldc, int accumulate) {
    __mmask16 mlo = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1);
    __mmask16 mhi = cols >= 32 ? 0xffff : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : 0;
    // One instance per row count, so every accumulator lives in a register.
#define ROWS_CASE(R)                                                                   \
    case R:                                                                            \
        if (kind == LOWBIT_PACK_F32)                                                   \
            tile(R, 0, steps, a, w, c, ldc, mlo, mhi, accumulate);                     \
        else                                                                           \
            tile(R, 1, steps, a, w, c, ldc, mlo, mhi, accumulate);                     \
        break;
    switch (rows) {
        ROWS_CASE(12) ROWS_CASE(11) ROWS_CASE(10) ROWS_CASE(9) ROWS_CASE(8) ROWS_CASE(7)
        ROWS_CASE(6) ROWS_CASE(5) ROWS_CASE(4) ROWS_CASE(3) ROWS_CASE(2) ROWS_CASE(1)
        default: break;
    }
#undef ROWS_CASE
}

/// Masks of the floats `first ..< k` that fall in a tile of 32 starting at `first`.
static inline void tile_masks(int64_t first, int64_t k, __mmask16 *lo, __mmask16 *hi) {
    int64_t floats = first + 32 <= k ? 32 : k - first;
    *lo = floats >= 16 ? 0xffff : (__mmask16)((1u << floats) - 1);
    *hi = floats >= 32 ? 0xffff : floats > 16 ? (__mmask16)((1u << (floats - 16)) - 1) : 0;
}

/// 32 floats from `src` (fewer under the masks, zero beyond) as 16 BF16 pairs.
static inline __m512i bf16_pairs(const float *src, __mmask16 lo, __mmask16 hi) {
    __m512 a = _mm512_maskz_loadu_ps(lo, src), b = _mm512_maskz_loadu_ps(hi, src + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(b, a);
}

void lowbit_pack_bf16_row_avx512(const float *row, int64_t k, uint32_t *out, int64_t stride) {
    uint32_t pairs[16];
    int64_t kp = (k + 1) / 2;
    for (int64_t q0 = 0; q0 < kp; q0 += 16) {
        __mmask16 lo, hi;
        tile_masks(2 * q0, k, &lo, &hi);
        _mm512_storeu_si512(pairs, bf16_pairs(row + 2 * q0, lo, hi));
        int64_t span = kp - q0 < 16 ? kp - q0 : 16;
        for (int64_t q = 0; q < span; q++) out[(q0 + q) * stride] = pairs[q];
    }
}

void lowbit_pack_bf16_block_avx512(const float *a, int64_t lda, int64_t rows, int64_t k, uint32_t *out) {
    uint32_t pairs[12][16];
    int64_t kp = (k + 1) / 2;
    for (int64_t q0 = 0; q0 < kp; q0 += 16) {
        int64_t span = kp - q0 < 16 ? kp - q0 : 16;  // pairs in this tile
        __mmask16 lo, hi;
        tile_masks(2 * q0, k, &lo, &hi);
        for (int64_t r = 0; r < rows; r++) _mm512_storeu_si512(pairs[r], bf16_pairs(a + r * lda + 2 * q0, lo, hi));
        for (int64_t q = 0; q < span; q++)
            for (int64_t r = 0; r < rows; r++) out[(q0 + q) * rows + r] = pairs[r][q];
    }
}

#pragma clang attribute pop

#else

int lowbit_has_avx512(void) { return 0; }
int lowbit_has_native_bf16(void) { return 0; }
void lowbit_tile_avx512(lowbit_pack_kind kind, int64_t rows, int64_t cols, int64_t steps, const void *a,
                        const void *w, float *c, int64_t ldc, int accumulate) {}
void lowbit_pack_bf16_block_avx512(const float *a, int64_t lda, int64_t rows, int64_t k, uint32_t *out) {}
void lowbit_pack_bf16_row_avx512(const float *row, int64_t k, uint32_t *out, int64_t stride) {}

#endif
