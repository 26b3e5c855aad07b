/*
 * test_attn_merge.c: kernels/attn_merge.cu against the formula in fp64 (suite 'gpu'): the
 * Qwen2.5-7B head shape (vector path) and D 36 (one element at a time); every 7th (row, head) of
 * the second side has no keys (lse -inf: the first side comes back unchanged). Inputs are bf16
 * values, so the GPU and the formula see the same numbers.
 */
#include "../gpu_test.h"
#include "kernel_test.h"

// Two partial attentions of rows x H x D merged through their statistics, against the formula in
// fp64; every 7th (row, head) of the second side has no keys (lse -inf: the first side unchanged).
static void test_attn_merge(Rng *r, size_t rows, int H, int D, cudaStream_t s) {
    const size_t n = rows * (size_t)H * (size_t)D, nl = rows * (size_t)H;
    float *oa = rand_bf16_values(r, n, 1.0f), *ob = rand_bf16_values(r, n, 1.0f), *ref = xmalloc(n * sizeof(float));
    float *la = xmalloc(nl * sizeof(float)), *lb = xmalloc(nl * sizeof(float)), *rl = xmalloc(nl * sizeof(float));
    for (size_t i = 0; i < nl; i++) {
        la[i] = 4.0f * rng_normal(r);
        lb[i] = i % 7 == 3 ? -INFINITY : 4.0f * rng_normal(r);
        const double m = fmax(la[i], lb[i]), wa = exp(la[i] - m), wb = exp((double)lb[i] - m);
        rl[i] = (float)(m + log(wa + wb));
        for (int j = 0; j < D; j++) {
            const size_t e = i * (size_t)D + (size_t)j;
            ref[e] = (float)((wa * oa[e] + wb * ob[e]) / (wa + wb));
        }
    }
    bf16_t *d_oa = dev_bf16_from(oa, n), *d_ob = dev_bf16_from(ob, n);
    float *d_la = dmalloc(nl * sizeof(float)), *d_lb = dmalloc(nl * sizeof(float));
    CK(cudaMemcpy(d_la, la, nl * sizeof(float), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_lb, lb, nl * sizeof(float), cudaMemcpyHostToDevice));
    attn_merge(d_oa, d_la, d_ob, d_lb, rows, H, D, s);
    sync();
    char name[96];
    float *got = download_bf16(d_oa, n), *gl = download_f32(d_la, nl);
    snprintf(name, sizeof name, "attn_merge o rows %zu H %d D %d", rows, H, D);
    check(name, got, ref, n, TOL_BF16);
    snprintf(name, sizeof name, "attn_merge lse rows %zu H %d D %d", rows, H, D);
    check(name, gl, rl, nl, TOL_F32);
    free(got), free(gl), free(oa), free(ob), free(ref), free(la), free(lb), free(rl);
    cudaFree(d_oa), cudaFree(d_ob), cudaFree(d_la), cudaFree(d_lb);
}

int main(void) {
    gpu_test_require("test_attn_merge");
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    Rng r;
    rng_seed(&r, 20261201);
    test_attn_merge(&r, 777, 28, 128, s);
    test_attn_merge(&r, 301, 3, 36, s); // D % 8 != 0: one element at a time
    CK(cudaStreamDestroy(s));
    printf("\ntest_attn_merge: %d failure(s)\n", g_failures);
    return g_failures ? 1 : 0;
}
