#include "FedKernels.h"

#include <math.h>
#include <string.h>

// Build flags (Package.swift): -O3 -ffp-contract=off, so no sum here is fused or reordered.

// A kernel row of `n` floats: 3 and 5 (every preset) as fixed-size copies the compiler inlines,
// instead of a call to memcpy or memset for 12 or 20 bytes.
static inline void copy_row(float *dst, const float *src, int n) {
    if (n == 5) __builtin_memcpy(dst, src, 5 * sizeof(float));
    else if (n == 3) __builtin_memcpy(dst, src, 3 * sizeof(float));
    else memcpy(dst, src, sizeof(float) * (size_t)n);
}

static inline void zero_row(float *dst, int n) {
    if (n == 5) __builtin_memset(dst, 0, 5 * sizeof(float));
    else if (n == 3) __builtin_memset(dst, 0, 3 * sizeof(float));
    else memset(dst, 0, sizeof(float) * (size_t)n);
}

void fedsim_im2col(int batch, int channels, int height, int width, int kernel, int stride, int padding,
                   int out_height, int out_width, const float *x, float *cols) {
    const ptrdiff_t plane = (ptrdiff_t)height * width;
    float *row = cols;
    for (int b = 0; b < batch; b++) {
        const float *sample = x + (ptrdiff_t)b * channels * plane;
        for (int oh = 0; oh < out_height; oh++) {
            for (int ow = 0; ow < out_width; ow++) {
                for (int c = 0; c < channels; c++) {
                    const float *image = sample + c * plane;
                    for (int kh = 0; kh < kernel; kh++) {
                        int ih = oh * stride - padding + kh;
                        if (ih < 0 || ih >= height) {
                            zero_row(row, kernel);
                            row += kernel;
                            continue;
                        }
                        const float *line = image + (ptrdiff_t)ih * width;
                        int iw0 = ow * stride - padding;
                        if (iw0 >= 0 && iw0 + kernel <= width) {
                            copy_row(row, line + iw0, kernel);
                            row += kernel;
                            continue;
                        }
                        for (int kw = 0; kw < kernel; kw++) {
                            int iw = iw0 + kw;
                            *row++ = (iw >= 0 && iw < width) ? line[iw] : 0.0f;
                        }
                    }
                }
            }
        }
    }
}

void fedsim_col2im(int batch, int channels, int height, int width, int kernel, int stride, int padding,
                   int out_height, int out_width, const float *cols, float *dx) {
    const ptrdiff_t plane = (ptrdiff_t)height * width;
    memset(dx, 0, sizeof(float) * (size_t)batch * (size_t)channels * (size_t)plane);
    const float *row = cols;
    for (int b = 0; b < batch; b++) {
        float *sample = dx + (ptrdiff_t)b * channels * plane;
        for (int oh = 0; oh < out_height; oh++) {
            for (int ow = 0; ow < out_width; ow++) {
                for (int c = 0; c < channels; c++) {
                    float *image = sample + c * plane;
                    for (int kh = 0; kh < kernel; kh++) {
                        int ih = oh * stride - padding + kh;
                        if (ih < 0 || ih >= height) {
                            row += kernel;
                            continue;
                        }
                        float *line = image + (ptrdiff_t)ih * width;
                        int iw0 = ow * stride - padding;
                        if (iw0 >= 0 && iw0 + kernel <= width) {
                            // Inside the image: the same adds in the same order, without the checks.
                            float *target = line + iw0;
                            for (int kw = 0; kw < kernel; kw++) target[kw] += row[kw];
                        } else {
                            for (int kw = 0; kw < kernel; kw++) {
                                int iw = iw0 + kw;
                                if (iw >= 0 && iw < width) line[iw] += row[kw];
                            }
                        }
                        row += kernel;
                    }
                }
            }
        }
    }
}

// The 2×2, stride-2 window every preset uses, unrolled: the same comparisons in the same order
// (row by row, the first maximum wins, NaN propagates) as the general loop below.
static void maxpool2(int planes, int height, int width, int out_height, int out_width, const float *x, float *y,
                     int *argmax) {
    for (int p = 0; p < planes; p++) {
        const float *image = x + (ptrdiff_t)p * height * width;
        for (int oh = 0; oh < out_height; oh++) {
            const int top = 2 * oh * width;
            for (int ow = 0; ow < out_width; ow++) {
                const int at[4] = {top + 2 * ow, top + 2 * ow + 1, top + width + 2 * ow, top + width + 2 * ow + 1};
                float best = -INFINITY;
                int where = at[0];
                for (int i = 0; i < 4; i++) {
                    const float v = image[at[i]];
                    if (v > best || isnan(v)) {
                        best = v;
                        where = at[i];
                    }
                }
                *y++ = best;
                *argmax++ = where;
            }
        }
    }
}

void fedsim_maxpool(int planes, int height, int width, int kernel, int stride, int out_height, int out_width,
                    const float *x, float *y, int *argmax) {
    if (kernel == 2 && stride == 2) {
        maxpool2(planes, height, width, out_height, out_width, x, y, argmax);
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
