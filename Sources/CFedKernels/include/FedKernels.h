#ifndef FEDSIM_KERNELS_H
#define FEDSIM_KERNELS_H

#include <stddef.h>

/// FedSim's own matrix product, written so that every machine computes the same bits.
///
///     C[m, n] = (accumulate ? C[m, n] : 0) + Σ_{k = 0 ..< K} A(m, k) · B[k, n]
///
/// where A(m, k) = A[m·a_row_stride + k·a_col_stride] (so the same call does A·B and Aᵀ·B) and
/// B and C are row-major with leading dimensions ldb and ldc. Each element's sum runs in
/// increasing k, one rounded multiply and one rounded add per term (never a fused multiply-add),
/// so the vectorized paths (SSE2 and AVX) and the scalar path give identical results: the
/// vectors run across n, never across k. That is what lets processes on different CPUs — and
/// a cluster of mixed machines — agree to the bit, which no BLAS kernel selection guarantees.
void fedsim_gemm(int M, int N, int K,
                 const float *A, ptrdiff_t a_row_stride, ptrdiff_t a_col_stride,
                 const float *B, ptrdiff_t ldb,
                 float *C, ptrdiff_t ldc, int accumulate);

/// The same product on a chosen path, for tests that prove the paths agree:
/// 0 = portable (SSE2 on x86-64), 1 = AVX (only where fedsim_cpu_has_avx() is 1),
/// 2 = AVX-512 (only where fedsim_cpu_has_avx512() is 1); otherwise the portable path runs.
void fedsim_gemm_path(int path, int M, int N, int K,
                      const float *A, ptrdiff_t a_row_stride, ptrdiff_t a_col_stride,
                      const float *B, ptrdiff_t ldb,
                      float *C, ptrdiff_t ldc, int accumulate);

/// The same product with each step a fused multiply-add, rounded once:
///
///     C[m, n] = fma(A(m, K−1), B[K−1, n], ... fma(A(m, 0), B[0, n], C₀[m, n]))
///
/// Networks with a conv layer use it for every product (the all-dense networks keep fedsim_gemm,
/// whose results their pinned hashes hold). FMA is an exact IEEE-754 operation, so the vfmadd of
/// the AVX2 and AVX-512 paths and the portable path's libm fmaf give the same bits: again the
/// lanes run across n only.
void fedsim_gemm_fused(int M, int N, int K,
                       const float *A, ptrdiff_t a_row_stride, ptrdiff_t a_col_stride,
                       const float *B, ptrdiff_t ldb,
                       float *C, ptrdiff_t ldc, int accumulate);

/// fedsim_gemm_fused on a chosen path (as fedsim_gemm_path; path 1 needs AVX2 and FMA).
void fedsim_gemm_fused_path(int path, int M, int N, int K,
                            const float *A, ptrdiff_t a_row_stride, ptrdiff_t a_col_stride,
                            const float *B, ptrdiff_t ldb,
                            float *C, ptrdiff_t ldc, int accumulate);

/// A stride-1 conv's forward pass over `batch` NCHW images, without patches: for each output
/// element, the bias (+0 without one, bias NULL) followed by one fused multiply-add per input tap
/// (c, kh, kw) in order, reading a zero-padded copy of the image (an implicit product). The same
/// bits as fedsim_im2col_planes then fedsim_gemm_fused with W [O, C·k·k], on every path.
/// `scratch` holds fedsim_conv_direct_scratch(...) floats.
void fedsim_conv_direct(int batch, int channels, int height, int width, int kernel, int padding, int out_channels,
                        const float *w, const float *bias, const float *x, float *y, float *scratch);

/// fedsim_conv_direct on a chosen path (as fedsim_gemm_fused_path).
void fedsim_conv_direct_path(int path, int batch, int channels, int height, int width, int kernel, int padding,
                             int out_channels, const float *w, const float *bias, const float *x, float *y,
                             float *scratch);

/// A stride-1 conv's weight gradient over `batch` images, without patches: dw [O, C·k·k] =
/// Σ_b Σ_n patch_b(k, n) · dy_b[o, n], each element one fused multiply-add per term, samples then
/// output pixels in order, from +0 (so every earlier value of dw is replaced). The same bits as
/// fedsim_gemm_fused over fedsim_im2col_planes' patches, on every path.
void fedsim_conv_weight_grad_direct(int batch, int channels, int height, int width, int kernel, int padding,
                                    int out_channels, const float *x, const float *dy, float *dw, float *scratch);

/// fedsim_conv_weight_grad_direct on a chosen path.
void fedsim_conv_weight_grad_direct_path(int path, int batch, int channels, int height, int width, int kernel,
                                         int padding, int out_channels, const float *x, const float *dy, float *dw,
                                         float *scratch);

/// The floats the scratch of fedsim_conv_direct and fedsim_conv_weight_grad_direct needs: the padded
/// image with a slack for full-width loads, then the transposed output gradient and weight gradient
/// (or, in the forward pass, the weights packed in the kernel's tile order).
ptrdiff_t fedsim_conv_direct_scratch(int channels, int height, int width, int kernel, int padding, int out_channels);

/// The lanes of the vectors a path's conv kernels use (16 on AVX-512, else 8).
int fedsim_conv_lanes(int path);

/// dst[c, r] = src[r, c] for a rows × cols matrix (leading dimensions lds and ldd), in cache blocks.
void fedsim_transpose(int rows, int cols, const float *src, ptrdiff_t lds, float *dst, ptrdiff_t ldd);

/// 1 when this CPU and OS run AVX code, else 0.
int fedsim_cpu_has_avx(void);

/// 1 when this CPU and OS run AVX2 code with FMA3, else 0.
int fedsim_cpu_has_fma(void);

/// 1 when this CPU and OS run AVX-512F code, else 0.
int fedsim_cpu_has_avx512(void);

/// The path fedsim_gemm uses: AVX-512 where available, else AVX, else portable; the environment
/// can force a narrower one (FEDSIM_KERNEL=avx or portable, read once). Named by fedsim_kernel_name.
int fedsim_kernel_path(void);
const char *fedsim_kernel_name(int path);

// MARK: - Image layers (NCHW), sequential loops: the same bits on every CPU

/// One image's patches as columns, the layout a conv's products use: row (c, kh, kw) of
/// `cols` holds, for every output pixel (oh, ow) in order, the input pixel that kernel tap sees
/// (zero outside the image), so `cols` is [C·k·k, OH·OW] and W[O, C·k·k] · cols is the conv
/// output in NCHW order.
void fedsim_im2col_planes(int channels, int height, int width, int kernel, int stride, int padding, int out_height,
                          int out_width, const float *x, float *cols);

/// The adjoint of fedsim_im2col_planes for one image: dx = 0, then every entry of `cols` is
/// added to the pixel it came from, rows in order (so each pixel sums its taps in (c, kh, kw)
/// order). Entries of `cols` for taps in the padding may be overwritten (with zeros).
void fedsim_col2im_planes(int channels, int height, int width, int kernel, int stride, int padding, int out_height,
                          int out_width, float *cols, float *dx);

/// sums[c] = Σ_b Σ_i x[b, c, i] over NCHW data with `plane` = H·W (a conv's bias gradient): each
/// channel in eight fixed lanes (i mod 8, samples in order), the lanes then added in a fixed
/// tree. The same bits on every CPU: this function is compiled once, for the baseline ISA.
void fedsim_plane_sums(int batch, int channels, int plane, const float *x, float *sums);

/// y = max(x, 0) elementwise, as Swift's `max(x, 0)`: NaN stays NaN and −0 becomes +0.
void fedsim_relu(ptrdiff_t count, const float *x, float *y);

/// The ReLU's backward pass from its output y: dx = 0 where y ≤ 0, else dy (so a NaN output
/// passes its gradient on, as the Swift loop this replaced did).
void fedsim_relu_backward(ptrdiff_t count, const float *y, const float *dy, float *dx);

/// Max pooling without padding; `argmax` receives each window's winner as an offset into its
/// channel plane (ih·W + iw). The first maximum wins, and NaN propagates, as in PyTorch.
void fedsim_maxpool(int planes, int height, int width, int kernel, int stride, int out_height, int out_width,
                    const float *x, float *y, int *argmax);

/// fedsim_maxpool on a chosen path (the 2×2 window has a portable and an AVX2 one; they agree,
/// as comparisons are exact).
void fedsim_maxpool_path(int path, int planes, int height, int width, int kernel, int stride, int out_height,
                         int out_width, const float *x, float *y, int *argmax);

/// dx = 0, then dx[plane, argmax] += dy for every output.
void fedsim_maxpool_backward(int planes, int height, int width, int out_height, int out_width,
                             const float *dy, const int *argmax, float *dx);

/// Average pooling without padding: the window's sum (in kh, kw order) divided by kernel².
void fedsim_avgpool(int planes, int height, int width, int kernel, int stride, int out_height, int out_width,
                    const float *x, float *y);

/// dx = 0, then dy / kernel² is added to every pixel of each output's window.
void fedsim_avgpool_backward(int planes, int height, int width, int kernel, int stride, int out_height,
                             int out_width, const float *dy, float *dx);

/// Group normalization (Wu & He 2018; `nn.GroupNorm`) over NCHW data with `plane` = H·W:
/// y = (x − mean) / √(var + eps) · gamma[c] + beta[c], mean and (biased) variance over each
/// sample's group of channels (sums in double, in order). Saves each (sample, group)'s mean and
/// 1/√(var + eps) for the backward pass.
void fedsim_group_norm(int batch, int channels, int plane, int groups, float eps, const float *x, const float *gamma,
                       const float *beta, float *y, float *mean, float *rstd);

/// Its gradients: dgamma and dbeta (over every sample, in order) and, unless dx is NULL, dx.
void fedsim_group_norm_backward(int batch, int channels, int plane, int groups, const float *x, const float *gamma,
                                const float *mean, const float *rstd, const float *dy, float *dx, float *dgamma,
                                float *dbeta);

/// Batch normalization (Ioffe & Szegedy 2015; `nn.BatchNorm2d`/`1d`) in training mode over NCHW
/// data with `plane` = H·W: each channel normalized with its batch mean and biased variance (sums
/// in double, in order), then y = x̂·gamma[c] + beta[c]. Saves each channel's mean and
/// 1/√(var + eps) for the backward pass, and its unbiased variance for the running statistics.
void fedsim_batch_norm_train(int batch, int channels, int plane, float eps, const float *x, const float *gamma,
                             const float *beta, float *y, float *mean, float *invstd, float *unbiased_var);

/// Evaluation mode: normalized with the running mean and variance.
void fedsim_batch_norm_eval(int batch, int channels, int plane, float eps, const float *x, const float *gamma,
                            const float *beta, const float *running_mean, const float *running_var, float *y);

/// Training mode's gradients: dgamma, dbeta and, unless dx is NULL, dx.
void fedsim_batch_norm_backward(int batch, int channels, int plane, const float *x, const float *gamma,
                                const float *mean, const float *invstd, const float *dy, float *dx, float *dgamma,
                                float *dbeta);

#endif
