#include "FedKernels.h"

#include <math.h>
#include <string.h>

#include "short_runs.h"

// Build flags (Package.swift): -O3 -ffp-contract=off, so no sum here is fused or reordered.

// The output columns ow whose tap kw falls inside a row of `width` pixels: lo ..< hi (and, called
// with the heights, the output rows whose tap kh falls inside the image).
static inline void tap_range(int width, int kernel_tap, int stride, int padding, int out_width, int *lo, int *hi) {
    const int before = padding - kernel_tap;  // ow·stride must reach this to be inside
    int first = before <= 0 ? 0 : (before + stride - 1) / stride;
    const int last_reach = width - 1 + padding - kernel_tap;
    int end = last_reach < 0 ? 0 : last_reach / stride + 1;
    if (end > out_width) end = out_width;
    if (first > end) first = end;
    *lo = first;
    *hi = end;
}

// A "same" conv (stride 1, as wide out as in): a tap's output lines are its input lines shifted
// by a constant, so the lines it sees are one contiguous run of the image, from (first line, lo)
// to (last line, hi). The few entries in between that fall in the padding — the columns before
// lo and from hi on, of every line — are the ones the run gets wrong, and they are set apart.
static inline int is_same_conv(int width, int stride, int out_width) { return stride == 1 && out_width == width; }

void fedsim_im2col_planes(int channels, int height, int width, int kernel, int stride, int padding, int out_height,
                          int out_width, const float *restrict x, float *restrict cols) {
    const ptrdiff_t plane = (ptrdiff_t)out_height * out_width;
    float *row = cols;
    const int same = is_same_conv(width, stride, out_width);
    for (int c = 0; c < channels; c++) {
        const float *image = x + (ptrdiff_t)c * height * width;
        for (int kh = 0; kh < kernel; kh++) {
            int first, end;
            tap_range(height, kh, stride, padding, out_height, &first, &end);  // the same rule for rows
            for (int kw = 0; kw < kernel; kw++, row += plane) {
                int lo, hi;
                tap_range(width, kw, stride, padding, out_width, &lo, &hi);
                if (same) {
                    // Lines in the padding are zeros; the valid lines are one copy of the run,
                    // then their columns in the padding are set to zero.
                    zero_floats(row, (ptrdiff_t)first * out_width);
                    zero_floats(row + (ptrdiff_t)end * out_width, (ptrdiff_t)(out_height - end) * out_width);
                    if (first >= end || lo >= hi) {
                        zero_floats(row + (ptrdiff_t)first * out_width, (ptrdiff_t)(end - first) * out_width);
                        continue;
                    }
                    const ptrdiff_t start = (ptrdiff_t)first * out_width + lo;
                    const ptrdiff_t count = (ptrdiff_t)(end - 1 - first) * out_width + (hi - lo);
                    memcpy(row + start, image + (ptrdiff_t)(first - padding + kh) * width + lo - padding + kw,
                           sizeof(float) * (size_t)count);
                    for (int oh = first; oh < end; oh++) {
                        float *out = row + (ptrdiff_t)oh * out_width;
                        zero_floats(out, lo);
                        zero_floats(out + hi, out_width - hi);
                    }
                    continue;
                }
                for (int oh = 0; oh < out_height; oh++) {
                    float *out = row + (ptrdiff_t)oh * out_width;
                    const int ih = oh * stride - padding + kh;
                    if (ih < 0 || ih >= height) {
                        zero_floats(out, out_width);
                        continue;
                    }
                    const float *line = image + (ptrdiff_t)ih * width - padding + kw;
                    zero_floats(out, lo);
                    if (stride == 1) {
                        copy_floats(out + lo, line + lo, hi - lo);
                    } else {
                        for (int ow = lo; ow < hi; ow++) out[ow] = line[ow * stride];
                    }
                    zero_floats(out + hi, out_width - hi);
                }
            }
        }
    }
}

void fedsim_col2im_planes(int channels, int height, int width, int kernel, int stride, int padding, int out_height,
                          int out_width, float *restrict cols, float *restrict dx) {
    const ptrdiff_t plane = (ptrdiff_t)out_height * out_width;
    memset(dx, 0, sizeof(float) * (size_t)channels * (size_t)height * (size_t)width);
    float *row = cols;
    const int same = is_same_conv(width, stride, out_width);
    for (int c = 0; c < channels; c++) {
        float *image = dx + (ptrdiff_t)c * height * width;
        for (int kh = 0; kh < kernel; kh++) {
            int first, end;
            tap_range(height, kh, stride, padding, out_height, &first, &end);  // the same rule for rows
            for (int kw = 0; kw < kernel; kw++, row += plane) {
                int lo, hi;
                tap_range(width, kw, stride, padding, out_width, &lo, &hi);
                if (same) {
                    // The entries in the padding columns become zeros, then the whole run is
                    // added: each pixel gets the same value as below, or +0 (which changes no
                    // sum: one that starts at +0 is never −0).
                    if (first >= end || lo >= hi) continue;
                    for (int oh = first; oh < end; oh++) {
                        float *in = row + (ptrdiff_t)oh * out_width;
                        zero_floats(in, lo);
                        zero_floats(in + hi, out_width - hi);
                    }
                    const ptrdiff_t start = (ptrdiff_t)first * out_width + lo;
                    const ptrdiff_t count = (ptrdiff_t)(end - 1 - first) * out_width + (hi - lo);
                    const float *in = row + start;
                    float *target = image + (ptrdiff_t)(first - padding + kh) * width + lo - padding + kw;
                    for (ptrdiff_t i = 0; i < count; i++) target[i] += in[i];
                    continue;
                }
                for (int oh = 0; oh < out_height; oh++) {
                    const int ih = oh * stride - padding + kh;
                    if (ih < 0 || ih >= height) continue;
                    const float *in = row + (ptrdiff_t)oh * out_width;
                    float *line = image + (ptrdiff_t)ih * width - padding + kw;
                    if (stride == 1) {
                        for (int ow = lo; ow < hi; ow++) line[ow] += in[ow];
                    } else {
                        for (int ow = lo; ow < hi; ow++) line[ow * stride] += in[ow];
                    }
                }
            }
        }
    }
}

void fedsim_relu(ptrdiff_t count, const float *restrict x, float *restrict y) {
    for (ptrdiff_t i = 0; i < count; i++) y[i] = 0.0f >= x[i] ? 0.0f : x[i];
}

void fedsim_relu_backward(ptrdiff_t count, const float *restrict y, const float *restrict dy, float *restrict dx) {
    // dy is loaded whatever the test says, so that the loop is a select the compiler vectorizes.
    for (ptrdiff_t i = 0; i < count; i++) {
        const float d = dy[i];
        dx[i] = y[i] <= 0.0f ? 0.0f : d;
    }
}

typedef float lanes8 __attribute__((vector_size(32), aligned(4)));

void fedsim_plane_sums(int batch, int channels, int plane, const float *x, float *sums) {
    for (int c = 0; c < channels; c++) {
        lanes8 acc = {0};
        for (int b = 0; b < batch; b++) {
            const float *row = x + ((ptrdiff_t)b * channels + c) * plane;
            int i = 0;
            for (; i + 8 <= plane; i += 8) {
                lanes8 v;
                memcpy(&v, row + i, sizeof v);
                acc = acc + v;
            }
            if (i < plane) {
                lanes8 v = {0};
                memcpy(&v, row + i, sizeof(float) * (size_t)(plane - i));
                acc = acc + v;
            }
        }
        sums[c] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    }
}

// The 2×2, stride-2 window every preset uses, unrolled: the same comparisons in the same order
// (row by row, the first maximum wins, NaN propagates) as the general loop below. Branch-free:
// the first value is taken as it is (a start of −∞ would take it too, or keep −∞ with the same
// offset), then each later one wins if greater or NaN. Comparisons and selects are exact, so the
// vector paths give the same results as the scalar loop on any CPU.
typedef float pool_f8 __attribute__((vector_size(32), aligned(4)));
typedef int pool_i8 __attribute__((vector_size(32), aligned(4)));
typedef float pool_f4 __attribute__((vector_size(16), aligned(4)));
typedef int pool_i4 __attribute__((vector_size(16), aligned(4)));

// Lanes ow .. ow + W − 1 of one output line: the even and odd pixels of the two input lines
// (loaded as 2W floats each and split), then the three contests.
#define POOL2_VECTOR(FT, IT, W, EVEN, ODD)                                                        \
    do {                                                                                          \
        FT a0, a1, b0, b1;                                                                        \
        memcpy(&a0, r0 + 2 * ow, sizeof(FT));                                                     \
        memcpy(&a1, r0 + 2 * ow + W, sizeof(FT));                                                 \
        memcpy(&b0, r1 + 2 * ow, sizeof(FT));                                                     \
        memcpy(&b1, r1 + 2 * ow + W, sizeof(FT));                                                 \
        const FT v0 = __builtin_shufflevector(a0, a1, EVEN), v1 = __builtin_shufflevector(a0, a1, ODD); \
        const FT v2 = __builtin_shufflevector(b0, b1, EVEN), v3 = __builtin_shufflevector(b0, b1, ODD); \
        const IT first = (IT){0} + (top + 2 * ow) + 2 * IOTA##W;                                  \
        IT where = first;                                                                         \
        FT best = v0;                                                                             \
        IT take = (v1 > best) | (v1 != v1);                                                       \
        best = (FT)(((IT)v1 & take) | ((IT)best & ~take));                                        \
        where = ((first + 1) & take) | (where & ~take);                                           \
        take = (v2 > best) | (v2 != v2);                                                          \
        best = (FT)(((IT)v2 & take) | ((IT)best & ~take));                                        \
        where = ((first + width) & take) | (where & ~take);                                       \
        take = (v3 > best) | (v3 != v3);                                                          \
        best = (FT)(((IT)v3 & take) | ((IT)best & ~take));                                        \
        where = ((first + width + 1) & take) | (where & ~take);                                   \
        memcpy(y + ow, &best, sizeof(FT));                                                        \
        memcpy(argmax + ow, &where, sizeof(IT));                                                  \
    } while (0)
#define IOTA8 ((pool_i8){0, 1, 2, 3, 4, 5, 6, 7})
#define IOTA4 ((pool_i4){0, 1, 2, 3})
#define EVEN8 0, 2, 4, 6, 8, 10, 12, 14
#define ODD8 1, 3, 5, 7, 9, 11, 13, 15
#define EVEN4 0, 2, 4, 6
#define ODD4 1, 3, 5, 7

#define POOL2_BODY                                                                                \
    for (int p = 0; p < planes; p++) {                                                            \
        const float *image = x + (ptrdiff_t)p * height * width;                                   \
        for (int oh = 0; oh < out_height; oh++) {                                                 \
            const int top = 2 * oh * width;                                                       \
            const float *r0 = image + top, *r1 = image + top + width;                             \
            int ow = 0;                                                                           \
            for (; ow + 8 <= out_width; ow += 8) POOL2_VECTOR(pool_f8, pool_i8, 8, EVEN8, ODD8);   \
            for (; ow + 4 <= out_width; ow += 4) POOL2_VECTOR(pool_f4, pool_i4, 4, EVEN4, ODD4);   \
            for (; ow < out_width; ow++) {                                                        \
                float best = r0[2 * ow];                                                          \
                int where = top + 2 * ow;                                                         \
                const float v1 = r0[2 * ow + 1], v2 = r1[2 * ow], v3 = r1[2 * ow + 1];            \
                int take = v1 > best || v1 != v1;                                                 \
                best = take ? v1 : best;                                                          \
                where = take ? top + 2 * ow + 1 : where;                                          \
                take = v2 > best || v2 != v2;                                                     \
                best = take ? v2 : best;                                                          \
                where = take ? top + width + 2 * ow : where;                                      \
                take = v3 > best || v3 != v3;                                                     \
                best = take ? v3 : best;                                                          \
                where = take ? top + width + 2 * ow + 1 : where;                                  \
                y[ow] = best;                                                                     \
                argmax[ow] = where;                                                               \
            }                                                                                     \
            y += out_width;                                                                       \
            argmax += out_width;                                                                  \
        }                                                                                         \
    }

#define POOL2_ARGS                                                                                \
    int planes, int height, int width, int out_height, int out_width, const float *restrict x, float *restrict y, \
        int *restrict argmax

static void maxpool2_portable(POOL2_ARGS) { POOL2_BODY }
#if defined(__x86_64__)
__attribute__((target("avx2"))) static void maxpool2_avx2(POOL2_ARGS) { POOL2_BODY }
#endif

void fedsim_maxpool(int planes, int height, int width, int kernel, int stride, int out_height, int out_width,
                    const float *x, float *y, int *argmax) {
    fedsim_maxpool_path(fedsim_kernel_path(), planes, height, width, kernel, stride, out_height, out_width, x, y,
                        argmax);
}

void fedsim_maxpool_path(int path, int planes, int height, int width, int kernel, int stride, int out_height,
                         int out_width, const float *x, float *y, int *argmax) {
    if (kernel == 2 && stride == 2) {
#if defined(__x86_64__)
        if (path >= 1 && fedsim_cpu_has_fma()) {
            maxpool2_avx2(planes, height, width, out_height, out_width, x, y, argmax);
            return;
        }
#endif
        maxpool2_portable(planes, height, width, out_height, out_width, x, y, argmax);
        return;
    }
    for (int p = 0; p < planes; p++) {
        const float *image = x + (ptrdiff_t)p * height * width;
        for (int oh = 0; oh < out_height; oh++) {
            for (int ow = 0; ow < out_width; ow++) {
                int ih0 = oh * stride, iw0 = ow * stride;
                float best = -INFINITY;
                int where = ih0 * width + iw0;
                for (int kh = 0; kh < kernel; kh++) {
                    for (int kw = 0; kw < kernel; kw++) {
                        int at = (ih0 + kh) * width + iw0 + kw;
                        float v = image[at];
                        if (v > best || isnan(v)) {
                            best = v;
                            where = at;
                        }
                    }
                }
                *y++ = best;
                *argmax++ = where;
            }
        }
    }
}

void fedsim_maxpool_backward(int planes, int height, int width, int out_height, int out_width,
                             const float *dy, const int *argmax, float *dx) {
    const ptrdiff_t plane = (ptrdiff_t)height * width;
    memset(dx, 0, sizeof(float) * (size_t)planes * (size_t)plane);
    for (int p = 0; p < planes; p++) {
        float *image = dx + p * plane;
        for (int o = 0; o < out_height * out_width; o++) image[*argmax++] += *dy++;
    }
}

void fedsim_avgpool(int planes, int height, int width, int kernel, int stride, int out_height, int out_width,
                    const float *x, float *y) {
    const float area = (float)(kernel * kernel);
    for (int p = 0; p < planes; p++) {
        const float *image = x + (ptrdiff_t)p * height * width;
        for (int oh = 0; oh < out_height; oh++) {
            for (int ow = 0; ow < out_width; ow++) {
                float sum = 0.0f;
                for (int kh = 0; kh < kernel; kh++) {
                    const float *line = image + (ptrdiff_t)(oh * stride + kh) * width + ow * stride;
                    for (int kw = 0; kw < kernel; kw++) sum += line[kw];
                }
                *y++ = sum / area;
            }
        }
    }
}

void fedsim_avgpool_backward(int planes, int height, int width, int kernel, int stride, int out_height,
                             int out_width, const float *dy, float *dx) {
    const ptrdiff_t plane = (ptrdiff_t)height * width;
    const float area = (float)(kernel * kernel);
    memset(dx, 0, sizeof(float) * (size_t)planes * (size_t)plane);
    for (int p = 0; p < planes; p++) {
        float *image = dx + p * plane;
        for (int oh = 0; oh < out_height; oh++) {
            for (int ow = 0; ow < out_width; ow++) {
                float share = *dy++ / area;
                for (int kh = 0; kh < kernel; kh++) {
                    float *line = image + (ptrdiff_t)(oh * stride + kh) * width + ow * stride;
                    for (int kw = 0; kw < kernel; kw++) line[kw] += share;
                }
            }
        }
    }
}

void fedsim_group_norm(int batch, int channels, int plane, int groups, float eps, const float *x, const float *gamma,
                       const float *beta, float *y, float *mean, float *rstd) {
    const int per_group = channels / groups;
    const ptrdiff_t count = (ptrdiff_t)per_group * plane;
    for (int n = 0; n < batch; n++) {
        for (int g = 0; g < groups; g++) {
            const ptrdiff_t start = ((ptrdiff_t)n * channels + (ptrdiff_t)g * per_group) * plane;
            const float *xg = x + start;
            double sum = 0;
            for (ptrdiff_t i = 0; i < count; i++) sum += xg[i];
            const double m = sum / (double)count;
            double squares = 0;
            for (ptrdiff_t i = 0; i < count; i++) {
                double d = xg[i] - m;
                squares += d * d;
            }
            const float r = (float)(1.0 / sqrt(squares / (double)count + (double)eps));
            const float mf = (float)m;
            mean[n * groups + g] = mf;
            rstd[n * groups + g] = r;
            for (int c = 0; c < per_group; c++) {
                const int channel = g * per_group + c;
                const float *xc = xg + (ptrdiff_t)c * plane;
                float *yc = y + start + (ptrdiff_t)c * plane;
                for (int i = 0; i < plane; i++) yc[i] = (xc[i] - mf) * r * gamma[channel] + beta[channel];
            }
        }
    }
}

void fedsim_group_norm_backward(int batch, int channels, int plane, int groups, const float *x, const float *gamma,
                                const float *mean, const float *rstd, const float *dy, float *dx, float *dgamma,
                                float *dbeta) {
    const int per_group = channels / groups;
    const ptrdiff_t count = (ptrdiff_t)per_group * plane;
    for (int c = 0; c < channels; c++) {
        dgamma[c] = 0;
        dbeta[c] = 0;
    }
    for (int n = 0; n < batch; n++) {
        for (int g = 0; g < groups; g++) {
            const ptrdiff_t start = ((ptrdiff_t)n * channels + (ptrdiff_t)g * per_group) * plane;
            const float m = mean[n * groups + g], r = rstd[n * groups + g];
            // Σ dxhat and Σ dxhat·xhat over the group, dxhat = dy·gamma.
            double sum_d = 0, sum_dx = 0;
            for (int c = 0; c < per_group; c++) {
                const int channel = g * per_group + c;
                const float *xc = x + start + (ptrdiff_t)c * plane;
                const float *dyc = dy + start + (ptrdiff_t)c * plane;
                double dg = 0, db = 0;
                for (int i = 0; i < plane; i++) {
                    const float xhat = (xc[i] - m) * r;
                    const float d = dyc[i] * gamma[channel];
                    dg += (double)dyc[i] * xhat;
                    db += dyc[i];
                    sum_d += d;
                    sum_dx += (double)d * xhat;
                }
                dgamma[channel] += (float)dg;
                dbeta[channel] += (float)db;
            }
            if (!dx) continue;
            const float mean_d = (float)(sum_d / (double)count), mean_dx = (float)(sum_dx / (double)count);
            for (int c = 0; c < per_group; c++) {
                const int channel = g * per_group + c;
                const float *xc = x + start + (ptrdiff_t)c * plane;
                const float *dyc = dy + start + (ptrdiff_t)c * plane;
                float *dxc = dx + start + (ptrdiff_t)c * plane;
                for (int i = 0; i < plane; i++) {
                    const float xhat = (xc[i] - m) * r;
                    dxc[i] = r * (dyc[i] * gamma[channel] - mean_d - xhat * mean_dx);
                }
            }
        }
    }
}

void fedsim_batch_norm_train(int batch, int channels, int plane, float eps, const float *x, const float *gamma,
                             const float *beta, float *y, float *mean, float *invstd, float *unbiased_var) {
    const ptrdiff_t count = (ptrdiff_t)batch * plane;
    for (int c = 0; c < channels; c++) {
        double sum = 0;
        for (int n = 0; n < batch; n++) {
            const float *xc = x + ((ptrdiff_t)n * channels + c) * plane;
            for (int i = 0; i < plane; i++) sum += xc[i];
        }
        const double m = sum / (double)count;
        double squares = 0;
        for (int n = 0; n < batch; n++) {
            const float *xc = x + ((ptrdiff_t)n * channels + c) * plane;
            for (int i = 0; i < plane; i++) {
                double d = xc[i] - m;
                squares += d * d;
            }
        }
        const float r = (float)(1.0 / sqrt(squares / (double)count + (double)eps));
        const float mf = (float)m;
        mean[c] = mf;
        invstd[c] = r;
        unbiased_var[c] = (float)(count > 1 ? squares / (double)(count - 1) : squares);
        for (int n = 0; n < batch; n++) {
            const float *xc = x + ((ptrdiff_t)n * channels + c) * plane;
            float *yc = y + ((ptrdiff_t)n * channels + c) * plane;
            for (int i = 0; i < plane; i++) yc[i] = (xc[i] - mf) * r * gamma[c] + beta[c];
        }
    }
}

void fedsim_batch_norm_eval(int batch, int channels, int plane, float eps, const float *x, const float *gamma,
                            const float *beta, const float *running_mean, const float *running_var, float *y) {
    for (int c = 0; c < channels; c++) {
        const float r = (float)(1.0 / sqrt((double)running_var[c] + (double)eps));
        for (int n = 0; n < batch; n++) {
            const float *xc = x + ((ptrdiff_t)n * channels + c) * plane;
            float *yc = y + ((ptrdiff_t)n * channels + c) * plane;
            for (int i = 0; i < plane; i++) yc[i] = (xc[i] - running_mean[c]) * r * gamma[c] + beta[c];
        }
    }
}

void fedsim_batch_norm_backward(int batch, int channels, int plane, const float *x, const float *gamma,
                                const float *mean, const float *invstd, const float *dy, float *dx, float *dgamma,
                                float *dbeta) {
    const ptrdiff_t count = (ptrdiff_t)batch * plane;
    for (int c = 0; c < channels; c++) {
        const float m = mean[c], r = invstd[c];
        double sum_dy = 0, sum_dy_xhat = 0;
        for (int n = 0; n < batch; n++) {
            const float *xc = x + ((ptrdiff_t)n * channels + c) * plane;
            const float *dyc = dy + ((ptrdiff_t)n * channels + c) * plane;
            for (int i = 0; i < plane; i++) {
                sum_dy += dyc[i];
                sum_dy_xhat += (double)dyc[i] * ((xc[i] - m) * r);
            }
        }
        dgamma[c] = (float)sum_dy_xhat;
        dbeta[c] = (float)sum_dy;
        if (!dx) continue;
        const float mean_dy = (float)(sum_dy / (double)count), mean_dy_xhat = (float)(sum_dy_xhat / (double)count);
        for (int n = 0; n < batch; n++) {
            const float *xc = x + ((ptrdiff_t)n * channels + c) * plane;
            const float *dyc = dy + ((ptrdiff_t)n * channels + c) * plane;
            float *dxc = dx + ((ptrdiff_t)n * channels + c) * plane;
            for (int i = 0; i < plane; i++) {
                const float xhat = (xc[i] - m) * r;
                dxc[i] = gamma[c] * r * (dyc[i] - mean_dy - xhat * mean_dy_xhat);
            }
        }
    }
}
