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
#include "../../model/model.h"
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
 * with freq (D / 2 inverse frequencies, host) through the _freq launchers, else with theta 1e6.
 * Hkv > 0: q (T, H, D) and k (T, Hkv, D) in one launch (the _qk launchers; without freq they get
 * theta 1e6's table from model.h rope_inv_freq). */
static inline void check_rope(Rng *r, size_t T, int H, int Hkv, int D, int max_pos, const double *freq,
                              cudaStream_t s) {
    char name[160];
    const double theta = 1e6;
    const size_t n = T * (size_t)H * D, nk = T * (size_t)Hkv * D;
    const size_t half = (size_t)(D / 2);
    double *table = NULL, *d_freq = NULL;
    if (!freq && Hkv > 0) {
        table = (double *)xmalloc(half * sizeof(double));
        rope_inv_freq(theta, NULL, D, table);
    }
    const double *f = freq ? freq : table;
    if (f) {
        d_freq = (double *)dmalloc(half * sizeof(double));
        CK(cudaMemcpy(d_freq, f, half * sizeof(double), cudaMemcpyHostToDevice));
    }
    int32_t *pos = (int32_t *)xmalloc(T * 4), *d_pos = (int32_t *)dmalloc(T * 4);
    for (size_t t = 0; t < T; t++) pos[t] = (int32_t)rng_range(r, 0, max_pos);
    pos[0] = max_pos;
    CK(cudaMemcpy(d_pos, pos, T * 4, cudaMemcpyHostToDevice));
    for (int dir = 0; dir < 2; dir++) {
        float *x = rand_bf16_values(r, n, 1.0f), *k = Hkv ? rand_bf16_values(r, nk, 1.0f) : NULL;
        bf16_t *d_x = dev_bf16_from(x, n), *d_k = Hkv ? dev_bf16_from(k, nk) : NULL;
        if (Hkv) {
            if (dir == 0) rope_qk_forward_freq(d_x, d_k, d_pos, T, H, Hkv, D, d_freq, s);
            else rope_qk_backward_freq(d_x, d_k, d_pos, T, H, Hkv, D, d_freq, s);
        } else if (freq) {
            if (dir == 0) rope_forward_freq(d_x, d_pos, T, H, D, d_freq, s);
            else rope_backward_freq(d_x, d_pos, T, H, D, d_freq, s);
        } else {
            if (dir == 0) rope_forward(d_x, d_pos, T, H, D, theta, s);
            else rope_backward(d_x, d_pos, T, H, D, theta, s);
        }
        sync();
        if (f) {
            if (dir == 0) cpu_rope_forward(x, pos, T, H, D, f);
            else cpu_rope_backward(x, pos, T, H, D, f);
            if (Hkv && dir == 0) cpu_rope_forward(k, pos, T, Hkv, D, f);
            if (Hkv && dir == 1) cpu_rope_backward(k, pos, T, Hkv, D, f);
        } else {
            if (dir == 0) cpu_rope_forward_theta(x, pos, T, H, D, theta);
            else cpu_rope_backward_theta(x, pos, T, H, D, theta);
        }
        const char *form = Hkv ? "_qk" : "", *src = freq ? "_freq (table)" : "";
        float *got = download_bf16(d_x, n);
        snprintf(name, sizeof name, "rope%s_%s%s T %zu H %d D %d pos<=%d%s", form, dir ? "backward" : "forward", src,
                 T, H, D, max_pos, Hkv ? " (q)" : "");
        check(name, got, x, n, TOL_BF16);
        free(got), free(x);
        cudaFree(d_x);
        if (Hkv) {
            got = download_bf16(d_k, nk);
            snprintf(name, sizeof name, "rope%s_%s%s T %zu Hkv %d D %d (k)", form, dir ? "backward" : "forward", src,
                     T, Hkv, D);
            check(name, got, k, nk, TOL_BF16);
            free(got), free(k);
            cudaFree(d_k);
        }
    }
    free(pos), free(table);
    cudaFree(d_pos);
    if (d_freq) cudaFree(d_freq);
}

#endif
