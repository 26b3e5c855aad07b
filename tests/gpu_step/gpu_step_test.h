// gpu_step_test.h: what the tests of tests/gpu_step share: bf16 inputs and error metrics
// (CHECK and the group builder come from tests/test_util.h).
#ifndef PB_GPU_STEP_TEST_H
#define PB_GPU_STEP_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../core/rng.h"
#include "../../kernels/bf16_host.h"
#include "../../strategies/layout.h"
#include "../test_util.h"


// x := N(0, std) rounded to bf16; bits (may be NULL) gets the bf16 values.
static inline void random_bf16(float *x, uint16_t *bits, size_t n, float std, Rng *r) {
    for (size_t i = 0; i < n; i++) {
        uint16_t b = bf16_from_float(std * rng_normal(r));
        x[i] = bf16_to_float(b);
        if (bits) bits[i] = b;
    }
}

// max |a - b| / max |b| (denominator floored at tiny); NaN anywhere gives NaN.
static inline double rel_to_max(const float *a, const float *b, size_t n) {
    double num = 0.0, den = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d != d) return NAN;
        if (d > num) num = d;
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return num / den;
}

// ||a - b|| / ||b||
static inline double rel_norm(const float *a, const float *b, size_t n) {
    double num = 0.0, den = 1e-60;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return sqrt(num / den);
}

static inline double max_abs(const float *a, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}

#endif
