/*
 * test_qk_rope.c: the kernels of the architecture variants against their CPU ops
 * (reference/cpu_ops.c): Qwen3's q/k norm (head_rmsnorm_forward / backward, out of place and in
 * place, dw accumulating) and RoPE from a frequency table (rope_forward_freq / backward_freq, and
 * rope_qk_*: q and k in one launch)
 * with Llama 3.1's scaled frequencies (model.h rope_inv_freq) at long positions. Shapes: the
 * real heads (D 128, 64) and the tiny test models' (D 8, 24: the scalar paths). Outputs are
 * poisoned before every launch. Tolerances as test_kernels.c (kernel_test.h).
 */
#include "../../model/model.h"
#include "../../reference/cpu_ops.h"
#include "../gpu_test.h"
#include "kernel_test.h"

static void test_head_rmsnorm(Rng *r, size_t T, int H, int D, int in_place, cudaStream_t s) {
    char name[128];
    const size_t n = T * (size_t)H * D, rows = T * (size_t)H;
    const float eps = 1e-6f;
    float *inp = rand_bf16_values(r, n, 1.0f), *w = rand_bf16_values(r, (size_t)D, 1.0f);
    float *dout = rand_bf16_values(r, n, 1.0f), *dw0 = rand_bf16_values(r, (size_t)D, 1.0f);
    bf16_t *d_inp = dev_bf16_from(inp, n), *d_w = dev_bf16_from(w, (size_t)D), *d_out = dmalloc(n * 2);
    float *d_rstd = dmalloc(rows * 4), *d_dw = dmalloc((size_t)D * 4);
    poison(d_out, n * 2);
    poison(d_rstd, rows * 4);
    head_rmsnorm_forward(d_out, d_rstd, d_inp, d_w, T, H, D, eps, s);
    sync();
    float *ref = xmalloc(n * 4), *rstd = xmalloc(rows * 4), *got = download_bf16(d_out, n);
    float *got_rstd = download_f32(d_rstd, rows);
    cpu_head_rmsnorm_forward(ref, rstd, inp, w, T, H, D, eps);
    snprintf(name, sizeof name, "head_rmsnorm_forward out T %zu H %d D %d", T, H, D);
    check(name, got, ref, n, TOL_BF16);
    snprintf(name, sizeof name, "head_rmsnorm_forward rstd T %zu H %d D %d", T, H, D);
    check(name, got_rstd, rstd, rows, TOL_F32);

    // backward from the GPU's own rstd; dinp overwritten (poisoned first) or in place on dout
    bf16_t *d_dout = dev_bf16_from(dout, n), *d_dinp = in_place ? d_dout : dmalloc(n * 2);
    if (!in_place) poison(d_dinp, n * 2);
    CK(cudaMemcpy(d_dw, dw0, (size_t)D * 4, cudaMemcpyHostToDevice));
    head_rmsnorm_backward(d_dinp, d_dw, d_dout, d_inp, d_w, d_rstd, T, H, D, s);
    sync();
    float *dinp = xmalloc(n * 4), *got_dinp = download_bf16(d_dinp, n), *got_dw = download_f32(d_dw, (size_t)D);
    cpu_head_rmsnorm_backward(dinp, dw0, dout, inp, w, got_rstd, T, H, D);
    snprintf(name, sizeof name, "head_rmsnorm_backward dinp%s T %zu H %d D %d", in_place ? " (in place)" : "", T, H, D);
    check(name, got_dinp, dinp, n, TOL_BF16);
    snprintf(name, sizeof name, "head_rmsnorm_backward dw (+=) T %zu H %d D %d", T, H, D);
    check(name, got_dw, dw0, (size_t)D, TOL_F32 * 10);
    free(inp), free(w), free(dout), free(dw0), free(ref), free(rstd), free(got), free(got_rstd), free(dinp);
    free(got_dinp), free(got_dw);
    cudaFree(d_inp), cudaFree(d_w), cudaFree(d_out), cudaFree(d_rstd), cudaFree(d_dw), cudaFree(d_dout);
    if (!in_place) cudaFree(d_dinp);
}

// RoPE with a Llama 3.1 frequency table (factor 8, bands 1 / 4, original 8192, theta 5e5).
// Hkv > 0: q and k in one launch (rope_qk_*).
static void test_rope_freq(Rng *r, size_t T, int H, int Hkv, int D, int max_pos, cudaStream_t s) {
    RopeScaling sc = {.factor = 8.0, .low_freq_factor = 1.0, .high_freq_factor = 4.0, .original_max_pos = 8192.0};
    double *freq = xmalloc((size_t)(D / 2) * sizeof(double));
    rope_inv_freq(5e5, &sc, D, freq);
    check_rope(r, T, H, Hkv, D, max_pos, freq, s);
    free(freq);
}

int main(void) {
    gpu_test_require("test_qk_rope");
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    Rng r;
    rng_seed(&r, 20261201);
    test_head_rmsnorm(&r, 777, 32, 128, 0, s);  // Qwen3-8B's query heads
    test_head_rmsnorm(&r, 777, 8, 128, 1, s);   // its key heads, in place as the step runs it
    test_head_rmsnorm(&r, 301, 4, 24, 0, s);    // the tiny qwen3 test model
    test_head_rmsnorm(&r, 301, 3, 8, 1, s);
    test_head_rmsnorm(&r, 50, 2, 256, 0, s);    // the largest D supported
    test_rope_freq(&r, 777, 4, 0, 128, 131071, s);  // Llama 3.1's context
    test_rope_freq(&r, 777, 32, 8, 128, 131071, s); // Llama 3.1-8B's q and k in one launch
    test_rope_freq(&r, 301, 3, 0, 64, 32767, s);    // Llama 3.2-1B's head dim
    test_rope_freq(&r, 301, 32, 8, 64, 32767, s);   // its q and k
    test_rope_freq(&r, 301, 3, 0, 8, 4000, s);      // scalar path
    test_rope_freq(&r, 301, 3, 1, 8, 4000, s);
    CK(cudaStreamDestroy(s));
    printf("test_qk_rope: %d failures\n", g_failures);
    return g_failures ? 1 : 0;
}
