/*
 * test_attn_simple: the "simple" GPU attention backend against cpu_attention_forward/backward
 * (reference/cpu_ops.h), forward and backward, for all four layouts of flat groups (groups_make
 * + layout_build: K = 1, 2, 4) and of random forests of depth 3 and 4 (layout_build_forest),
 * GQA 4/2 heads with D = 16 and 28/4 heads with D = 128, uneven lengths, long enough that blocks
 * straddle sequences and keys span several tiles.
 *
 * Both sides see the same bf16-rounded q, k, v, dO; the CPU works in fp32/double. Outputs are
 * poisoned (0xFF bytes: bf16 / fp32 NaN) before every call, so an element the backend fails to
 * write shows up as NaN. Tolerances, as max |gpu - cpu| / max |cpu| per tensor: o 1e-2 (one
 * bf16 rounding of each output is 2^-9 relative), dq dk dv 2e-2 (bf16 outputs, and the GPU's
 * Di = rowsum(dO * O) uses its bf16 O); lse absolute 1e-3 (fp32 on both sides, different
 * summation order). Padding slots: o == 0, lse == -inf, dq == dk == dv == 0 exactly.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "../../attention/attention.h"
#include "../../reference/cpu_ops.h"
#include "../gpu_test.h"
#include "gpu_step_test.h"
#include "../cpu/tiny.h"

static void cuda_ok(cudaError_t e, const char *what) {
    if (e != cudaSuccess) { printf("CUDA error (%s): %s\n", what, cudaGetErrorString(e)); exit(1); }
}

static void *dev_copy(const void *h, size_t bytes) {
    void *d = NULL;
    cuda_ok(cudaMalloc(&d, bytes), "cudaMalloc");
    if (h) cuda_ok(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice), "upload");
    return d;
}

static void download_bf16(float *out, const void *d, size_t n) {
    uint16_t *h = malloc(n * sizeof *h);
    cuda_ok(cudaMemcpy(h, d, n * sizeof *h, cudaMemcpyDeviceToHost), "download");
    for (size_t i = 0; i < n; i++) out[i] = bf16_to_float(h[i]);
    free(h);
}

static void run_layout(const Layout *lp, int Hq, int Hkv, int D, uint64_t seed, const char *tag) {
    const Layout l = *lp;
    const size_t T = l.n_slots, nq = T * Hq * D, nk = T * Hkv * D, nl = T * Hq;
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *dout = malloc(nq * 4);
    uint16_t *qb = malloc(nq * 2), *kb = malloc(nk * 2), *vb = malloc(nk * 2), *dob = malloc(nq * 2);
    float *out = malloc(nq * 4), *lse = malloc(nl * 4), *dq = malloc(nq * 4), *dk = malloc(nk * 4), *dv = malloc(nk * 4);
    float *g_out = malloc(nq * 4), *g_lse = malloc(nl * 4), *g_dq = malloc(nq * 4), *g_dk = malloc(nk * 4),
          *g_dv = malloc(nk * 4);
    Rng r;
    rng_seed(&r, seed * 31 + 7);
    random_bf16(q, qb, nq, 1.0f, &r);
    random_bf16(k, kb, nk, 1.0f, &r);
    random_bf16(v, vb, nk, 1.0f, &r);
    random_bf16(dout, dob, nq, 1.0f, &r);
    cpu_attention_forward(out, lse, q, k, v, &l, Hq, Hkv, D);
    cpu_attention_backward(dq, dk, dv, dout, q, k, v, out, lse, &l, Hq, Hkv, D);

    void *d_q = dev_copy(qb, nq * 2), *d_k = dev_copy(kb, nk * 2), *d_v = dev_copy(vb, nk * 2);
    void *d_do = dev_copy(dob, nq * 2);
    void *d_o = dev_copy(NULL, nq * 2), *d_lse = dev_copy(NULL, nl * 4);
    void *d_dq = dev_copy(NULL, nq * 2), *d_dk = dev_copy(NULL, nk * 2), *d_dv = dev_copy(NULL, nk * 2);
    AttnMask mask = {&l, dev_copy(l.kv_lo, T * 4), dev_copy(l.shared_end, T * 4), dev_copy(l.seg_lo, T * 4), 0};
    cuda_ok(cudaMemset(d_o, 0xff, nq * 2), "poison");
    cuda_ok(cudaMemset(d_lse, 0xff, nl * 4), "poison");
    cuda_ok(cudaMemset(d_dq, 0xff, nq * 2), "poison");
    cuda_ok(cudaMemset(d_dk, 0xff, nk * 2), "poison");
    cuda_ok(cudaMemset(d_dv, 0xff, nk * 2), "poison");

    char err[256] = "";
    AttnShape shape = {Hq, Hkv, D};
    AttnBackend *b = attn_simple_ops.create(&shape, NULL, err, sizeof err);
    AttnMemory mem = {1, {1, 1}, {1, 1}};
    int ok = b && attn_simple_ops.prepare(b, &mask, &mem, err, sizeof err) == 0 &&
             attn_simple_ops.forward(b, d_q, d_k, d_v, d_o, d_lse, 0, err, sizeof err) == 0 &&
             attn_simple_ops.backward(b, d_q, d_k, d_v, d_o, d_do, d_lse, d_dq, d_dk, d_dv, 0, err, sizeof err) == 0;
    CHECK(ok, "simple backend failed: %s", err);
    cuda_ok(cudaDeviceSynchronize(), "attention kernels");
    CHECK(mem.held == T * (size_t)Hq * 4 + T * 4, "held %zu, expected %zu", mem.held, T * (size_t)Hq * 4 + T * 4);
    CHECK(mem.scratch[ATTN_FWD] == 0 && mem.scratch[ATTN_BWD] == 0, "scratch %zu / %zu, expected 0 (simple keeps its own buffers)",
          mem.scratch[ATTN_FWD], mem.scratch[ATTN_BWD]);

    download_bf16(g_out, d_o, nq);
    download_bf16(g_dq, d_dq, nq);
    download_bf16(g_dk, d_dk, nk);
    download_bf16(g_dv, d_dv, nk);
    cuda_ok(cudaMemcpy(g_lse, d_lse, nl * 4, cudaMemcpyDeviceToHost), "download lse");

    double e_o = rel_to_max(g_out, out, nq), e_dq = rel_to_max(g_dq, dq, nq);
    double e_dk = rel_to_max(g_dk, dk, nk), e_dv = rel_to_max(g_dv, dv, nk), e_lse = 0.0;
    int pad_bad = 0;
    for (size_t t = 0; t < T; t++) {
        int pad = l.kv_lo[t] < 0;
        for (int h = 0; h < Hq; h++) {
            float a = g_lse[t * Hq + h], c = lse[t * Hq + h];
            if (pad) { pad_bad += !(isinf(a) && a < 0); continue; }
            double d = fabs((double)a - c);
            if (!(d <= e_lse)) e_lse = d; // NaN sticks
        }
        if (!pad) continue;
        for (size_t i = 0; i < (size_t)Hq * D; i++) pad_bad += g_out[t * Hq * D + i] != 0.0f || g_dq[t * Hq * D + i] != 0.0f;
        for (size_t i = 0; i < (size_t)Hkv * D; i++) pad_bad += g_dk[t * Hkv * D + i] != 0.0f || g_dv[t * Hkv * D + i] != 0.0f;
    }
    printf("%-6s %-12s Hq %2d Hkv %d D %3d T %5zu pairs %8zu: o %.2e lse %.2e dq %.2e dk %.2e dv %.2e\n",
           strategy_name(l.strategy), tag, Hq, Hkv, D, T, l.attn_pairs, e_o, e_lse, e_dq, e_dk, e_dv);
    CHECK(e_o <= 1e-2, "o error %.3e > 1e-2", e_o);
    CHECK(e_lse <= 1e-3, "lse error %.3e > 1e-3", e_lse);
    CHECK(e_dq <= 2e-2, "dq error %.3e > 2e-2", e_dq);
    CHECK(e_dk <= 2e-2, "dk error %.3e > 2e-2", e_dk);
    CHECK(e_dv <= 2e-2, "dv error %.3e > 2e-2", e_dv);
    CHECK(pad_bad == 0, "%d padding values not zero / -inf", pad_bad);

    if (b) attn_simple_ops.destroy(b);
    void *dev[] = {d_q, d_k, d_v, d_do, d_o, d_lse, d_dq, d_dk, d_dv,
                   (void *)mask.kv_lo, (void *)mask.shared_end, (void *)mask.seg_lo};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) cudaFree(dev[i]);
    void *host[] = {q, k, v, dout, qb, kb, vb, dob, out, lse, dq, dk, dv, g_out, g_lse, g_dq, g_dk, g_dv};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++) free(host[i]);
}

static void run_case(Strategy st, int Hq, int Hkv, int D, int B, int K, int max_p, int max_c, uint64_t seed) {
    GroupBatch g;
    Layout l;
    if (test_random_groups(&g, B, K, max_p, max_c, 1000, seed ^ 0xc2c2ull, seed) != 0 || layout_build(&l, st, &g) != 0) {
        CHECK(0, "groups_make / layout_build failed");
        return;
    }
    char tag[16];
    snprintf(tag, sizeof tag, "K %d", K);
    run_layout(&l, Hq, Hkv, D, seed, tag);
    layout_free(&l);
    groups_free(&g);
}

// A random forest of `depth` levels (tests/cpu/tiny.h), segments up to max_len tokens.
static void run_forest(Strategy st, int Hq, int Hkv, int D, int depth, int max_len, uint64_t seed) {
    Forest f;
    Layout l;
    if (tiny_forest(&f, depth, max_len, 1000, seed) != 0 || layout_build_forest(&l, st, &f) != 0) {
        CHECK(0, "tiny_forest / layout_build_forest failed");
        return;
    }
    char tag[32];
    snprintf(tag, sizeof tag, "depth %d/%d", depth, l.max_depth);
    run_layout(&l, Hq, Hkv, D, seed, tag);
    layout_free(&l);
    forest_free(&f);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0); // line by line, also into a log that a timeout cuts
    gpu_test_require("test_attn_simple");
    const int shapes[][3] = {{4, 2, 16}, {28, 4, 128}};
    const int ks[] = {1, 2, 4};
    uint64_t seed = 1;
    for (int si = 0; si < 2; si++)
        for (int ki = 0; ki < 3; ki++)
            for (int st = 0; st < STRATEGY_COUNT; st++) {
                // uneven lengths; prompts long enough to span several 32-key tiles
                run_case((Strategy)st, shapes[si][0], shapes[si][1], shapes[si][2], 3, ks[ki], 90, 45, seed);
                seed += st == STRATEGY_COUNT - 1; // the same groups for the three strategies
            }
    // a single short sequence (one query tile, fewer keys than a tile) and a batch of length-1 rows
    run_case(STRATEGY_PREFIX, 4, 2, 16, 1, 2, 3, 2, 99);
    run_case(STRATEGY_PADDED, 28, 4, 128, 2, 4, 1, 1, 100);
    // forests of depth 3 and 4 (tree layouts whose bounds are a superset of the mask), all four
    // layouts, segments long enough that a node's keys span several tiles
    for (int depth = 3; depth <= 4; depth++)
        for (uint64_t fs = 1; fs <= 2; fs++)
            for (int st = 0; st < STRATEGY_COUNT; st++) {
                run_forest((Strategy)st, 4, 2, 16, depth, 40, 200 + fs * 10 + (uint64_t)depth);
                run_forest((Strategy)st, 28, 4, 128, depth, 40, 300 + fs * 10 + (uint64_t)depth);
            }
    if (failures) { printf("test_attn_simple: %d failures\n", failures); return 1; }
    printf("test_attn_simple: all passed\n");
    return 0;
}
