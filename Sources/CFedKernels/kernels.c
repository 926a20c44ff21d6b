#include "FedKernels.h"

#include <stdlib.h>
#include <string.h>

// Build flags (Package.swift): -O3 -ffp-contract=off. The latter is essential: it forbids the
// compiler from fusing `c + a * b` into an FMA, which would round differently.

typedef float v8 __attribute__((vector_size(32), aligned(4)));

#define ROWS 4  /* rows of C per micro-tile */
#define COLS 16 /* columns of C per micro-tile (two 8-lane vectors) */

// One body, compiled twice with different target attributes. Per element the arithmetic is
// `c = c + a * b` for k = 0, 1, ... in order, whichever branch computes it.
#define GEMM_BODY                                                                                 \
    for (int m0 = 0; m0 < M; m0 += ROWS) {                                                        \
        int rows = M - m0 < ROWS ? M - m0 : ROWS;                                                 \
        int n0 = 0;                                                                               \
        if (rows == ROWS) {                                                                       \
            for (; n0 + COLS <= N; n0 += COLS) {                                                  \
                v8 c[ROWS][2];                                                                    \
                for (int r = 0; r < ROWS; r++) {                                                  \
                    if (accumulate) {                                                             \
                        memcpy(&c[r][0], C + (m0 + r) * ldc + n0, 32);                            \
                        memcpy(&c[r][1], C + (m0 + r) * ldc + n0 + 8, 32);                        \
                    } else {                                                                      \
                        c[r][0] = (v8){0}; c[r][1] = (v8){0};                                     \
                    }                                                                             \
                }                                                                                 \
                for (int k = 0; k < K; k++) {                                                     \
                    v8 b0, b1;                                                                    \
                    memcpy(&b0, B + k * ldb + n0, 32);                                            \
                    memcpy(&b1, B + k * ldb + n0 + 8, 32);                                        \
                    for (int r = 0; r < ROWS; r++) {                                              \
                        float a = A[(m0 + r) * a_row_stride + k * a_col_stride];                  \
                        v8 av = {a, a, a, a, a, a, a, a};                                         \
                        c[r][0] = c[r][0] + av * b0;                                              \
                        c[r][1] = c[r][1] + av * b1;                                              \
                    }                                                                             \
                }                                                                                 \
                for (int r = 0; r < ROWS; r++) {                                                  \
                    memcpy(C + (m0 + r) * ldc + n0, &c[r][0], 32);                                \
                    memcpy(C + (m0 + r) * ldc + n0 + 8, &c[r][1], 32);                            \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
        /* 8 more columns at a time, for every row of the block (one 8-lane vector per row). */ \
        for (; n0 + 8 <= N; n0 += 8) {                                                            \
            v8 c[ROWS];                                                                           \
            for (int r = 0; r < rows; r++) {                                                      \
                if (accumulate) memcpy(&c[r], C + (m0 + r) * ldc + n0, 32);                       \
                else c[r] = (v8){0};                                                              \
            }                                                                                     \
            for (int k = 0; k < K; k++) {                                                         \
                v8 b0;                                                                            \
                memcpy(&b0, B + k * ldb + n0, 32);                                                \
                for (int r = 0; r < rows; r++) {                                                  \
                    float a = A[(m0 + r) * a_row_stride + k * a_col_stride];                      \
                    v8 av = {a, a, a, a, a, a, a, a};                                             \
                    c[r] = c[r] + av * b0;                                                        \
                }                                                                                 \
            }                                                                                     \
            for (int r = 0; r < rows; r++) memcpy(C + (m0 + r) * ldc + n0, &c[r], 32);            \
        }                                                                                         \
        /* The edge: the last (fewer than 8) columns. */                                          \
        for (int r = 0; r < rows; r++) {                                                          \
            float *c = C + (m0 + r) * ldc;                                                        \
            const float *a = A + (m0 + r) * a_row_stride;                                         \
            for (int n = n0; n < N; n++) {                                                        \
                float s = accumulate ? c[n] : 0.0f;                                               \
                for (int k = 0; k < K; k++) s = s + a[k * a_col_stride] * B[k * ldb + n];         \
                c[n] = s;                                                                         \
            }                                                                                     \
        }                                                                                         \
    }

static void gemm_portable(int M, int N, int K, const float *A, ptrdiff_t a_row_stride, ptrdiff_t a_col_stride,
                          const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate) {
    GEMM_BODY
}

#if defined(__x86_64__)
__attribute__((target("avx")))
static void gemm_avx(int M, int N, int K, const float *A, ptrdiff_t a_row_stride, ptrdiff_t a_col_stride,
                     const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate) {
    GEMM_BODY
}
#endif

int fedsim_cpu_has_avx(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") ? 1 : 0;
#else
    return 0;
#endif
}

void fedsim_gemm_path(int path, int M, int N, int K, const float *A, ptrdiff_t a_row_stride, ptrdiff_t a_col_stride,
                      const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate) {
    if (M <= 0 || N <= 0) return;
#if defined(__x86_64__)
    if (path == 1 && fedsim_cpu_has_avx()) {
        gemm_avx(M, N, K, A, a_row_stride, a_col_stride, B, ldb, C, ldc, accumulate);
        return;
    }
#endif
    gemm_portable(M, N, K, A, a_row_stride, a_col_stride, B, ldb, C, ldc, accumulate);
}

static int chosen_path = -1;

int fedsim_kernel_path(void) {
    // A benign race: every thread computes the same value.
    int path = __atomic_load_n(&chosen_path, __ATOMIC_RELAXED);
    if (path < 0) {
        const char *forced = getenv("FEDSIM_KERNEL");
        path = (forced && strcmp(forced, "portable") == 0) ? 0 : fedsim_cpu_has_avx();
        __atomic_store_n(&chosen_path, path, __ATOMIC_RELAXED);
    }
    return path;
}

const char *fedsim_kernel_name(int path) { return path == 1 ? "avx" : "portable"; }

void fedsim_gemm(int M, int N, int K, const float *A, ptrdiff_t a_row_stride, ptrdiff_t a_col_stride,
                 const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate) {
    fedsim_gemm_path(fedsim_kernel_path(), M, N, K, A, a_row_stride, a_col_stride, B, ldb, C, ldc, accumulate);
}

void fedsim_transpose(int rows, int cols, const float *src, ptrdiff_t lds, float *dst, ptrdiff_t ldd) {
    enum { B = 16 };
    for (int r0 = 0; r0 < rows; r0 += B) {
        int r1 = r0 + B < rows ? r0 + B : rows;
        for (int c0 = 0; c0 < cols; c0 += B) {
            int c1 = c0 + B < cols ? c0 + B : cols;
            for (int r = r0; r < r1; r++)
                for (int c = c0; c < c1; c++) dst[c * ldd + r] = src[r * lds + c];
        }
    }
}
