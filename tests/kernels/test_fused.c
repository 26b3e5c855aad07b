/*
 * test_fused.c: the kernels of the fused projections (issue 12) against the CPU ops
 * (reference/cpu_ops.c), on strided operands as the step passes them:
 *  - rope_qk_forward_ld / rope_qk_backward_ld: one head group (k absent) read out of a
 *    (T, Hq*D + 2*Hkv*D) buffer at its row stride and written contiguous (forward, the split),
 *    and gradients written back into such a buffer (backward); the columns they do not own stay
 *    untouched; in place with a stride; then q and k at once, as the step runs them.
 *  - head_rmsnorm_forward_ld / backward_ld: Qwen3's q/k norm with the same strides.
 *  - swiglu_forward_rows / backward_rows: over rows [gate | up] of 2F, backward in place.
 *  - fill_normal_bf16_at: a slice equals the same elements of a whole fill, bit for bit.
 * Shapes: Qwen2.5-7B's per-head sizes (D 128; 28 / 4 heads scaled down to 4 / 1), the tiny
 * models' (D 24: the scalar paths), a row length not a multiple of 8. Outputs poisoned first.
 */
#include "../../model/model.h"
#include "../gpu_test.h"
#include "kernel_test.h"

#define MARK 0x3f80u // bf16 1.0: the columns a kernel must not write

// n_rows x width bf16 from the device, as raw bits.
static uint16_t *download_bits(const bf16_t *d, size_t n) {
    uint16_t *h = xmalloc(n * 2);
    CK(cudaMemcpy(h, d, n * 2, cudaMemcpyDeviceToHost));
    return h;
}

// Columns [c0, c0 + w) of a (T, ld) host matrix into a (T, w) one.
static float *cols(const float *x, size_t T, size_t ld, size_t c0, size_t w) {
    float *o = xmalloc(T * w * 4);
    for (size_t t = 0; t < T; t++) memcpy(o + t * w, x + t * ld + c0, w * 4);
    return o;
}

// Counts the elements of a (T, ld) device bf16 matrix outside columns [c0, c0 + w) that are not MARK.
static size_t touched_outside(const bf16_t *d, size_t T, size_t ld, size_t c0, size_t w) {
    uint16_t *h = download_bits(d, T * ld);
    size_t bad = 0;
    for (size_t t = 0; t < T; t++)
        for (size_t c = 0; c < ld; c++)
            if ((c < c0 || c >= c0 + w) && h[t * ld + c] != MARK) bad++;
    free(h);
    return bad;
}

static bf16_t *dev_marked(size_t n) {
    uint16_t *h = xmalloc(n * 2);
    for (size_t i = 0; i < n; i++) h[i] = MARK;
    bf16_t *d = dmalloc(n * 2);
    CK(cudaMemcpy(d, h, n * 2, cudaMemcpyHostToDevice));
    free(h);
    return d;
}

static void count(const char *name, size_t bad) {
    printf("%-44s %zu elements written outside its columns  %s\n", name, bad, bad ? "FAIL" : "ok");
    if (bad) g_failures++;
}

// RoPE's inputs on both sides: Qwen2's inverse frequencies for head dim D, and T random positions
// up to 32767.
typedef struct RopeTables {
    double *freq, *d_freq;
    int32_t *pos, *d_pos;
} RopeTables;

static RopeTables rope_tables(Rng *r, size_t T, int D) {
    RopeTables t = {xmalloc((size_t)(D / 2) * sizeof(double)), dmalloc((size_t)(D / 2) * sizeof(double)),
                    xmalloc(T * 4), dmalloc(T * 4)};
    rope_inv_freq(1e6, NULL, D, t.freq);
    CK(cudaMemcpy(t.d_freq, t.freq, (size_t)(D / 2) * sizeof(double), cudaMemcpyHostToDevice));
    for (size_t i = 0; i < T; i++) t.pos[i] = (int32_t)rng_range(r, 0, 32767);
    CK(cudaMemcpy(t.d_pos, t.pos, T * 4, cudaMemcpyHostToDevice));
    return t;
}

static void rope_tables_free(RopeTables *t) {
    free(t->freq), free(t->pos);
    cudaFree(t->d_freq), cudaFree(t->d_pos);
}

// One head group (H heads of D) at column c0 of a (T, ld) fused row buffer.
static void test_rope_ld(Rng *r, size_t T, int H, int D, size_t ld, size_t c0, cudaStream_t s) {
    char name[128];
    const size_t w = (size_t)H * D;
    RopeTables rt = rope_tables(r, T, D);
    const double *freq = rt.freq, *d_freq = rt.d_freq;
    const int32_t *pos = rt.pos, *d_pos = rt.d_pos;

    // forward: strided in, contiguous out (the split)
    float *fused = rand_bf16_values(r, T * ld, 1.0f);
    bf16_t *d_fused = dev_bf16_from(fused, T * ld), *d_out = dmalloc(T * w * 2);
    poison(d_out, T * w * 2);
    rope_qk_forward_ld(d_out, w, NULL, 0, d_fused + c0, NULL, ld, d_pos, T, H, 0, D, d_freq, s);
    sync();
    float *ref = cols(fused, T, ld, c0, w), *got = download_bf16(d_out, T * w);
    cpu_rope_forward(ref, pos, T, H, D, freq);
    snprintf(name, sizeof name, "rope_qk_forward_ld (q only) T %zu H %d D %d ld %zu col %zu", T, H, D, ld, c0);
    check(name, got, ref, T * w, TOL_BF16);
    free(got), free(ref);

    // backward: contiguous in, strided out into a marked fused buffer
    float *dx = rand_bf16_values(r, T * w, 1.0f);
    bf16_t *d_dx = dev_bf16_from(dx, T * w), *d_dfused = dev_marked(T * ld);
    rope_qk_backward_ld(d_dfused + c0, NULL, ld, d_dx, w, NULL, 0, d_pos, T, H, 0, D, d_freq, s);
    sync();
    float *all = download_bf16(d_dfused, T * ld);
    got = cols(all, T, ld, c0, w);
    cpu_rope_backward(dx, pos, T, H, D, freq);
    snprintf(name, sizeof name, "rope_qk_backward_ld (q only) T %zu H %d D %d ld %zu col %zu", T, H, D, ld, c0);
    check(name, got, dx, T * w, TOL_BF16);
    snprintf(name, sizeof name, "rope_qk_backward_ld (q only) ld %zu col %zu: other columns", ld, c0);
    count(name, touched_outside(d_dfused, T, ld, c0, w));
    free(got), free(all);

    // in place at the fused stride
    rope_qk_forward_ld(d_fused + c0, ld, NULL, 0, d_fused + c0, NULL, ld, d_pos, T, H, 0, D, d_freq, s);
    sync();
    all = download_bf16(d_fused, T * ld);
    got = cols(all, T, ld, c0, w), ref = cols(fused, T, ld, c0, w);
    cpu_rope_forward(ref, pos, T, H, D, freq);
    snprintf(name, sizeof name, "rope_qk_forward_ld (q only) in place ld %zu col %zu", ld, c0);
    check(name, got, ref, T * w, TOL_BF16);
    free(got), free(ref), free(all), free(fused), free(dx);
    cudaFree(d_fused), cudaFree(d_out), cudaFree(d_dx), cudaFree(d_dfused);
    rope_tables_free(&rt);
}

// The step's form: q (Hq heads at column 0) and k (Hkv heads at column Hq*D) of a fused (T, ld)
// buffer in one launch, forward into contiguous q and k, backward from them into a marked fused
// gradient whose v columns (and any beyond) stay untouched.
static void test_rope_qk_ld(Rng *r, size_t T, int Hq, int Hkv, int D, cudaStream_t s) {
    char name[128];
    const size_t QD = (size_t)Hq * D, KVD = (size_t)Hkv * D, ld = QD + 2 * KVD;
    RopeTables rt = rope_tables(r, T, D);
    const double *freq = rt.freq, *d_freq = rt.d_freq;
    const int32_t *pos = rt.pos, *d_pos = rt.d_pos;

    float *fused = rand_bf16_values(r, T * ld, 1.0f);
    bf16_t *d_fused = dev_bf16_from(fused, T * ld), *d_q = dmalloc(T * QD * 2), *d_k = dmalloc(T * KVD * 2);
    poison(d_q, T * QD * 2), poison(d_k, T * KVD * 2);
    rope_qk_forward_ld(d_q, QD, d_k, KVD, d_fused, d_fused + QD, ld, d_pos, T, Hq, Hkv, D, d_freq, s);
    sync();
    float *rq = cols(fused, T, ld, 0, QD), *rk = cols(fused, T, ld, QD, KVD);
    float *gq = download_bf16(d_q, T * QD), *gk = download_bf16(d_k, T * KVD);
    cpu_rope_forward(rq, pos, T, Hq, D, freq);
    cpu_rope_forward(rk, pos, T, Hkv, D, freq);
    snprintf(name, sizeof name, "rope_qk_forward_ld q T %zu Hq %d Hkv %d D %d", T, Hq, Hkv, D);
    check(name, gq, rq, T * QD, TOL_BF16);
    snprintf(name, sizeof name, "rope_qk_forward_ld k T %zu Hq %d Hkv %d D %d", T, Hq, Hkv, D);
    check(name, gk, rk, T * KVD, TOL_BF16);
    free(gq), free(gk), free(rq), free(rk);

    float *dq = rand_bf16_values(r, T * QD, 1.0f), *dk = rand_bf16_values(r, T * KVD, 1.0f);
    bf16_t *d_dq = dev_bf16_from(dq, T * QD), *d_dk = dev_bf16_from(dk, T * KVD), *d_dfused = dev_marked(T * ld);
    rope_qk_backward_ld(d_dfused, d_dfused + QD, ld, d_dq, QD, d_dk, KVD, d_pos, T, Hq, Hkv, D, d_freq, s);
    sync();
    float *all = download_bf16(d_dfused, T * ld);
    gq = cols(all, T, ld, 0, QD), gk = cols(all, T, ld, QD, KVD);
    cpu_rope_backward(dq, pos, T, Hq, D, freq);
    cpu_rope_backward(dk, pos, T, Hkv, D, freq);
    snprintf(name, sizeof name, "rope_qk_backward_ld dq T %zu Hq %d Hkv %d D %d", T, Hq, Hkv, D);
    check(name, gq, dq, T * QD, TOL_BF16);
    snprintf(name, sizeof name, "rope_qk_backward_ld dk T %zu Hq %d Hkv %d D %d", T, Hq, Hkv, D);
    check(name, gk, dk, T * KVD, TOL_BF16);
    count("rope_qk_backward_ld: v columns", touched_outside(d_dfused, T, ld, 0, QD + KVD));
    free(gq), free(gk), free(all), free(fused), free(dq), free(dk);
    cudaFree(d_fused), cudaFree(d_q), cudaFree(d_k), cudaFree(d_dq), cudaFree(d_dk), cudaFree(d_dfused);
    rope_tables_free(&rt);
}

static void test_head_rmsnorm_ld(Rng *r, size_t T, int H, int D, size_t ld, size_t c0, cudaStream_t s) {
    char name[128];
    const size_t w = (size_t)H * D, rows = T * (size_t)H;
    const float eps = 1e-6f;
    float *fused = rand_bf16_values(r, T * ld, 1.0f), *wt = rand_bf16_values(r, (size_t)D, 1.0f);
    float *dout = rand_bf16_values(r, T * w, 1.0f), *dw0 = rand_bf16_values(r, (size_t)D, 1.0f);
    bf16_t *d_fused = dev_bf16_from(fused, T * ld), *d_w = dev_bf16_from(wt, (size_t)D), *d_out = dmalloc(T * w * 2);
    float *d_rstd = dmalloc(rows * 4), *d_dw = dmalloc((size_t)D * 4);
    poison(d_out, T * w * 2), poison(d_rstd, rows * 4);
    head_rmsnorm_forward_ld(d_out, w, d_rstd, d_fused + c0, ld, d_w, T, H, D, eps, s);
    sync();
    float *x = cols(fused, T, ld, c0, w), *ref = xmalloc(T * w * 4), *rstd = xmalloc(rows * 4);
    float *got = download_bf16(d_out, T * w), *got_rstd = download_f32(d_rstd, rows);
    cpu_head_rmsnorm_forward(ref, rstd, x, wt, T, H, D, eps);
    snprintf(name, sizeof name, "head_rmsnorm_forward_ld T %zu H %d D %d ld %zu", T, H, D, ld);
    check(name, got, ref, T * w, TOL_BF16);
    check("head_rmsnorm_forward_ld rstd", got_rstd, rstd, rows, TOL_F32);
    free(got);

    // backward: dout contiguous, dinp into the marked fused gradient, the input read strided
    bf16_t *d_dout = dev_bf16_from(dout, T * w), *d_dfused = dev_marked(T * ld);
    CK(cudaMemcpy(d_dw, dw0, (size_t)D * 4, cudaMemcpyHostToDevice));
    head_rmsnorm_backward_ld(d_dfused + c0, ld, d_dw, d_dout, w, d_fused + c0, ld, d_w, d_rstd, T, H, D, s);
    sync();
    float *dinp = xmalloc(T * w * 4), *all = download_bf16(d_dfused, T * ld), *got_dw = download_f32(d_dw, (size_t)D);
    got = cols(all, T, ld, c0, w);
    cpu_head_rmsnorm_backward(dinp, dw0, dout, x, wt, got_rstd, T, H, D);
    snprintf(name, sizeof name, "head_rmsnorm_backward_ld dinp T %zu H %d D %d ld %zu", T, H, D, ld);
    check(name, got, dinp, T * w, TOL_BF16);
    check("head_rmsnorm_backward_ld dw (+=)", got_dw, dw0, (size_t)D, TOL_F32 * 10);
    count("head_rmsnorm_backward_ld: other columns", touched_outside(d_dfused, T, ld, c0, w));
    free(fused), free(wt), free(dout), free(dw0), free(x), free(ref), free(rstd), free(got), free(got_rstd);
    free(dinp), free(all), free(got_dw);
    cudaFree(d_fused), cudaFree(d_w), cudaFree(d_out), cudaFree(d_rstd), cudaFree(d_dw), cudaFree(d_dout);
    cudaFree(d_dfused);
}

static void test_swiglu_rows(Rng *r, size_t rows, size_t F, cudaStream_t s) {
    char name[128];
    const size_t n = rows * F;
    float *gu = rand_bf16_values(r, 2 * n, 1.5f), *dh = rand_bf16_values(r, n, 1.0f);
    bf16_t *d_gu = dev_bf16_from(gu, 2 * n), *d_dh = dev_bf16_from(dh, n), *d_h = dmalloc(n * 2);
    poison(d_h, n * 2);
    swiglu_forward_rows(d_h, d_gu, rows, F, s);
    sync();
    float *g = cols(gu, rows, 2 * F, 0, F), *u = cols(gu, rows, 2 * F, F, F), *ref = xmalloc(n * 4);
    float *got = download_bf16(d_h, n);
    cpu_swiglu_forward(ref, g, u, n);
    snprintf(name, sizeof name, "swiglu_forward_rows rows %zu F %zu", rows, F);
    check(name, got, ref, n, TOL_BF16);
    free(got);
    swiglu_backward_rows(d_gu, d_dh, d_gu, rows, F, s); // in place, as the step runs it
    sync();
    float *dg = xmalloc(n * 4), *du = xmalloc(n * 4), *all = download_bf16(d_gu, 2 * n);
    cpu_swiglu_backward(dg, du, dh, g, u, n);
    float *got_g = cols(all, rows, 2 * F, 0, F), *got_u = cols(all, rows, 2 * F, F, F);
    snprintf(name, sizeof name, "swiglu_backward_rows dgate rows %zu F %zu", rows, F);
    check(name, got_g, dg, n, TOL_BF16);
    snprintf(name, sizeof name, "swiglu_backward_rows dup rows %zu F %zu", rows, F);
    check(name, got_u, du, n, TOL_BF16);
    free(gu), free(dh), free(g), free(u), free(ref), free(dg), free(du), free(all), free(got_g), free(got_u);
    cudaFree(d_gu), cudaFree(d_dh), cudaFree(d_h);
}

static void test_fill_at(cudaStream_t s) {
    const size_t n = 100003, first = 4099, m = 50001;
    bf16_t *whole = dmalloc(n * 2), *part = dmalloc(m * 2);
    fill_normal_bf16(whole, n, 77, 0.0f, 0.02f, s);
    fill_normal_bf16_at(part, m, 77, first, 0.0f, 0.02f, s);
    sync();
    uint16_t *a = download_bits(whole, n), *b = download_bits(part, m);
    size_t differ = 0;
    for (size_t i = 0; i < m; i++) differ += a[first + i] != b[i];
    printf("%-44s %zu of %zu differ  %s\n", "fill_normal_bf16_at: a slice of the whole", differ, m, differ ? "FAIL" : "ok");
    if (differ) g_failures++;
    free(a), free(b);
    cudaFree(whole), cudaFree(part);
}

int main(void) {
    gpu_test_require("test_fused");
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    Rng r;
    rng_seed(&r, 20261201);
    // Qwen2.5-7B's head dim with 4 query / 1 key-value heads: fused rows of (4 + 2) x 128
    test_rope_ld(&r, 777, 4, 128, 768, 0, s);   // q
    test_rope_ld(&r, 777, 1, 128, 768, 512, s); // k
    test_rope_ld(&r, 301, 3, 24, 168, 72, s);   // the tiny qwen3 model's k (scalar path)
    test_rope_ld(&r, 301, 2, 8, 40, 16, s);     // the tiny llama's (D 8)
    test_rope_qk_ld(&r, 777, 28, 4, 128, s);    // Qwen2.5-7B's step
    test_rope_qk_ld(&r, 301, 6, 3, 24, s);      // the tiny qwen3's (scalar path)
    test_head_rmsnorm_ld(&r, 777, 4, 128, 768, 0, s);
    test_head_rmsnorm_ld(&r, 777, 1, 128, 768, 512, s);
    test_head_rmsnorm_ld(&r, 301, 3, 24, 168, 72, s);
    test_swiglu_rows(&r, 300, 128, s);    // packed
    test_swiglu_rows(&r, 37, 18944, s);   // Qwen2.5-7B's F
    test_swiglu_rows(&r, 41, 20, s);      // F % 8 != 0: scalar
    test_fill_at(s);
    CK(cudaStreamDestroy(s));
    printf("test_fused: %d failures\n", g_failures);
    return g_failures ? 1 : 0;
}
