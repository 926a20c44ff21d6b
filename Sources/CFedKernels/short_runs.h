#ifndef FEDSIM_SHORT_RUNS_H
#define FEDSIM_SHORT_RUNS_H

// Copies and zeroing of the short runs of floats image kernels move (an image line: a few dozen
// floats), inline: for those a call to memcpy or memset costs more than the stores.

#include <stddef.h>

// dst[0 ..< n] = src[0 ..< n] for the short rows of an image (a few dozen floats), inline: eight
// at a time and a last, overlapping eight (or four, two, one) instead of a call to memcpy per row.
static inline void copy_floats(float *restrict dst, const float *restrict src, int n) {
    if (n >= 8) {
        int i = 0;
        for (; i + 8 <= n; i += 8) __builtin_memcpy_inline(dst + i, src + i, 8 * sizeof(float));
        if (i < n) __builtin_memcpy_inline(dst + n - 8, src + n - 8, 8 * sizeof(float));
        return;
    }
    if (n >= 4) {
        __builtin_memcpy_inline(dst, src, 4 * sizeof(float));
        __builtin_memcpy_inline(dst + n - 4, src + n - 4, 4 * sizeof(float));
    } else if (n >= 2) {
        __builtin_memcpy_inline(dst, src, 2 * sizeof(float));
        __builtin_memcpy_inline(dst + n - 2, src + n - 2, 2 * sizeof(float));
    } else if (n == 1) {
        dst[0] = src[0];
    }
}

// A zero the optimizer cannot see through, so that a loop storing it stays a loop instead of
// becoming a call to memset — for the short runs here the call costs more than the stores.
static inline float opaque_zero(void) {
    float z = 0.0f;
#if defined(__x86_64__)
    __asm__("" : "+x"(z));
#elif defined(__aarch64__)
    __asm__("" : "+w"(z));
#endif
    return z;
}

// dst[0 ..< n] = 0, inline.
static inline void zero_floats(float *dst, ptrdiff_t n) {
    const float z = opaque_zero();
    for (ptrdiff_t i = 0; i < n; i++) dst[i] = z;
}

#endif
