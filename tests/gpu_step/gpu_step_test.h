// gpu_step_test.h: what the tests of tests/gpu_step share: bf16 inputs, random group batches,
// error metrics and a CHECK that counts failures.
#ifndef PB_GPU_STEP_TEST_H
#define PB_GPU_STEP_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../core/rng.h"
#include "../../kernels/bf16_host.h"
#include "../../strategies/layout.h"

static int failures = 0;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
    printf(__VA_ARGS__); printf("\n"); } } while (0)

// x := N(0, std) rounded to bf16; bits (may be NULL) gets the bf16 values.
static inline void random_bf16(float *x, uint16_t *bits, size_t n, float std, Rng *r) {
    for (size_t i = 0; i < n; i++) {
        uint16_t b = bf16_from_float(std * rng_normal(r));
        x[i] = bf16_to_float(b);
        if (bits) bits[i] = b;
    }
}

// B groups of K completions, prompt lengths in [1, max_p], completion lengths in [1, max_c].
static inline int random_groups(GroupBatch *g, int B, int K, int max_p, int max_c, int vocab, uint64_t seed) {
    int32_t pl[16], cl[16 * PB_MAX_COMPLETIONS];
    Rng r;
    rng_seed(&r, seed ^ 0xc2c2ull);
    for (int b = 0; b < B && b < 16; b++) pl[b] = (int32_t)rng_range(&r, 1, max_p);
    for (int i = 0; i < B * K && i < 16 * PB_MAX_COMPLETIONS; i++) cl[i] = (int32_t)rng_range(&r, 1, max_c);
    return groups_make(g, B, K, pl, cl, vocab, seed);
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
