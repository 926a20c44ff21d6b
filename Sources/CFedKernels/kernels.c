#include "FedKernels.h"

#include <stdlib.h>
#include <string.h>

// Build flags (Package.swift): -O3 -ffp-contract=off. The latter is essential: it forbids the
// compiler from fusing `c + a * b` into an FMA, which would round differently.

typedef float v8 __attribute__((vector_size(32), aligned(4)));
typedef float v16 __attribute__((vector_size(64), aligned(4)));

/* Every lane set to x (a broadcast, exact: no arithmetic touches x). */
#define SPLAT8(x) ({ float s_ = (x); (v8){s_, s_, s_, s_, s_, s_, s_, s_}; })
#define SPLAT16(x) ({ float s_ = (x); (v16){s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_}; })

#define ROWS 6 /* rows of C per micro-tile; a tile is ROWS × two vectors of columns */

// Cache blocks: a KC × NC panel of B (256 KB) stays in L2 while every row of A streams past it.
// Blocking changes no bit: each element still sums its terms in increasing k, and between
// blocks its partial sum is stored and reloaded exactly.
#define KC 256
#define NC 256

// One body, compiled for 8-lane vectors (portable and AVX) and 16-lane vectors (AVX-512), with
// VT the vector type and W its lanes. Per element the arithmetic is `c = c + a * b` for
// k = 0, 1, ... in order, whichever branch computes it: the lanes run across n, never across k.
#define GEMM_BODY(VT, W)                                                                          \
    const size_t bytes = sizeof(VT);                                                              \
    for (int m0 = 0; m0 < M; m0 += ROWS) {                                                        \
        int rows = M - m0 < ROWS ? M - m0 : ROWS;                                                 \
        int n0 = 0;                                                                               \
        if (rows == ROWS) {                                                                       \
            for (; n0 + 2 * W <= N; n0 += 2 * W) {                                                \
                VT c[ROWS][2];                                                                    \
                for (int r = 0; r < ROWS; r++) {                                                  \
                    if (accumulate) {                                                             \
                        memcpy(&c[r][0], C + (m0 + r) * ldc + n0, bytes);                         \
                        memcpy(&c[r][1], C + (m0 + r) * ldc + n0 + W, bytes);                     \
                    } else {                                                                      \
                        c[r][0] = (VT){0}; c[r][1] = (VT){0};                                     \
                    }                                                                             \
                }                                                                                 \
                for (int k = 0; k < K; k++) {                                                     \
                    VT b0, b1;                                                                    \
                    memcpy(&b0, B + k * ldb + n0, bytes);                                         \
                    memcpy(&b1, B + k * ldb + n0 + W, bytes);                                     \
                    for (int r = 0; r < ROWS; r++) {                                              \
                        VT av = SPLAT##W(A[(m0 + r) * a_row_stride + k * a_col_stride]);          \
                        c[r][0] = c[r][0] + av * b0;                                              \
                        c[r][1] = c[r][1] + av * b1;                                              \
                    }                                                                             \
                }                                                                                 \
                for (int r = 0; r < ROWS; r++) {                                                  \
                    memcpy(C + (m0 + r) * ldc + n0, &c[r][0], bytes);                             \
                    memcpy(C + (m0 + r) * ldc + n0 + W, &c[r][1], bytes);                         \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
        /* W more columns at a time, for every row of the block (one vector per row). */        \
        for (; n0 + W <= N; n0 += W) {                                                           \
            VT c[ROWS];                                                                           \
            for (int r = 0; r < rows; r++) {                                                      \
                if (accumulate) memcpy(&c[r], C + (m0 + r) * ldc + n0, bytes);                    \
                else c[r] = (VT){0};                                                              \
            }                                                                                     \
            for (int k = 0; k < K; k++) {                                                         \
                VT b0;                                                                            \
                memcpy(&b0, B + k * ldb + n0, bytes);                                             \
                for (int r = 0; r < rows; r++) {                                                  \
                    VT av = SPLAT##W(A[(m0 + r) * a_row_stride + k * a_col_stride]);              \
                    c[r] = c[r] + av * b0;                                                        \
                }                                                                                 \
            }                                                                                     \
            for (int r = 0; r < rows; r++) memcpy(C + (m0 + r) * ldc + n0, &c[r], bytes);         \
        }                                                                                         \
        /* The edge: the last (fewer than W) columns, in one vector per row whose lanes past   \
           the edge hold zeros that are computed but never stored. */                           \
        if (n0 < N) {                                                                             \
            const size_t edge = sizeof(float) * (size_t)(N - n0);                                 \
            VT c[ROWS];                                                                           \
            for (int r = 0; r < rows; r++) {                                                      \
                c[r] = (VT){0};                                                                   \
                if (accumulate) memcpy(&c[r], C + (m0 + r) * ldc + n0, edge);                     \
            }                                                                                     \
            for (int k = 0; k < K; k++) {                                                         \
                VT b0 = (VT){0};                                                                  \
                memcpy(&b0, B + k * ldb + n0, edge);                                              \
                for (int r = 0; r < rows; r++) {                                                  \
                    VT av = SPLAT##W(A[(m0 + r) * a_row_stride + k * a_col_stride]);              \
                    c[r] = c[r] + av * b0;                                                        \
                }                                                                                 \
            }                                                                                     \
            for (int r = 0; r < rows; r++) memcpy(C + (m0 + r) * ldc + n0, &c[r], edge);          \
        }                                                                                         \
    }

static void gemm_portable(int M, int N, int K, const float *A, ptrdiff_t a_row_stride, ptrdiff_t a_col_stride,
                          const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate) {
    GEMM_BODY(v8, 8)
}

#if defined(__x86_64__)
__attribute__((target("avx")))
static void gemm_avx(int M, int N, int K, const float *A, ptrdiff_t a_row_stride, ptrdiff_t a_col_stride,
                     const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate) {
    GEMM_BODY(v8, 8)
}

__attribute__((target("avx512f")))
static void gemm_avx512(int M, int N, int K, const float *A, ptrdiff_t a_row_stride, ptrdiff_t a_col_stride,
                        const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate) {
    GEMM_BODY(v16, 16)
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

int fedsim_cpu_has_avx512(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
    return 0;
#endif
}

typedef void (*gemm_kernel)(int, int, int, const float *, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t, float *,
                            ptrdiff_t, int);


void fedsim_gemm_path(int path, int M, int N, int K, const float *A, ptrdiff_t a_row_stride, ptrdiff_t a_col_stride,
                      const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate) {
    if (M <= 0 || N <= 0) return;
    gemm_kernel kernel = gemm_portable;
#if defined(__x86_64__)
    if (path == 1 && fedsim_cpu_has_avx()) kernel = gemm_avx;
    if (path == 2 && fedsim_cpu_has_avx512()) kernel = gemm_avx512;
#endif
    if (K <= 0) {
        kernel(M, N, 0, A, a_row_stride, a_col_stride, B, ldb, C, ldc, accumulate);
        return;
    }
    for (int n0 = 0; n0 < N; n0 += NC) {
        int nc = N - n0 < NC ? N - n0 : NC;
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            kernel(M, nc, kc, A + (ptrdiff_t)k0 * a_col_stride, a_row_stride, a_col_stride, B + (ptrdiff_t)k0 * ldb + n0,
                   ldb, C + n0, ldc, k0 == 0 ? accumulate : 1);
        }
    }
}

static int chosen_path = -1;

int fedsim_kernel_path(void) {
    // A benign race: every thread computes the same value.
    int path = __atomic_load_n(&chosen_path, __ATOMIC_RELAXED);
    if (path < 0) {
        const char *forced = getenv("FEDSIM_KERNEL");
        path = fedsim_cpu_has_avx512() ? 2 : fedsim_cpu_has_avx();
        if (forced && strcmp(forced, "portable") == 0) path = 0;
        if (forced && strcmp(forced, "avx") == 0 && path > 1) path = 1;
        __atomic_store_n(&chosen_path, path, __ATOMIC_RELAXED);
    }
    return path;
}

const char *fedsim_kernel_name(int path) { return path == 2 ? "avx512" : path == 1 ? "avx" : "portable"; }

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
