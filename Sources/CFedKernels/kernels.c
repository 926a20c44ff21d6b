#include "FedKernels.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "short_runs.h"

// Build flags (Package.swift): -O3 -ffp-contract=off. The latter is essential: it forbids the
// compiler from fusing `c + a * b` into an FMA, which would round differently.

typedef float v8 __attribute__((vector_size(32), aligned(4)));
typedef float v16 __attribute__((vector_size(64), aligned(4)));

/* Every lane set to x (a broadcast, exact: no arithmetic touches x). */
#define SPLAT8(x) ({ float s_ = (x); (v8){s_, s_, s_, s_, s_, s_, s_, s_}; })
#define SPLAT16(x) ({ float s_ = (x); (v16){s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_}; })

// Cache blocks: a KC × NC panel of B (256 KB) stays in L2 while every row of A streams past it.
// Blocking changes no bit: each element still sums its terms in increasing k, and between
// blocks its partial sum is stored and reloaded exactly.
#define KC 256
#define NC 256

// One step of an element's sum: a rounded multiply, then a rounded add (fedsim_gemm), or one
// fused multiply-add rounded once (fedsim_gemm_fused). Both are exact IEEE-754 operations, so a
// lane computes the same bits on every CPU: the fused one as vfmadd where the CPU has FMA, and as
// libm's correctly rounded fmaf (one call per lane) where it does not.
#define MAC_SEPARATE(c, a, b) ((c) + (a) * (b))
#define MAC_FUSED(c, a, b) __builtin_elementwise_fma((a), (b), (c))

// A tile of C: R rows from m0 × V vectors of W columns from n0, its R·V partial sums held in
// registers across the whole k loop, reading B's strip at BP (row k at BP + k·BSTRIDE, BBYTES of
// it). EDGE = 1 for the last (fewer than W) columns: CBYTES of them are loaded and stored, and
// the lanes past the edge hold zeros that are computed but never stored. Per element the
// arithmetic is `c = MAC(c, a, b)` for k = 0, 1, ... in order, whatever the tile: the lanes run
// across n, never across k.
#define TILE(VT, W, MAC, R, V, EDGE, CBYTES, BP, BSTRIDE, BBYTES)                                 \
    do {                                                                                          \
        VT c[R][V];                                                                               \
        for (int r = 0; r < R; r++)                                                               \
            for (int v = 0; v < V; v++) {                                                         \
                if (EDGE || !accumulate) c[r][v] = (VT){0};                                       \
                if (accumulate) memcpy(&c[r][v], C + (m0 + r) * ldc + n0 + v * W, CBYTES);        \
            }                                                                                     \
        const float *a = A + (ptrdiff_t)m0 * a_row_stride;                                        \
        for (int k = 0; k < K; k++) {                                                             \
            VT b[V];                                                                              \
            for (int v = 0; v < V; v++) {                                                         \
                if (EDGE) b[v] = (VT){0};                                                         \
                memcpy(&b[v], (BP) + k * (BSTRIDE) + v * W, BBYTES);                              \
            }                                                                                     \
            for (int r = 0; r < R; r++) {                                                         \
                VT av = SPLAT##W(a[r * a_row_stride + k * a_col_stride]);                         \
                for (int v = 0; v < V; v++) c[r][v] = MAC(c[r][v], av, b[v]);                     \
            }                                                                                     \
        }                                                                                         \
        for (int r = 0; r < R; r++)                                                               \
            for (int v = 0; v < V; v++) memcpy(C + (m0 + r) * ldc + n0 + v * W, &c[r][v], CBYTES); \
    } while (0)

// R rows from m0 across every column: strips of two vectors, then one, then the edge. B is
// either packed (see pack_strips: the strip from n0 at packed + K·n0, its rows as wide as the
// strip, zeros past the edge) or read in place.
#define ROW_BLOCK(VT, W, MAC, R)                                                                  \
    do {                                                                                          \
        int n0 = 0;                                                                               \
        if (packed) {                                                                             \
            for (; n0 + 2 * W <= N; n0 += 2 * W)                                                  \
                TILE(VT, W, MAC, R, 2, 0, sizeof(VT), packed + (ptrdiff_t)K * n0, 2 * W, sizeof(VT)); \
            for (; n0 + W <= N; n0 += W)                                                          \
                TILE(VT, W, MAC, R, 1, 0, sizeof(VT), packed + (ptrdiff_t)K * n0, W, sizeof(VT)); \
            if (n0 < N) TILE(VT, W, MAC, R, 1, 1, edge, packed + (ptrdiff_t)K * n0, W, sizeof(VT)); \
        } else {                                                                                  \
            for (; n0 + 2 * W <= N; n0 += 2 * W) TILE(VT, W, MAC, R, 2, 0, sizeof(VT), B + n0, ldb, sizeof(VT)); \
            for (; n0 + W <= N; n0 += W) TILE(VT, W, MAC, R, 1, 0, sizeof(VT), B + n0, ldb, sizeof(VT)); \
            if (n0 < N) TILE(VT, W, MAC, R, 1, 1, edge, B + n0, ldb, edge);                       \
        }                                                                                         \
    } while (0)

// One body, compiled for 8-lane vectors (portable and AVX) and 16-lane vectors (AVX-512), with
// VT the vector type, W its lanes, MAC the step above and ROWS the rows of a full tile (as many
// as the registers hold: ROWS × 2 accumulators, two vectors of B and a broadcast). Rows go in
// tiles of ROWS, then 4, 2 and 1; each tile of A (ROWS × K ≤ KC floats) stays in L1 while it
// meets every strip of B, and the packed block of B (at most KC × NC floats) stays in L2.
#define GEMM_BODY(VT, W, MAC, ROWS)                                                               \
    const size_t edge = sizeof(float) * (size_t)(N % W);                                          \
    if (packed) pack_strips(K, N, W, B, ldb, packed);                                             \
    int m0 = 0;                                                                                   \
    for (; m0 + ROWS <= M; m0 += ROWS) ROW_BLOCK(VT, W, MAC, ROWS);                               \
    if (M - m0 >= 4) { ROW_BLOCK(VT, W, MAC, 4); m0 += 4; }                                       \
    if (M - m0 >= 2) { ROW_BLOCK(VT, W, MAC, 2); m0 += 2; }                                       \
    if (M - m0 >= 1) { ROW_BLOCK(VT, W, MAC, 1); m0 += 1; }

// Copies B's K × N block into strips as ROW_BLOCK reads them: aligned, contiguous rows, so that
// every load of B is one aligned vector. A copy changes no bit.
static void pack_strips(int K, int N, int W, const float *B, ptrdiff_t ldb, float *packed) {
    int n0 = 0;
    for (; n0 + 2 * W <= N; n0 += 2 * W)
        for (int k = 0; k < K; k++)
            memcpy(packed + (ptrdiff_t)K * n0 + k * 2 * W, B + k * ldb + n0, sizeof(float) * 2 * W);
    for (; n0 + W <= N; n0 += W)
        for (int k = 0; k < K; k++) memcpy(packed + (ptrdiff_t)K * n0 + k * W, B + k * ldb + n0, sizeof(float) * W);
    if (n0 < N) {
        for (int k = 0; k < K; k++) {
            float *row = packed + (ptrdiff_t)K * n0 + k * W;
            memset(row, 0, sizeof(float) * W);
            memcpy(row, B + k * ldb + n0, sizeof(float) * (size_t)(N - n0));
        }
    }
}

#define KERNEL_ARGS                                                                               \
    int M, int N, int K, const float *A, ptrdiff_t a_row_stride, ptrdiff_t a_col_stride, const float *B, \
        ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate, float *packed

static void gemm_portable(KERNEL_ARGS) { GEMM_BODY(v8, 8, MAC_SEPARATE, 6) }
static void fused_portable(KERNEL_ARGS) { GEMM_BODY(v8, 8, MAC_FUSED, 6) }

#if defined(__x86_64__)
__attribute__((target("avx"))) static void gemm_avx(KERNEL_ARGS) { GEMM_BODY(v8, 8, MAC_SEPARATE, 6) }
__attribute__((target("avx512f"))) static void gemm_avx512(KERNEL_ARGS) { GEMM_BODY(v16, 16, MAC_SEPARATE, 8) }
__attribute__((target("avx2,fma"))) static void fused_avx2(KERNEL_ARGS) { GEMM_BODY(v8, 8, MAC_FUSED, 6) }
__attribute__((target("avx512f,fma"))) static void fused_avx512(KERNEL_ARGS) { GEMM_BODY(v16, 16, MAC_FUSED, 8) }
#endif

// MARK: - A stride-1 conv without patches

// The forward pass of a stride-1 conv reads its product's B straight from a zero-padded copy of
// the image (an implicit product): B's row (c, kh, kw) at output pixel (oh, ow) is
// padded[c, oh + kh, ow + kw], so a vector of W output pixels along a line is W contiguous floats
// of the padded image. The output pixels go in slots of W along each output line (the last slot of
// a line holds OW mod W of them; its other lanes read whatever follows and are never stored).
// A tile is R output channels × S slots, its partial sums in registers across every (c, kh, kw)
// in order, starting from the bias: the same fused multiply-adds in the same order as im2col
// then fedsim_gemm_fused, so the same bits.
typedef struct {
    int C, PH, PW, K, O, OH, OW, per_line;
    const float *w, *bias, *padded;
    float *y;
} conv_args;

#define CONV_TILE(VT, W, MAC, R, S)                                                               \
    do {                                                                                          \
        VT c[R][S];                                                                               \
        ptrdiff_t base[S], out[S];                                                                \
        int lanes[S];                                                                             \
        for (int s = 0; s < S; s++) {                                                             \
            const int line = (slot + s) / a->per_line, ow0 = (slot + s) % a->per_line * W;        \
            base[s] = (ptrdiff_t)line * a->PW + ow0;                                              \
            out[s] = (ptrdiff_t)line * a->OW + ow0;                                               \
            lanes[s] = a->OW - ow0 < W ? a->OW - ow0 : W;                                         \
        }                                                                                         \
        for (int r = 0; r < R; r++)                                                               \
            for (int s = 0; s < S; s++) c[r][s] = a->bias ? SPLAT##W(a->bias[o0 + r]) : (VT){0};  \
        const float *wr = a->w + (ptrdiff_t)o0 * a->K; /* this tile's weights, [k][r] */           \
        int k = 0;                                                                                \
        for (int ch = 0; ch < a->C; ch++)                                                         \
            for (int kh = 0; kh < kernel; kh++) {                                                 \
                const float *row = a->padded + ((ptrdiff_t)ch * a->PH + kh) * a->PW;              \
                for (int kw = 0; kw < kernel; kw++, k++) {                                        \
                    VT b[S];                                                                      \
                    for (int s = 0; s < S; s++) memcpy(&b[s], row + kw + base[s], sizeof(VT));    \
                    for (int r = 0; r < R; r++) {                                                 \
                        VT av = SPLAT##W(wr[k * R + r]);                                          \
                        for (int s = 0; s < S; s++) c[r][s] = MAC(c[r][s], av, b[s]);             \
                    }                                                                             \
                }                                                                                 \
            }                                                                                     \
        for (int r = 0; r < R; r++)                                                               \
            for (int s = 0; s < S; s++) {                                                         \
                float *dst = a->y + (ptrdiff_t)(o0 + r) * plane + out[s];                         \
                if (lanes[s] == W) memcpy(dst, &c[r][s], sizeof(VT));                             \
                else copy_floats(dst, (const float *)&c[r][s], lanes[s]);                         \
            }                                                                                     \
    } while (0)

// Slots two at a time (ROWS × 2 accumulators, two vectors of B and a broadcast; three slots on
// AVX-512 measured slower), then one.
#define CONV_ROWS(VT, W, MAC, R)                                                                  \
    do {                                                                                          \
        int slot = 0;                                                                             \
        for (; slot + 2 <= slots; slot += 2) CONV_TILE(VT, W, MAC, R, 2);                         \
        if (slot < slots) CONV_TILE(VT, W, MAC, R, 1);                                            \
    } while (0)

// Output channels in tiles of ROWS, then 6 (when ROWS is 8), 4, 2 and 1 (the order pack_weights
// lays them out in).
#define CONV_BODY(VT, W, MAC, ROWS)                                                               \
    const int plane = a->OH * a->OW, slots = a->OH * a->per_line;                                 \
    int o0 = 0;                                                                                   \
    for (; o0 + ROWS <= a->O; o0 += ROWS) CONV_ROWS(VT, W, MAC, ROWS);                            \
    if (ROWS > 6 && a->O - o0 >= 6) { CONV_ROWS(VT, W, MAC, 6); o0 += 6; }                        \
    if (a->O - o0 >= 4) { CONV_ROWS(VT, W, MAC, 4); o0 += 4; }                                    \
    if (a->O - o0 >= 2) { CONV_ROWS(VT, W, MAC, 2); o0 += 2; }                                    \
    if (a->O - o0 >= 1) { CONV_ROWS(VT, W, MAC, 1); o0 += 1; }

typedef void (*conv_kernel)(const conv_args *a, int kernel);

static void conv_portable(const conv_args *a, int kernel) { CONV_BODY(v8, 8, MAC_FUSED, 6) }
#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void conv_avx2(const conv_args *a, int kernel) {
    CONV_BODY(v8, 8, MAC_FUSED, 6)
}
__attribute__((target("avx512f,fma"))) static void conv_avx512(const conv_args *a, int kernel) {
    CONV_BODY(v16, 16, MAC_FUSED, 8)
}
#endif

// The weights W [O, K] as CONV_BODY's tiles read them: each tile of R channels from o0 as one
// [K][R] block at packed + o0·K, so a tile's R broadcasts per tap are R adjacent floats. A copy
// changes no bit.
static void pack_weights(int O, int K, int rows, const float *w, float *packed) {
    int o0 = 0;
    while (o0 < O) {
        const int left = O - o0;
        const int R = left >= rows ? rows : left >= 6 && rows > 6 ? 6 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        for (int k = 0; k < K; k++)
            for (int r = 0; r < R; r++) packed[(ptrdiff_t)o0 * K + k * R + r] = w[(ptrdiff_t)(o0 + r) * K + k];
        o0 += R;
    }
}

// The widest slot any path uses: the padded image is followed by this many floats, so that a
// slot's full-width load never reads past it.
#define CONV_SLACK 16

static inline ptrdiff_t padded_floats(int channels, int height, int width, int padding) {
    return (ptrdiff_t)channels * (height + 2 * padding) * (width + 2 * padding) + CONV_SLACK;
}

static inline int round_up16(int n) { return (n + 15) / 16 * 16; }

ptrdiff_t fedsim_conv_direct_scratch(int channels, int height, int width, int kernel, int padding, int out_channels) {
    const int OH = height + 2 * padding - kernel + 1, OW = width + 2 * padding - kernel + 1;
    const ptrdiff_t plane = OH > 0 && OW > 0 ? (ptrdiff_t)OH * OW : 0;
    const ptrdiff_t transposed = (plane + (ptrdiff_t)channels * kernel * kernel) * round_up16(out_channels);
    return padded_floats(channels, height, width, padding) + transposed;
}

// Copies image `src` into the interior of `padded`, whose padding was zeroed before.
static void pad_image(int channels, int height, int width, int padding, const float *src, float *padded) {
    const int PH = height + 2 * padding, PW = width + 2 * padding;
    for (int c = 0; c < channels; c++)
        for (int h = 0; h < height; h++)
            copy_floats(padded + ((ptrdiff_t)c * PH + h + padding) * PW + padding,
                        src + ((ptrdiff_t)c * height + h) * width, width);
}

void fedsim_conv_direct_path(int path, int batch, int channels, int height, int width, int kernel, int padding,
                             int out_channels, const float *w, const float *bias, const float *x, float *y,
                             float *scratch) {
    const int PH = height + 2 * padding, PW = width + 2 * padding;
    const int OH = PH - kernel + 1, OW = PW - kernel + 1;
    if (batch <= 0 || out_channels <= 0 || OH <= 0 || OW <= 0) return;
    conv_kernel kernel_fn = conv_portable;
    const int lanes = fedsim_conv_lanes(path);
#if defined(__x86_64__)
    if (path >= 1 && fedsim_cpu_has_fma()) kernel_fn = conv_avx2;
    if (lanes == 16) kernel_fn = conv_avx512;
#endif
    // The padding and the slack are zeroed once; each image then overwrites only the interior.
    // The packed weights follow (O·K floats, within the room the weight gradient's buffers take).
    const int K = channels * kernel * kernel;
    memset(scratch, 0, sizeof(float) * (size_t)padded_floats(channels, height, width, padding));
    float *packed = scratch + padded_floats(channels, height, width, padding);
    pack_weights(out_channels, K, lanes == 16 ? 8 : 6, w, packed);
    conv_args a = {channels, PH, PW, K, out_channels, OH, OW, (OW + lanes - 1) / lanes, packed, bias, scratch, NULL};
    const ptrdiff_t image = (ptrdiff_t)channels * height * width, plane = (ptrdiff_t)OH * OW;
    for (int b = 0; b < batch; b++) {
        pad_image(channels, height, width, padding, x + b * image, scratch);
        a.y = y + b * out_channels * plane;
        kernel_fn(&a, kernel);
    }
}

void fedsim_conv_direct(int batch, int channels, int height, int width, int kernel, int padding, int out_channels,
                        const float *w, const float *bias, const float *x, float *y, float *scratch) {
    fedsim_conv_direct_path(fedsim_kernel_path(), batch, channels, height, width, kernel, padding, out_channels, w,
                            bias, x, y, scratch);
}

// MARK: - A stride-1 conv's weight gradient without patches

// dWᵀ[k, o] (+)= Σ_n patch(k, n) · dY[o, n] for one image, where patch(k, n) — tap k = (c, kh, kw)
// at output pixel n = (oh, ow) — is read from the padded image (padded[c, oh + kh, ow + kw]) and
// dY comes transposed, [N, OP] with OP a multiple of the vector width and zeros past O. A tile is R
// taps × S vectors of output channels; each element's fused multiply-adds run over the pixels in
// order, in blocks of whole output lines between which the partial sums are stored and reloaded exactly:
// the same bits as fedsim_gemm_fused over im2col's patches.
typedef struct {
    int C, PH, PW, kernel, K, OP, OW, N;
    const float *padded, *dyt;
    float *dwt;
    int accumulate;
} conv_dw_args;

#define DW_TILE(VT, W, MAC, R, S)                                                                 \
    do {                                                                                          \
        VT c[R][S];                                                                               \
        const float *tap[R];                                                                      \
        for (int r = 0; r < R; r++) {                                                             \
            const int k = k0 + r, ch = k / kk, kh = k % kk / a->kernel, kw = k % a->kernel;       \
            tap[r] = a->padded + ((ptrdiff_t)ch * a->PH + kh) * a->PW + kw;                       \
            for (int s = 0; s < S; s++) {                                                         \
                if (load) memcpy(&c[r][s], a->dwt + (ptrdiff_t)k * a->OP + o0 + s * W, sizeof(VT)); \
                else c[r][s] = (VT){0};                                                           \
            }                                                                                     \
        }                                                                                         \
        const float *g = a->dyt + (ptrdiff_t)line0 * a->OW * a->OP + o0;                          \
        for (int oh = line0; oh < line1; oh++) {                                                  \
            const ptrdiff_t at = (ptrdiff_t)oh * a->PW;                                           \
            for (int ow = 0; ow < a->OW; ow++, g += a->OP) {                                      \
                VT b[S];                                                                          \
                for (int s = 0; s < S; s++) memcpy(&b[s], g + s * W, sizeof(VT));                 \
                for (int r = 0; r < R; r++) {                                                     \
                    VT av = SPLAT##W(tap[r][at + ow]);                                            \
                    for (int s = 0; s < S; s++) c[r][s] = MAC(c[r][s], av, b[s]);                 \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
        for (int r = 0; r < R; r++)                                                               \
            for (int s = 0; s < S; s++)                                                           \
                memcpy(a->dwt + (ptrdiff_t)(k0 + r) * a->OP + o0 + s * W, &c[r][s], sizeof(VT));  \
    } while (0)

#define DW_ROWS(VT, W, MAC, R)                                                                    \
    do {                                                                                          \
        int o0 = 0;                                                                               \
        for (; o0 + 2 * W <= a->OP; o0 += 2 * W) DW_TILE(VT, W, MAC, R, 2);                       \
        if (o0 < a->OP) DW_TILE(VT, W, MAC, R, 1);                                                \
    } while (0)

#define DW_NB 256

// Output lines in blocks of about DW_NB pixels; within a block, taps in tiles of ROWS, then 6
// (when ROWS is 8), 4, 2 and 1.
#define DW_BODY(VT, W, MAC, ROWS)                                                                 \
    const int kk = a->kernel * a->kernel;                                                         \
    const int lines = a->OW >= DW_NB ? 1 : DW_NB / a->OW, OH = a->N / a->OW;                      \
    for (int line0 = 0; line0 < OH; line0 += lines) {                                             \
        const int line1 = OH - line0 < lines ? OH : line0 + lines;                                \
        const int load = a->accumulate || line0 > 0;                                              \
        int k0 = 0;                                                                               \
        for (; k0 + ROWS <= a->K; k0 += ROWS) DW_ROWS(VT, W, MAC, ROWS);                          \
        if (ROWS > 6 && a->K - k0 >= 6) { DW_ROWS(VT, W, MAC, 6); k0 += 6; }                      \
        if (a->K - k0 >= 4) { DW_ROWS(VT, W, MAC, 4); k0 += 4; }                                  \
        if (a->K - k0 >= 2) { DW_ROWS(VT, W, MAC, 2); k0 += 2; }                                  \
        if (a->K - k0 >= 1) { DW_ROWS(VT, W, MAC, 1); k0 += 1; }                                  \
    }

typedef void (*conv_dw_kernel)(const conv_dw_args *a);

static void conv_dw_portable(const conv_dw_args *a) { DW_BODY(v8, 8, MAC_FUSED, 6) }
#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void conv_dw_avx2(const conv_dw_args *a) { DW_BODY(v8, 8, MAC_FUSED, 6) }
__attribute__((target("avx512f,fma"))) static void conv_dw_avx512(const conv_dw_args *a) {
    DW_BODY(v16, 16, MAC_FUSED, 8)
}
#endif

int fedsim_conv_lanes(int path) {
#if defined(__x86_64__)
    if (path == 2 && fedsim_cpu_has_avx512()) return 16;
#endif
    (void)path;
    return 8;
}

void fedsim_conv_weight_grad_direct_path(int path, int batch, int channels, int height, int width, int kernel,
                                         int padding, int out_channels, const float *x, const float *dy, float *dw,
                                         float *scratch) {
    const int PH = height + 2 * padding, PW = width + 2 * padding;
    const int OH = PH - kernel + 1, OW = PW - kernel + 1, K = channels * kernel * kernel;
    if (out_channels <= 0 || OH <= 0 || OW <= 0) return;
    if (batch <= 0) {
        memset(dw, 0, sizeof(float) * (size_t)out_channels * (size_t)K);
        return;
    }
    conv_dw_kernel kernel_fn = conv_dw_portable;
#if defined(__x86_64__)
    if (path >= 1 && fedsim_cpu_has_fma()) kernel_fn = conv_dw_avx2;
    if (fedsim_conv_lanes(path) == 16) kernel_fn = conv_dw_avx512;
#endif
    const int N = OH * OW, OP = round_up16(out_channels);
    float *padded = scratch;
    float *dyt = padded + padded_floats(channels, height, width, padding);
    float *dwt = dyt + (ptrdiff_t)N * OP;
    memset(padded, 0, sizeof(float) * (size_t)padded_floats(channels, height, width, padding));
    memset(dyt, 0, sizeof(float) * (size_t)N * (size_t)OP);  // the columns past O stay zero
    conv_dw_args a = {channels, PH, PW, kernel, K, OP, OW, N, padded, dyt, dwt, 0};
    const ptrdiff_t image = (ptrdiff_t)channels * height * width;
    for (int b = 0; b < batch; b++) {
        pad_image(channels, height, width, padding, x + b * image, padded);
        fedsim_transpose(out_channels, N, dy + (ptrdiff_t)b * out_channels * N, N, dyt, OP);
        a.accumulate = b > 0;
        kernel_fn(&a);
    }
    fedsim_transpose(K, out_channels, dwt, OP, dw, K);
}

void fedsim_conv_weight_grad_direct(int batch, int channels, int height, int width, int kernel, int padding,
                                    int out_channels, const float *x, const float *dy, float *dw, float *scratch) {
    fedsim_conv_weight_grad_direct_path(fedsim_kernel_path(), batch, channels, height, width, kernel, padding,
                                        out_channels, x, dy, dw, scratch);
}

int fedsim_cpu_has_avx(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") ? 1 : 0;
#else
    return 0;
#endif
}

int fedsim_cpu_has_fma(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
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

typedef void (*gemm_kernel)(KERNEL_ARGS);

// Each thread's block of packed B (KC × NC floats, 256 KB), allocated on first use and freed when
// the thread ends; NULL (and B read in place) if it cannot be had.
static pthread_key_t pack_key;
static pthread_once_t pack_once = PTHREAD_ONCE_INIT;
static void make_pack_key(void) { pthread_key_create(&pack_key, free); }

static float *pack_buffer(void) {
    pthread_once(&pack_once, make_pack_key);
    float *buffer = pthread_getspecific(pack_key);
    if (!buffer) {
        buffer = aligned_alloc(64, sizeof(float) * KC * NC);
        if (buffer && pthread_setspecific(pack_key, buffer) != 0) {
            free(buffer);
            buffer = NULL;
        }
    }
    return buffer;
}

// Runs `kernel` over cache blocks: a KC × NC panel of B at a time, every block after the first
// in k accumulating onto the partial sums before it. B is packed when at least two tiles of rows
// read it (below that the copy costs more than it saves).
static void blocked(gemm_kernel kernel, int M, int N, int K, const float *A, ptrdiff_t a_row_stride,
                    ptrdiff_t a_col_stride, const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        kernel(M, N, 0, A, a_row_stride, a_col_stride, B, ldb, C, ldc, accumulate, NULL);
        return;
    }
    float *packed = M >= 12 ? pack_buffer() : NULL;
    for (int n0 = 0; n0 < N; n0 += NC) {
        int nc = N - n0 < NC ? N - n0 : NC;
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            kernel(M, nc, kc, A + (ptrdiff_t)k0 * a_col_stride, a_row_stride, a_col_stride,
                   B + (ptrdiff_t)k0 * ldb + n0, ldb, C + n0, ldc, k0 == 0 ? accumulate : 1, packed);
        }
    }
}

void fedsim_gemm_path(int path, int M, int N, int K, const float *A, ptrdiff_t a_row_stride, ptrdiff_t a_col_stride,
                      const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate) {
    gemm_kernel kernel = gemm_portable;
#if defined(__x86_64__)
    if (path == 1 && fedsim_cpu_has_avx()) kernel = gemm_avx;
    if (path == 2 && fedsim_cpu_has_avx512()) kernel = gemm_avx512;
#endif
    blocked(kernel, M, N, K, A, a_row_stride, a_col_stride, B, ldb, C, ldc, accumulate);
}

void fedsim_gemm_fused_path(int path, int M, int N, int K, const float *A, ptrdiff_t a_row_stride,
                            ptrdiff_t a_col_stride, const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc,
                            int accumulate) {
    gemm_kernel kernel = fused_portable;
#if defined(__x86_64__)
    if (path >= 1 && fedsim_cpu_has_fma()) kernel = fused_avx2;
    if (path == 2 && fedsim_cpu_has_avx512()) kernel = fused_avx512;
#endif
    blocked(kernel, M, N, K, A, a_row_stride, a_col_stride, B, ldb, C, ldc, accumulate);
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

void fedsim_gemm_fused(int M, int N, int K, const float *A, ptrdiff_t a_row_stride, ptrdiff_t a_col_stride,
                       const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, int accumulate) {
    fedsim_gemm_fused_path(fedsim_kernel_path(), M, N, K, A, a_row_stride, a_col_stride, B, ldb, C, ldc, accumulate);
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
