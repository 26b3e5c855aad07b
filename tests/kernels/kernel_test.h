/*
 * kernel_test.h: what the kernel tests (tests/kernels) share: tolerances, bf16 host inputs
 * (seeded normals rounded to bf16, so GPU and CPU see identical values), device buffers,
 * poisoning (all bits set: NaN in bf16 and fp32) and the one comparison, relative L2
 * ||gpu - cpu|| / ||cpu|| with any NaN or Inf where the oracle is finite a failure.
 */
#ifndef PB_KERNEL_TEST_H
#define PB_KERNEL_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "../../core/rng.h"
#include "../../kernels/bf16_host.h"
#include "../../kernels/kernels.h"
#include "../../reference/cpu_ops.h"

#define TOL_BF16 1e-2 // bf16 outputs of fp32 math
#define TOL_F32 1e-4  // fp32 outputs (rstd, fp32 dw accumulators)
#define TOL_LOSS 2e-3 // summed NLL from bf16 logits
#define TOL_CE_GRAD 2e-2 // CE gradients: bf16 logits, bf16 dlogits, bf16 dW accumulated over chunks

static int g_failures; // counted by check(); main's exit status

static inline void die_cuda(cudaError_t e, const char *what, int line) {
    if (e != cudaSuccess) {
        fprintf(stderr, "kernel test:%d: %s: %s\n", line, what, cudaGetErrorString(e));
        exit(1);
    }
}
#define CK(x) die_cuda((x), #x, __LINE__)

/* ---- host bf16 ------------------------------------------------------------------------- */

static inline void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "kernel test: out of host memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

static inline void *dmalloc(size_t bytes) {
    void *p = NULL;
    CK(cudaMalloc(&p, bytes ? bytes : 16));
    return p;
}

// n normals N(0, std), already rounded to bf16 values.
static inline float *rand_bf16_values(Rng *r, size_t n, float std) {
    float *h = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = bf16_to_float(bf16_from_float(std * rng_normal(r)));
    return h;
}

static inline void upload_bf16(bf16_t *d, const float *h, size_t n) {
    bf16_t *tmp = xmalloc(n * sizeof(bf16_t));
    for (size_t i = 0; i < n; i++) tmp[i] = bf16_from_float(h[i]);
    CK(cudaMemcpy(d, tmp, n * sizeof(bf16_t), cudaMemcpyHostToDevice));
    free(tmp);
}

static inline float *download_bf16(const bf16_t *d, size_t n) {
    bf16_t *tmp = xmalloc(n * sizeof(bf16_t));
    float *h = xmalloc(n * sizeof(float));
    CK(cudaMemcpy(tmp, d, n * sizeof(bf16_t), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n; i++) h[i] = bf16_to_float(tmp[i]);
    free(tmp);
    return h;
}

static inline float *download_f32(const float *d, size_t n) {
    float *h = xmalloc(n * sizeof(float));
    CK(cudaMemcpy(h, d, n * sizeof(float), cudaMemcpyDeviceToHost));
    return h;
}

static inline bf16_t *dev_bf16_from(const float *h, size_t n) {
    bf16_t *d = dmalloc(n * sizeof(bf16_t));
    upload_bf16(d, h, n);
    return d;
}

static inline void poison(void *d, size_t bytes) { CK(cudaMemset(d, 0xff, bytes)); }

static inline void sync(void) { CK(cudaDeviceSynchronize()); }

/* ---- comparison ------------------------------------------------------------------------ */

// Relative L2 error and max abs error; prints one line; counts a failure. tol 0: bit-exact.
static inline void check(const char *name, const float *gpu, const float *cpu, size_t n, double tol) {
    double num = 0, den = 0, max_abs = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double g = gpu[i], c = cpu[i];
        if (!isfinite(g) && isfinite(c)) bad++;
        double d = fabs(g - c);
        num += d * d;
        den += c * c;
        if (d > max_abs || isnan(d)) max_abs = isnan(d) ? NAN : (d > max_abs ? d : max_abs);
    }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    int ok = bad == 0 && (tol == 0 ? num == 0 : rel <= tol);
    printf("%-44s n %-10zu rel %.3e  max_abs %.3e  tol %.0e  %s", name, n, rel, max_abs, tol, ok ? "ok" : "FAIL");
    if (bad) printf(" (%zu non-finite)", bad);
    printf("\n");
    if (!ok) g_failures++;
}

static inline void check_scalar(const char *name, double gpu, double cpu, double tol) {
    double rel = fabs(gpu - cpu) / (fabs(cpu) > 0 ? fabs(cpu) : 1.0);
    int ok = isfinite(gpu) && rel <= tol;
    printf("%-44s gpu %.6f cpu %.6f rel %.3e tol %.0e  %s\n", name, gpu, cpu, rel, tol, ok ? "ok" : "FAIL");
    if (!ok) g_failures++;
}

/* RoPE forward and backward against the CPU op at positions up to max_pos (pos[0] = max_pos):
 * with freq (D / 2 inverse frequencies, host) through the _freq launchers, else with theta 1e6. */
static inline void check_rope(Rng *r, size_t T, int H, int D, int max_pos, const double *freq, cudaStream_t s) {
    char name[128];
    const double theta = 1e6;
    const size_t n = T * (size_t)H * D;
    double *d_freq = NULL;
    if (freq) {
        d_freq = (double *)dmalloc((size_t)(D / 2) * sizeof(double));
        CK(cudaMemcpy(d_freq, freq, (size_t)(D / 2) * sizeof(double), cudaMemcpyHostToDevice));
    }
    int32_t *pos = (int32_t *)xmalloc(T * 4), *d_pos = (int32_t *)dmalloc(T * 4);
    for (size_t t = 0; t < T; t++) pos[t] = (int32_t)rng_range(r, 0, max_pos);
    pos[0] = max_pos;
    CK(cudaMemcpy(d_pos, pos, T * 4, cudaMemcpyHostToDevice));
    for (int dir = 0; dir < 2; dir++) {
        float *x = rand_bf16_values(r, n, 1.0f);
        bf16_t *d_x = dev_bf16_from(x, n);
        if (freq) {
            if (dir == 0) rope_forward_freq(d_x, d_pos, T, H, D, d_freq, s);
            else rope_backward_freq(d_x, d_pos, T, H, D, d_freq, s);
        } else {
            if (dir == 0) rope_forward(d_x, d_pos, T, H, D, theta, s);
            else rope_backward(d_x, d_pos, T, H, D, theta, s);
        }
        sync();
        if (freq) {
            if (dir == 0) cpu_rope_forward(x, pos, T, H, D, freq);
            else cpu_rope_backward(x, pos, T, H, D, freq);
        } else {
            if (dir == 0) cpu_rope_forward_theta(x, pos, T, H, D, theta);
            else cpu_rope_backward_theta(x, pos, T, H, D, theta);
        }
        float *got = download_bf16(d_x, n);
        snprintf(name, sizeof name, "rope_%s%s T %zu H %d D %d pos<=%d", dir ? "backward" : "forward",
                 freq ? "_freq (table)" : "", T, H, D, max_pos);
        check(name, got, x, n, TOL_BF16);
        free(got), free(x);
        cudaFree(d_x);
    }
    free(pos);
    cudaFree(d_pos);
    if (d_freq) cudaFree(d_freq);
}

#endif
