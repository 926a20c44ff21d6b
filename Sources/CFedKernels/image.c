#include "FedKernels.h"

#include <math.h>
#include <string.h>

// Build flags (Package.swift): -O3 -ffp-contract=off, so no sum here is fused or reordered.

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
                            memset(row, 0, sizeof(float) * (size_t)kernel);
                            row += kernel;
                            continue;
                        }
                        const float *line = image + (ptrdiff_t)ih * width;
                        int iw0 = ow * stride - padding;
                        if (iw0 >= 0 && iw0 + kernel <= width) {
                            memcpy(row, line + iw0, sizeof(float) * (size_t)kernel);
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
                        for (int kw = 0; kw < kernel; kw++) {
                            int iw = iw0 + kw;
                            if (iw >= 0 && iw < width) line[iw] += row[kw];
                        }
                        row += kernel;
                    }
                }
            }
        }
    }
}

void fedsim_maxpool(int planes, int height, int width, int kernel, int stride, int out_height, int out_width,
                    const float *x, float *y, int *argmax) {
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
