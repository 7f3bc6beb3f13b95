// Packing, dispatch and the portable kernels of the packed matrix product (see lowbit_kernels.h).
#include "lowbit_kernels.h"
#include "packed_gemm_internal.h"

#include <string.h>

enum { PANEL = LOWBIT_PANEL_COLUMNS, BLOCK = LOWBIT_BLOCK_ROWS };

static int64_t panels_of(int64_t n) { return (n + PANEL - 1) / PANEL; }
static int64_t pairs_of(int64_t k) { return (k + 1) / 2; }
static size_t round64(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

size_t lowbit_packed_weights_bytes(lowbit_pack_kind kind, int64_t n, int64_t k) {
    int64_t steps = kind == LOWBIT_PACK_F32 ? k : pairs_of(k);
    return round64((size_t)panels_of(n) * (size_t)steps * PANEL * 4);
}

size_t lowbit_packed_activations_bytes(lowbit_pack_kind kind, int64_t m, int64_t k) {
    int64_t steps = kind == LOWBIT_PACK_F32 ? k : pairs_of(k);
    return round64((size_t)m * (size_t)steps * 4);
}

/// bfloat16 nearest to `f` (ties to even); NaN stays a (quiet) NaN.
static inline uint16_t bf16_from_float(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static inline uint32_t bf16_pair(const float *row, int64_t q, int64_t k) {
    uint32_t lo = bf16_from_float(row[2 * q]);
    uint32_t hi = 2 * q + 1 < k ? bf16_from_float(row[2 * q + 1]) : 0;
    return lo | hi << 16;
}

/// Whether `kernels` allows the AVX-512 code for `kind` and the CPU has it.
static int native(lowbit_kernels kernels, lowbit_pack_kind kind) {
    if (kernels == LOWBIT_KERNELS_PORTABLE) return 0;
    return kind == LOWBIT_PACK_F32 ? lowbit_has_avx512() : lowbit_has_native_bf16();
}

void lowbit_pack_weights(lowbit_pack_kind kind, lowbit_kernels kernels, const float *w, int64_t ldw, int64_t first_row, int64_t rows,
                         int64_t k, void *packed) {
    for (int64_t i = 0; i < rows; i++) {
        int64_t row = first_row + i, panel = row / PANEL, column = row % PANEL;
        const float *source = w + i * ldw;
        if (kind == LOWBIT_PACK_F32) {
            float *p = (float *)packed + panel * k * PANEL + column;
            for (int64_t s = 0; s < k; s++) p[s * PANEL] = source[s];
        } else {
            int64_t kp = pairs_of(k);
            uint32_t *p = (uint32_t *)packed + panel * kp * PANEL + column;
            if (native(kernels, kind))
                lowbit_pack_bf16_row_avx512(source, k, p, PANEL);
            else
                for (int64_t q = 0; q < kp; q++) p[q * PANEL] = bf16_pair(source, q, k);
        }
    }
}

void lowbit_pack_activations(lowbit_pack_kind kind, lowbit_kernels kernels, const float *a, int64_t lda, int64_t m, int64_t k,
                             int64_t block_begin, int64_t block_end, void *packed) {
    int64_t steps = kind == LOWBIT_PACK_F32 ? k : pairs_of(k);
    for (int64_t b = block_begin; b < block_end; b++) {
        int64_t r0 = b * BLOCK, rows = m - r0 < BLOCK ? m - r0 : BLOCK;
        if (rows <= 0) return;
        uint32_t *out = (uint32_t *)packed + r0 * steps;
        if (kind == LOWBIT_PACK_BF16 && native(kernels, kind)) {
            lowbit_pack_bf16_block_avx512(a + r0 * lda, lda, rows, k, out);
            continue;
        }
        for (int64_t r = 0; r < rows; r++) {
            const float *row = a + (r0 + r) * lda;
            if (kind == LOWBIT_PACK_F32) {
                float *o = (float *)out + r;
                for (int64_t s = 0; s < k; s++) o[s * rows] = row[s];
            } else {
                for (int64_t q = 0; q < steps; q++) out[q * rows + r] = bf16_pair(row, q, k);
            }
        }
    }
}

/// One tile of C (rows × cols, at most BLOCK × PANEL) in portable C.
static void tile_portable(lowbit_pack_kind kind, int64_t rows, int64_t cols, int64_t k, const void *a,
                          const void *w, float *c, int64_t ldc, int accumulate) {
    float sum[BLOCK][PANEL];
    memset(sum, 0, sizeof sum);
    if (kind == LOWBIT_PACK_F32) {
        const float *av = a, *wv = w;
        for (int64_t s = 0; s < k; s++)
            for (int64_t r = 0; r < rows; r++) {
                float x = av[s * rows + r];
                for (int j = 0; j < PANEL; j++) sum[r][j] += x * wv[s * PANEL + j];
            }
    } else {
        const uint32_t *av = a, *wv = w;
        for (int64_t q = 0; q < pairs_of(k); q++)
            for (int64_t r = 0; r < rows; r++) {
                uint32_t x = av[q * rows + r];
                float x0 = lowbit_float_from_bf16((uint16_t)x), x1 = lowbit_float_from_bf16((uint16_t)(x >> 16));
                for (int j = 0; j < PANEL; j++) {
                    uint32_t y = wv[q * PANEL + j];
                    sum[r][j] += x0 * lowbit_float_from_bf16((uint16_t)y) + x1 * lowbit_float_from_bf16((uint16_t)(y >> 16));
                }
            }
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++) c[r * ldc + j] = (accumulate ? c[r * ldc + j] : 0) + sum[r][j];
}

void lowbit_gemm_packed(lowbit_pack_kind kind, lowbit_kernels kernels, int64_t m, int64_t n, int64_t k,
                        const void *packed_a, const void *packed_w, int64_t panel_begin, int64_t panel_end,
                        float *c, int64_t ldc, int accumulate) {
    int64_t steps = kind == LOWBIT_PACK_F32 ? k : pairs_of(k);
    size_t panel_bytes = (size_t)steps * PANEL * 4;
    // Panels per pass: about 512 KiB of W stays in L2 while every block of A goes by.
    int64_t per_pass = (int64_t)((512u << 10) / (panel_bytes ? panel_bytes : 1));
    if (per_pass < 1) per_pass = 1;
    int avx512 = native(kernels, kind);
    if (panel_end > panels_of(n)) panel_end = panels_of(n);
    for (int64_t p0 = panel_begin; p0 < panel_end; p0 += per_pass) {
        int64_t p1 = p0 + per_pass < panel_end ? p0 + per_pass : panel_end;
        for (int64_t r0 = 0; r0 < m; r0 += BLOCK) {
            int64_t rows = m - r0 < BLOCK ? m - r0 : BLOCK;
            const uint32_t *a = (const uint32_t *)packed_a + r0 * steps;
            for (int64_t p = p0; p < p1; p++) {
                int64_t cols = n - p * PANEL < PANEL ? n - p * PANEL : PANEL;
                const uint32_t *w = (const uint32_t *)packed_w + p * steps * PANEL;
                float *tile = c + r0 * ldc + p * PANEL;
                if (avx512)
                    lowbit_tile_avx512(kind, rows, cols, steps, a, w, tile, ldc, accumulate);
                else
                    tile_portable(kind, rows, cols, k, a, w, tile, ldc, accumulate);
            }
        }
    }
}
