/*
 * test_kernels.c: every launcher of kernels/ against its fp32 oracle in reference/cpu_ops.c,
 * then speeds. Inputs are fresh seeded normals rounded to bf16 on the host, so the GPU and the
 * CPU see identical values; outputs are poisoned (all bits set: NaN in bf16 and fp32) before
 * every launch, so an element a kernel forgets to write fails. Error measure: relative L2,
 * ||gpu - cpu|| / ||cpu||; any NaN or Inf where the oracle is finite fails.
 * Tolerances: bf16 outputs ~2^-9 relative rounding per element, so TOL_BF16 = 1e-2 for
 * elementwise/row ops and GEMMs; exact copies (embedding, casts, fills) must match bit for bit.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "../../core/rng.h"
#include "../../kernels/bf16_host.h"
#include "../../kernels/cross_entropy.h"
#include "../../kernels/kernels.h"
#include "../../kernels/matmul.h"
#include "../../reference/cpu_ops.h"
#include "../gpu_test.h"
#include "kernel_test.h"

/* ---- embedding --------------------------------------------------------------------------- */

static void test_embedding(Rng *r, size_t T, int C, int V, cudaStream_t s) {
    char name[96];
    int32_t *tok = xmalloc(T * sizeof(int32_t));
    for (size_t t = 0; t < T; t++) tok[t] = (int32_t)(2 * rng_range(r, 0, V / 2 - 1)); // odd ids absent
    float *wte = rand_bf16_values(r, (size_t)V * C, 1.0f), *dout = rand_bf16_values(r, T * C, 1.0f);
    int32_t *d_tok = dmalloc(T * sizeof(int32_t));
    CK(cudaMemcpy(d_tok, tok, T * sizeof(int32_t), cudaMemcpyHostToDevice));
    bf16_t *d_wte = dev_bf16_from(wte, (size_t)V * C), *d_out = dmalloc(T * C * sizeof(bf16_t));

    poison(d_out, T * C * sizeof(bf16_t));
    embedding_forward(d_out, d_tok, d_wte, T, C, s);
    sync();
    float *ref = xmalloc(T * C * sizeof(float));
    cpu_embedding_forward(ref, tok, wte, T, C);
    float *got = download_bf16(d_out, T * C);
    snprintf(name, sizeof name, "embedding_forward T %zu C %d", T, C);
    check(name, got, ref, T * C, 0);
    free(got);

    // Backward: slots grouped by token (counting sort, slot order kept).
    int32_t *count = calloc((size_t)V + 1, sizeof(int32_t)), *slots = xmalloc(T * sizeof(int32_t));
    for (size_t t = 0; t < T; t++) count[tok[t] + 1]++;
    for (int v = 0; v < V; v++) count[v + 1] += count[v];
    int32_t *fill = xmalloc((size_t)V * sizeof(int32_t));
    memcpy(fill, count, (size_t)V * sizeof(int32_t));
    for (size_t t = 0; t < T; t++) slots[fill[tok[t]]++] = (int32_t)t;
    int32_t *uniq = xmalloc((size_t)V * sizeof(int32_t)), *off = xmalloc(((size_t)V + 1) * sizeof(int32_t));
    int n_uniq = 0;
    for (int v = 0; v < V; v++)
        if (count[v + 1] > count[v]) {
            uniq[n_uniq] = v;
            off[n_uniq++] = count[v];
        }
    off[n_uniq] = (int32_t)T;
    int32_t *d_uniq = dmalloc((size_t)n_uniq * 4), *d_off = dmalloc(((size_t)n_uniq + 1) * 4), *d_slots = dmalloc(T * 4);
    CK(cudaMemcpy(d_uniq, uniq, (size_t)n_uniq * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_off, off, ((size_t)n_uniq + 1) * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_slots, slots, T * 4, cudaMemcpyHostToDevice));
    bf16_t *d_dwte = dmalloc((size_t)V * C * sizeof(bf16_t)), *d_dout = dev_bf16_from(dout, T * C);
    fill_const_bf16(d_dwte, (size_t)V * C, 7.0f, s); // absent rows must keep this
    embedding_backward(d_dwte, d_dout, d_uniq, d_off, d_slots, n_uniq, C, 0, s);
    sync();
    float *dref = calloc((size_t)V * C, sizeof(float));
    cpu_embedding_backward(dref, dout, tok, T, C);
    for (int v = 0; v < V; v++)
        if (count[v + 1] == count[v])
            for (int c = 0; c < C; c++) dref[(size_t)v * C + c] = 7.0f;
    got = download_bf16(d_dwte, (size_t)V * C);
    snprintf(name, sizeof name, "embedding_backward T %zu C %d (%d tokens)", T, C, n_uniq);
    check(name, got, dref, (size_t)V * C, TOL_BF16);
    free(got);
    // accumulate (a tied LM head): present rows gain the sum once more, absent rows keep 7
    embedding_backward(d_dwte, d_dout, d_uniq, d_off, d_slots, n_uniq, C, 1, s);
    sync();
    for (int v = 0; v < V; v++)
        if (count[v + 1] > count[v])
            for (int c = 0; c < C; c++) dref[(size_t)v * C + c] *= 2.0f;
    got = download_bf16(d_dwte, (size_t)V * C);
    snprintf(name, sizeof name, "embedding_backward += T %zu C %d (%d tokens)", T, C, n_uniq);
    check(name, got, dref, (size_t)V * C, TOL_BF16);
    free(got), free(dref), free(ref), free(uniq), free(off), free(fill), free(count), free(slots);
    free(tok), free(wte), free(dout);
    cudaFree(d_tok), cudaFree(d_wte), cudaFree(d_out), cudaFree(d_uniq), cudaFree(d_off), cudaFree(d_slots);
    cudaFree(d_dwte), cudaFree(d_dout);
}

/* ---- rmsnorm ----------------------------------------------------------------------------- */

// dw_off: dw_acc offset by that many floats (1: not 16-byte aligned, the scalar atomics).
static void test_rmsnorm(Rng *r, size_t T, int C, int dw_off, cudaStream_t s) {
    char name[96];
    const float eps = 1e-6f;
    size_t n = T * C;
    float *inp = rand_bf16_values(r, n, 1.0f), *w = rand_bf16_values(r, C, 1.0f);
    float *dout = rand_bf16_values(r, n, 1.0f), *dinp0 = rand_bf16_values(r, n, 1.0f);
    float *dw0 = xmalloc(C * sizeof(float));
    for (int c = 0; c < C; c++) dw0[c] = rng_normal(r);
    bf16_t *d_inp = dev_bf16_from(inp, n), *d_w = dev_bf16_from(w, C), *d_out = dmalloc(n * 2);
    float *d_rstd = dmalloc(T * sizeof(float));
    poison(d_out, n * 2);
    poison(d_rstd, T * sizeof(float));
    rmsnorm_forward(d_out, d_rstd, d_inp, d_w, T, C, eps, s);
    sync();
    float *ref = xmalloc(n * sizeof(float)), *rstd = xmalloc(T * sizeof(float));
    cpu_rmsnorm_forward(ref, rstd, inp, w, T, C, eps);
    float *got = download_bf16(d_out, n), *got_rstd = download_f32(d_rstd, T);
    snprintf(name, sizeof name, "rmsnorm_forward out T %zu C %d", T, C);
    check(name, got, ref, n, TOL_BF16);
    snprintf(name, sizeof name, "rmsnorm_forward rstd T %zu C %d", T, C);
    check(name, got_rstd, rstd, T, TOL_F32);

    // Backward with the oracle's rstd so it is tested on its own; dinp and dw accumulate.
    bf16_t *d_dout = dev_bf16_from(dout, n), *d_dinp = dev_bf16_from(dinp0, n);
    float *b_dw = dmalloc((C + dw_off) * sizeof(float)), *d_dw = b_dw + dw_off;
    CK(cudaMemcpy(d_rstd, rstd, T * sizeof(float), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_dw, dw0, C * sizeof(float), cudaMemcpyHostToDevice));
    rmsnorm_backward(d_dinp, d_dw, d_dout, d_inp, d_w, d_rstd, T, C, s);
    sync();
    cpu_rmsnorm_backward(dinp0, dw0, dout, inp, w, rstd, T, C);
    float *got_dinp = download_bf16(d_dinp, n), *got_dw = download_f32(d_dw, C);
    snprintf(name, sizeof name, "rmsnorm_backward dinp (+=) T %zu C %d", T, C);
    check(name, got_dinp, dinp0, n, TOL_BF16);
    snprintf(name, sizeof name, "rmsnorm_backward dw (+=) T %zu C %d%s", T, C, dw_off ? " dw offset" : "");
    check(name, got_dw, dw0, C, TOL_F32 * 10);
    free(inp), free(w), free(dout), free(dinp0), free(dw0), free(ref), free(rstd), free(got), free(got_rstd);
    free(got_dinp), free(got_dw);
    cudaFree(d_inp), cudaFree(d_w), cudaFree(d_out), cudaFree(d_rstd), cudaFree(d_dout), cudaFree(d_dinp);
    cudaFree(b_dw);
}

/* ---- swiglu ------------------------------------------------------------------------------ */

// off: element offset of every pointer (1: misaligned, scalar path); in_place: dgate = gate.
static void test_swiglu(Rng *r, size_t n, size_t off, int in_place, cudaStream_t s) {
    char name[96];
    float *g = rand_bf16_values(r, n, 2.0f), *u = rand_bf16_values(r, n, 1.0f), *dh = rand_bf16_values(r, n, 1.0f);
    bf16_t *d_g = dmalloc((n + off) * 2), *d_u = dmalloc((n + off) * 2), *d_dh = dmalloc((n + off) * 2);
    bf16_t *d_h = dmalloc((n + off) * 2), *d_dg = dmalloc((n + off) * 2), *d_du = dmalloc((n + off) * 2);
    upload_bf16(d_g + off, g, n), upload_bf16(d_u + off, u, n), upload_bf16(d_dh + off, dh, n);
    poison(d_h, (n + off) * 2);
    swiglu_forward(d_h + off, d_g + off, d_u + off, n, s);
    sync();
    float *ref = xmalloc(n * sizeof(float)), *rdg = xmalloc(n * sizeof(float)), *rdu = xmalloc(n * sizeof(float));
    cpu_swiglu_forward(ref, g, u, n);
    float *got = download_bf16(d_h + off, n);
    snprintf(name, sizeof name, "swiglu_forward n %zu off %zu", n, off);
    check(name, got, ref, n, TOL_BF16);
    free(got);
    bf16_t *dg = in_place ? d_g : d_dg, *du = in_place ? d_u : d_du;
    if (!in_place) poison(d_dg, (n + off) * 2), poison(d_du, (n + off) * 2);
    swiglu_backward(dg + off, du + off, d_dh + off, d_g + off, d_u + off, n, s);
    sync();
    memset(rdg, 0, n * sizeof(float)), memset(rdu, 0, n * sizeof(float));
    cpu_swiglu_backward(rdg, rdu, dh, g, u, n);
    got = download_bf16(dg + off, n);
    snprintf(name, sizeof name, "swiglu_backward dgate n %zu off %zu%s", n, off, in_place ? " in place" : "");
    check(name, got, rdg, n, TOL_BF16);
    free(got);
    got = download_bf16(du + off, n);
    snprintf(name, sizeof name, "swiglu_backward dup n %zu off %zu%s", n, off, in_place ? " in place" : "");
    check(name, got, rdu, n, TOL_BF16);
    free(got), free(g), free(u), free(dh), free(ref), free(rdg), free(rdu);
    cudaFree(d_g), cudaFree(d_u), cudaFree(d_dh), cudaFree(d_h), cudaFree(d_dg), cudaFree(d_du);
}

/* ---- elementwise ------------------------------------------------------------------------- */

static void test_elementwise(Rng *r, cudaStream_t s) {
    const size_t n = 1000003;
    float *a = rand_bf16_values(r, n, 1.0f), *b = rand_bf16_values(r, n, 1.0f), *ref = xmalloc(n * sizeof(float));
    bf16_t *d_a = dev_bf16_from(a, n), *d_b = dev_bf16_from(b, n);
    add_inplace(d_a, d_b, n, s);
    sync();
    for (size_t i = 0; i < n; i++) ref[i] = bf16_to_float(bf16_from_float(a[i] + b[i]));
    float *got = download_bf16(d_a, n);
    check("add_inplace n 1000003 (exact bf16 rounding)", got, ref, n, 0);
    free(got);
    upload_bf16(d_a, a, n);
    add_inplace(d_a + 1, d_b + 1, n - 1, s); // misaligned: scalar path
    sync();
    ref[0] = a[0];
    got = download_bf16(d_a, n);
    check("add_inplace n 1000002 misaligned", got, ref, n, 0);
    free(got);

    float *f = xmalloc(n * sizeof(float)), *d_f = dmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) f[i] = 3.0f * rng_normal(r);
    CK(cudaMemcpy(d_f, f, n * sizeof(float), cudaMemcpyHostToDevice));
    poison(d_a, n * 2);
    cast_f32_to_bf16(d_a, d_f, n, s);
    sync();
    for (size_t i = 0; i < n; i++) ref[i] = bf16_to_float(bf16_from_float(f[i]));
    got = download_bf16(d_a, n);
    check("cast_f32_to_bf16 n 1000003 (exact RNE)", got, ref, n, 0);
    free(got);

    poison(d_a, n * 2);
    fill_const_bf16(d_a, n, -1.5f, s);
    sync();
    for (size_t i = 0; i < n; i++) ref[i] = -1.5f;
    got = download_bf16(d_a, n);
    check("fill_const_bf16 n 1000003", got, ref, n, 0);
    free(got);

    // fill_normal: moments, and the same values whatever n (hence launch shape).
    poison(d_a, n * 2);
    fill_normal_bf16(d_a, n, 1234, 0.5f, 2.0f, s);
    poison(d_b, n * 2);
    fill_normal_bf16(d_b, 1000, 1234, 0.5f, 2.0f, s);
    sync();
    float *big = download_bf16(d_a, n), *small = download_bf16(d_b, 1000);
    check("fill_normal_bf16 launch-shape independence", small, big, 1000, 0);
    double m = 0, v = 0;
    for (size_t i = 0; i < n; i++) m += big[i];
    m /= n;
    for (size_t i = 0; i < n; i++) v += (big[i] - m) * (big[i] - m);
    double sd = sqrt(v / n);
    int ok = fabs(m - 0.5) < 0.01 && fabs(sd - 2.0) < 0.01 && isfinite(m);
    printf("%-44s mean %.4f (0.5) std %.4f (2.0)  %s\n", "fill_normal_bf16 moments n 1000003", m, sd, ok ? "ok" : "FAIL");
    if (!ok) g_failures++;
    fill_normal_bf16(d_b, 1000, 1235, 0.5f, 2.0f, s); // another seed must differ
    sync();
    float *other = download_bf16(d_b, 1000);
    int same = 0;
    for (int i = 0; i < 1000; i++) same += other[i] == small[i];
    printf("%-44s %d of 1000 equal  %s\n", "fill_normal_bf16 seed changes values", same, same < 50 ? "ok" : "FAIL");
    if (same >= 50) g_failures++;
    free(big), free(small), free(other);
    free(a), free(b), free(ref), free(f);
    cudaFree(d_a), cudaFree(d_b), cudaFree(d_f);
}

/* ---- GEMMs ------------------------------------------------------------------------------- */

static void test_gemm(Rng *r, Matmul *mm, int T, int K, int N, size_t off, cudaStream_t s) {
    char name[128];
    size_t nin = (size_t)T * K, nw = (size_t)N * K, nout = (size_t)T * N;
    float *inp = rand_bf16_values(r, nin, 1.0f), *w = rand_bf16_values(r, nw, 0.05f);
    float *bias = rand_bf16_values(r, N, 1.0f), *dout = rand_bf16_values(r, nout, 1.0f);
    float *init_out = rand_bf16_values(r, nout, 1.0f), *init_dinp = rand_bf16_values(r, nin, 1.0f);
    float *init_dw = rand_bf16_values(r, nw, 1.0f), *init_db = rand_bf16_values(r, N, 1.0f);
    bf16_t *b_inp = dmalloc((nin + off) * 2), *b_w = dmalloc((nw + off) * 2), *b_bias = dmalloc((N + off) * 2);
    bf16_t *b_dout = dmalloc((nout + off) * 2), *b_out = dmalloc((nout + off) * 2);
    bf16_t *b_dinp = dmalloc((nin + off) * 2), *b_dw = dmalloc((nw + off) * 2), *b_db = dmalloc((N + off) * 2);
    bf16_t *d_inp = b_inp + off, *d_w = b_w + off, *d_bias = b_bias + off, *d_dout = b_dout + off;
    bf16_t *d_out = b_out + off, *d_dinp = b_dinp + off, *d_dw = b_dw + off, *d_db = b_db + off;
    upload_bf16(d_inp, inp, nin), upload_bf16(d_w, w, nw), upload_bf16(d_bias, bias, N), upload_bf16(d_dout, dout, nout);
    float *ref = xmalloc(nout * sizeof(float)), *got;
    const char *al = off ? " (offset ptrs)" : "";

    // forward with bias (overwrite), then without bias accumulating
    cpu_linear_forward(ref, inp, w, bias, T, K, N);
    poison(d_out, nout * 2);
    matmul_forward(mm, d_out, d_inp, d_w, d_bias, T, K, N, 0, s);
    sync();
    got = download_bf16(d_out, nout);
    snprintf(name, sizeof name, "matmul_forward+bias T %d K %d N %d%s", T, K, N, al);
    check(name, got, ref, nout, TOL_BF16);
    free(got);
    cpu_linear_forward(ref, inp, w, NULL, T, K, N);
    for (size_t i = 0; i < nout; i++) ref[i] += init_out[i];
    upload_bf16(d_out, init_out, nout);
    matmul_forward(mm, d_out, d_inp, d_w, NULL, T, K, N, 1, s);
    sync();
    got = download_bf16(d_out, nout);
    snprintf(name, sizeof name, "matmul_forward accumulate T %d K %d N %d%s", T, K, N, al);
    check(name, got, ref, nout, TOL_BF16);
    free(got);

    // backward: the oracle gives dinp (=), dw (+=), dbias (+=)
    float *rdinp = xmalloc(nin * sizeof(float)), *rdw = calloc(nw, sizeof(float)), *rdb = calloc(N, sizeof(float));
    cpu_linear_backward(rdinp, rdw, rdb, dout, inp, w, T, K, N);
    poison(d_dinp, nin * 2), poison(d_dw, nw * 2), poison(d_db, (size_t)N * 2);
    matmul_backward_input(mm, d_dinp, d_dout, d_w, T, K, N, 0, s);
    matmul_backward_weight(mm, d_dw, d_db, d_dout, d_inp, T, K, N, 0, s);
    sync();
    got = download_bf16(d_dinp, nin);
    snprintf(name, sizeof name, "matmul_backward_input T %d K %d N %d%s", T, K, N, al);
    check(name, got, rdinp, nin, TOL_BF16);
    free(got);
    got = download_bf16(d_dw, nw);
    snprintf(name, sizeof name, "matmul_backward_weight dw T %d K %d N %d%s", T, K, N, al);
    check(name, got, rdw, nw, TOL_BF16);
    free(got);
    got = download_bf16(d_db, N);
    snprintf(name, sizeof name, "matmul_backward_weight dbias T %d N %d%s", T, N, al);
    check(name, got, rdb, N, TOL_BF16);
    free(got);

    // accumulate: += onto random initial values (bias gradient through bias_backward)
    for (size_t i = 0; i < nin; i++) rdinp[i] += init_dinp[i];
    for (size_t i = 0; i < nw; i++) rdw[i] += init_dw[i];
    for (int i = 0; i < N; i++) rdb[i] += init_db[i];
    upload_bf16(d_dinp, init_dinp, nin), upload_bf16(d_dw, init_dw, nw), upload_bf16(d_db, init_db, N);
    matmul_backward_input(mm, d_dinp, d_dout, d_w, T, K, N, 1, s);
    matmul_backward_weight(mm, d_dw, d_db, d_dout, d_inp, T, K, N, 1, s);
    sync();
    got = download_bf16(d_dinp, nin);
    snprintf(name, sizeof name, "matmul_backward_input accumulate%s", al);
    check(name, got, rdinp, nin, TOL_BF16);
    free(got);
    got = download_bf16(d_dw, nw);
    snprintf(name, sizeof name, "matmul_backward_weight dw accumulate%s", al);
    check(name, got, rdw, nw, TOL_BF16);
    free(got);
    got = download_bf16(d_db, N);
    snprintf(name, sizeof name, "matmul_backward_weight dbias accumulate%s", al);
    check(name, got, rdb, N, TOL_BF16);
    free(got);

    free(inp), free(w), free(bias), free(dout), free(init_out), free(init_dinp), free(init_dw), free(init_db);
    free(ref), free(rdinp), free(rdw), free(rdb);
    cudaFree(b_inp), cudaFree(b_w), cudaFree(b_bias), cudaFree(b_dout), cudaFree(b_out), cudaFree(b_dinp);
    cudaFree(b_dw), cudaFree(b_db);
}

/* ---- fused linear cross-entropy ------------------------------------------------------------ */

// Loss rows: sorted, with runs (a row repeated `rep` times, like a shared prompt row) placed so
// that some runs cross chunk boundaries. weighted: every pair a weight in 1..16 (the paths a
// tree's shared loss term stands for), else none (NULL).
static void test_fused_ce(Rng *r, Matmul *mm, int T, int C, int V, int n_loss, int chunk, int weighted, cudaStream_t s) {
    char name[128];
    int32_t *rows = xmalloc((size_t)n_loss * 4), *tgt = xmalloc((size_t)n_loss * 4), *wt = xmalloc((size_t)n_loss * 4);
    int i = 0, row = 0;
    while (i < n_loss) {
        int rep = rng_range(r, 0, 3) == 0 ? (int)rng_range(r, 2, 7) : 1;
        for (int j = 0; j < rep && i < n_loss; j++) rows[i++] = row;
        row += (int)rng_range(r, 1, 2);
        if (row >= T) row = T - 1; // the tail repeats the last row: still sorted
    }
    for (int j = 0; j < n_loss; j++) tgt[j] = (int32_t)rng_range(r, 0, V - 1);
    for (int j = 0; j < n_loss; j++) wt[j] = weighted ? (int32_t)rng_range(r, 1, 16) : 1;
    // W ~ N(0, 1/C): logits ~ N(0, 1), as with the 7B head (0.02 * sqrt(3584) = 1.2)
    float *hidden = rand_bf16_values(r, (size_t)T * C, 1.0f), *w = rand_bf16_values(r, (size_t)V * C, 1.0f / sqrtf(C));
    float *dh = rand_bf16_values(r, (size_t)T * C, 0.01f), *dw = calloc((size_t)V * C, sizeof(float));
    bf16_t *d_hidden = dev_bf16_from(hidden, (size_t)T * C), *d_w = dev_bf16_from(w, (size_t)V * C);
    bf16_t *d_dh = dev_bf16_from(dh, (size_t)T * C), *d_dw = dmalloc((size_t)V * C * 2);
    int32_t *d_rows = dmalloc((size_t)n_loss * 4), *d_tgt = dmalloc((size_t)n_loss * 4), *d_wt = dmalloc((size_t)n_loss * 4);
    CK(cudaMemcpy(d_wt, wt, (size_t)n_loss * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_rows, rows, (size_t)n_loss * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_tgt, tgt, (size_t)n_loss * 4, cudaMemcpyHostToDevice));
    size_t sb = fused_ce_scratch_bytes(chunk, C, V);
    void *scratch = dmalloc(sb);
    double *d_loss = dmalloc(sizeof(double)), loss = 0;
    poison(d_dw, (size_t)V * C * 2);
    poison(scratch, sb);
    CK(cudaMemset(d_loss, 0x7f, sizeof(double))); // garbage: the function must set it
    fused_linear_cross_entropy(mm, d_loss, d_dh, d_dw, d_hidden, d_w, d_rows, d_tgt, weighted ? d_wt : NULL, n_loss, C,
                               V, chunk, scratch, s);
    sync();
    CK(cudaMemcpy(&loss, d_loss, sizeof loss, cudaMemcpyDeviceToHost));
    double ref_loss = cpu_linear_cross_entropy(dh, dw, hidden, w, rows, tgt, weighted ? wt : NULL, (size_t)n_loss, C, V);
    snprintf(name, sizeof name, "fused_ce loss T %d C %d V %d n %d chunk %d%s", T, C, V, n_loss, chunk,
             weighted ? " weighted" : "");
    check_scalar(name, loss, ref_loss, TOL_LOSS);
    float *got = download_bf16(d_dh, (size_t)T * C);
    snprintf(name, sizeof name, "fused_ce dhidden (+=, repeated rows)");
    check(name, got, dh, (size_t)T * C, TOL_CE_GRAD);
    free(got);
    got = download_bf16(d_dw, (size_t)V * C);
    snprintf(name, sizeof name, "fused_ce dw (%d chunks)", (n_loss + chunk - 1) / chunk);
    check(name, got, dw, (size_t)V * C, TOL_CE_GRAD);
    free(got), free(rows), free(tgt), free(wt), free(hidden), free(w), free(dh), free(dw);
    cudaFree(d_hidden), cudaFree(d_w), cudaFree(d_dh), cudaFree(d_dw), cudaFree(d_rows), cudaFree(d_tgt), cudaFree(d_wt);
    cudaFree(scratch), cudaFree(d_loss);
}

/* ---- size_t indexing beyond 2^31 elements ---------------------------------------------------- */

static float read_bf16_at(const bf16_t *d, size_t i) {
    bf16_t b;
    CK(cudaMemcpy(&b, d + i, 2, cudaMemcpyDeviceToHost));
    return bf16_to_float(b);
}

static void test_large_index(cudaStream_t s) {
    const size_t n = ((size_t)1 << 31) + 1000;
    bf16_t *g = NULL, *u = NULL, *h = NULL, *dh = NULL;
    if (cudaMalloc((void **)&g, n * 2) != cudaSuccess || cudaMalloc((void **)&u, n * 2) != cudaSuccess ||
        cudaMalloc((void **)&h, n * 2) != cudaSuccess || cudaMalloc((void **)&dh, n * 2) != cudaSuccess) {
        printf("large index: could not allocate 4 x %zu bytes: FAIL\n", n * 2);
        g_failures++;
        cudaFree(g), cudaFree(u), cudaFree(h), cudaFree(dh);
        cudaGetLastError();
        return;
    }
    fill_normal_bf16(g, n, 1, 0.0f, 2.0f, s);
    fill_normal_bf16(u, n, 2, 0.0f, 1.0f, s);
    fill_normal_bf16(dh, n, 3, 0.0f, 1.0f, s);
    poison(h, n * 2);
    swiglu_forward(h, g, u, n, s);
    sync();
    size_t idx[] = {0, 12345, ((size_t)1 << 31) - 1, (size_t)1 << 31, ((size_t)1 << 31) + 7, ((size_t)1 << 31) + 8,
                    n - 9, n - 1};
    const int n_idx = (int)(sizeof idx / sizeof idx[0]);
    float gv[8], uv[8], dv[8], ref[8], got[8];
    for (int k = 0; k < n_idx; k++) {
        gv[k] = read_bf16_at(g, idx[k]), uv[k] = read_bf16_at(u, idx[k]), dv[k] = read_bf16_at(dh, idx[k]);
        got[k] = read_bf16_at(h, idx[k]);
    }
    cpu_swiglu_forward(ref, gv, uv, (size_t)n_idx);
    check("swiglu_forward n 2^31+1000 (8 indices)", got, ref, (size_t)n_idx, TOL_BF16);
    swiglu_backward(g, u, dh, g, u, n, s); // in place
    sync();
    float rdg[8] = {0}, rdu[8] = {0}, gdg[8], gdu[8];
    cpu_swiglu_backward(rdg, rdu, dv, gv, uv, (size_t)n_idx);
    for (int k = 0; k < n_idx; k++) gdg[k] = read_bf16_at(g, idx[k]), gdu[k] = read_bf16_at(u, idx[k]);
    check("swiglu_backward dgate n 2^31+1000 in place", gdg, rdg, (size_t)n_idx, TOL_BF16);
    check("swiglu_backward dup n 2^31+1000 in place", gdu, rdu, (size_t)n_idx, TOL_BF16);
    cudaFree(g), cudaFree(u), cudaFree(h), cudaFree(dh);

    // rmsnorm and embedding rows past element 2^31: T = 600,000 rows of 3584, last rows checked.
    const size_t T = 600000;
    const int C = 3584;
    bf16_t *inp = dmalloc(T * C * 2), *out = dmalloc(T * C * 2), *w = dmalloc(C * 2);
    float *rstd = dmalloc(T * 4);
    fill_normal_bf16(inp, T * C, 4, 0.0f, 1.0f, s);
    fill_normal_bf16(w, C, 5, 1.0f, 0.1f, s);
    poison(out, T * C * 2);
    rmsnorm_forward(out, rstd, inp, w, T, C, 1e-6f, s);
    sync();
    size_t t0 = T - 2;
    float *hin = download_bf16(inp + t0 * C, 2 * (size_t)C), *hw = download_bf16(w, C);
    float *hout = download_bf16(out + t0 * C, 2 * (size_t)C), *rout = xmalloc(2 * C * sizeof(float)), rr[2];
    cpu_rmsnorm_forward(rout, rr, hin, hw, 2, C, 1e-6f);
    check("rmsnorm_forward rows past 2^31 elements", hout, rout, 2 * (size_t)C, TOL_BF16);
    free(hin), free(hw), free(hout), free(rout);
    cudaFree(inp), cudaFree(out), cudaFree(w), cudaFree(rstd);
}

/* ---- speed ------------------------------------------------------------------------------- */

typedef struct Timer { cudaEvent_t a, b; } Timer;

static float timer_ms(Timer *t) {
    float ms = 0;
    CK(cudaEventSynchronize(t->b));
    CK(cudaEventElapsedTime(&ms, t->a, t->b));
    return ms;
}

#define TIME_REPS 10
#define TIMED(tm, s, ms_out, stmt)                                                                                \
    do {                                                                                                          \
        stmt;                                                                                                     \
        stmt; /* warm-up */                                                                                       \
        CK(cudaEventRecord((tm)->a, s));                                                                          \
        for (int rep_ = 0; rep_ < TIME_REPS; rep_++) { stmt; }                                                    \
        CK(cudaEventRecord((tm)->b, s));                                                                          \
        ms_out = timer_ms(tm) / TIME_REPS;                                                                        \
    } while (0)

static void bench(Matmul *mm, cudaStream_t s) {
    Timer tm;
    CK(cudaEventCreate(&tm.a));
    CK(cudaEventCreate(&tm.b));
    float ms;
    const size_t T = 16384;
    const int C = 3584, F = 18944, V = 152064;
    bf16_t *x = dmalloc(T * F * 2), *y = dmalloc(T * F * 2), *z = dmalloc(T * F * 2);
    bf16_t *w = dmalloc((size_t)V * C * 2), *dw = dmalloc((size_t)V * C * 2);
    float *rstd = dmalloc(T * 4), *dwacc = dmalloc(C * 4);
    fill_normal_bf16(x, T * F, 1, 0, 1, s), fill_normal_bf16(y, T * F, 2, 0, 1, s), fill_normal_bf16(z, T * F, 3, 0, 1, s);
    fill_normal_bf16(w, (size_t)V * C, 4, 0, 0.02f, s);
    CK(cudaMemset(dwacc, 0, C * 4));
    printf("\nspeed (H200 peak ~4.8 TB/s HBM, ~990 dense bf16 TFLOP/s)\n");

    // rows of the 16k x 16 bench, of the 512x512 cell (6 x 1024 slots), and qwen2.5-0.5b's C
    const size_t norm_T[3] = {T, 6144, 6144};
    const int norm_C[3] = {C, C, 896};
    for (int i = 0; i < 3; i++) {
        const size_t nt = norm_T[i];
        const int nc = norm_C[i];
        TIMED(&tm, s, ms, rmsnorm_forward(y, rstd, x, w, nt, nc, 1e-6f, s));
        printf("rmsnorm_forward   T %zu C %d: %8.3f ms %7.0f GB/s\n", nt, nc, ms, 2.0 * nt * nc * 2 / ms / 1e6);
        TIMED(&tm, s, ms, rmsnorm_backward(z, dwacc, y, x, w, rstd, nt, nc, s));
        printf("rmsnorm_backward  T %zu C %d: %8.3f ms %7.0f GB/s\n", nt, nc, ms, 4.0 * nt * nc * 2 / ms / 1e6);
    }
    TIMED(&tm, s, ms, swiglu_forward(z, x, y, T * F, s));
    printf("swiglu_forward    n %zu: %8.3f ms %7.0f GB/s\n", T * F, ms, 3.0 * T * F * 2 / ms / 1e6);
    TIMED(&tm, s, ms, swiglu_backward(x, y, z, x, y, T * F, s));
    printf("swiglu_backward   n %zu (in place): %8.3f ms %7.0f GB/s\n", T * F, ms, 5.0 * T * F * 2 / ms / 1e6);
    fill_normal_bf16(x, T * F, 1, 0, 1, s), fill_normal_bf16(y, T * F, 2, 0, 1, s);
    int32_t *pos = dmalloc(T * 4);
    CK(cudaMemset(pos, 0, T * 4));
    TIMED(&tm, s, ms, rope_forward(x, pos, T, 28, 128, 1e6, s));
    printf("rope_forward      T %zu H 28 D 128: %8.3f ms %7.0f GB/s\n", T, ms, 2.0 * T * 28 * 128 * 2 / ms / 1e6);
    { // the step's form: 7B's q (28 heads) and k (4) in one launch, positions 0 .. 1023 per sequence
        int32_t *hpos = xmalloc(T * 4);
        for (size_t t = 0; t < T; t++) hpos[t] = (int32_t)(t % 1024);
        CK(cudaMemcpy(pos, hpos, T * 4, cudaMemcpyHostToDevice));
        free(hpos);
        double hfreq[64], *freq = dmalloc(sizeof hfreq);
        rope_inv_freq(1e6, NULL, 128, hfreq);
        CK(cudaMemcpy(freq, hfreq, sizeof hfreq, cudaMemcpyHostToDevice));
        const size_t rope_T[2] = {T, 6144};
        for (int i = 0; i < 2; i++) {
            const size_t nt = rope_T[i];
            TIMED(&tm, s, ms, rope_qk_forward_freq(x, y, pos, nt, 28, 4, 128, freq, s));
            printf("rope_qk_forward   T %zu Hq 28 Hkv 4 D 128: %8.3f ms %7.0f GB/s\n", nt, ms,
                   2.0 * nt * 32 * 128 * 2 / ms / 1e6);
            TIMED(&tm, s, ms, rope_qk_backward_freq(x, y, pos, nt, 28, 4, 128, freq, s));
            printf("rope_qk_backward  T %zu Hq 28 Hkv 4 D 128: %8.3f ms %7.0f GB/s\n", nt, ms,
                   2.0 * nt * 32 * 128 * 2 / ms / 1e6);
        }
        cudaFree(freq);
    }
    TIMED(&tm, s, ms, add_inplace(x, y, T * C, s));
    printf("add_inplace       n %zu: %8.3f ms %7.0f GB/s\n", T * C, ms, 3.0 * T * C * 2 / ms / 1e6);

    double flop = 2.0 * T * C * F;
    fill_normal_bf16(x, T * F, 1, 0, 1, s), fill_normal_bf16(y, T * F, 2, 0, 1, s);
    TIMED(&tm, s, ms, matmul_forward(mm, z, x, w, NULL, (int)T, C, F, 0, s));
    printf("matmul_forward          T %zu K %d N %d: %8.3f ms %6.0f TFLOP/s\n", T, C, F, ms, flop / ms / 1e9);
    TIMED(&tm, s, ms, matmul_forward(mm, z, x, w, w, (int)T, C, F, 0, s));
    printf("matmul_forward+bias     T %zu K %d N %d: %8.3f ms %6.0f TFLOP/s\n", T, C, F, ms, flop / ms / 1e9);
    TIMED(&tm, s, ms, matmul_backward_input(mm, x, z, w, (int)T, C, F, 0, s));
    printf("matmul_backward_input   T %zu K %d N %d: %8.3f ms %6.0f TFLOP/s\n", T, C, F, ms, flop / ms / 1e9);
    TIMED(&tm, s, ms, matmul_backward_weight(mm, dw, NULL, z, x, (int)T, C, F, 1, s));
    printf("matmul_backward_weight  T %zu K %d N %d acc: %8.3f ms %6.0f TFLOP/s\n", T, C, F, ms, flop / ms / 1e9);
    TIMED(&tm, s, ms, matmul_forward(mm, z, x, w, NULL, (int)T, F, C, 0, s));
    printf("matmul_forward (down)   T %zu K %d N %d: %8.3f ms %6.0f TFLOP/s\n", T, F, C, ms, flop / ms / 1e9);

    // fused CE at 7B shape: 8192 loss rows of 16384, some repeated
    const int n_loss = 8192, chunk = 2048;
    int32_t *rows = xmalloc(n_loss * 4), *tgt = xmalloc(n_loss * 4);
    for (int i = 0; i < n_loss; i++) rows[i] = i < 64 ? 0 : 2 * i - 64, tgt[i] = (int32_t)((i * 7919) % V);
    int32_t *d_rows = dmalloc(n_loss * 4), *d_tgt = dmalloc(n_loss * 4);
    CK(cudaMemcpy(d_rows, rows, n_loss * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_tgt, tgt, n_loss * 4, cudaMemcpyHostToDevice));
    void *scratch = dmalloc(fused_ce_scratch_bytes(chunk, C, V));
    double *loss = dmalloc(8);
    fill_normal_bf16(x, T * C, 5, 0, 1, s);
    TIMED(&tm, s, ms,
          fused_linear_cross_entropy(mm, loss, y, dw, x, w, d_rows, d_tgt, NULL, n_loss, C, V, chunk, scratch, s));
    double ce_flop = 6.0 * n_loss * C * V;
    printf("fused_ce n %d C %d V %d chunk %d (scratch %.0f MiB): %8.3f ms %6.0f TFLOP/s\n", n_loss, C, V, chunk,
           fused_ce_scratch_bytes(chunk, C, V) / 1048576.0, ms, ce_flop / ms / 1e9);
    sync();
    free(rows), free(tgt);
    cudaFree(x), cudaFree(y), cudaFree(z), cudaFree(w), cudaFree(dw), cudaFree(rstd), cudaFree(dwacc), cudaFree(pos);
    cudaFree(d_rows), cudaFree(d_tgt), cudaFree(scratch), cudaFree(loss);
    cudaEventDestroy(tm.a), cudaEventDestroy(tm.b);
}

static int wanted(const char *only, const char *group) {
    if (!only) return 1;
    size_t n = strlen(group);
    for (const char *p = only; (p = strstr(p, group)) != NULL; p += n)
        if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
    return 0;
}

// Options: --no-bench (skip speeds), --no-large (skip the 2^31-element buffers), --only G1,G2
// (groups: embedding rmsnorm rope swiglu elementwise gemm ce large bench scalar).
int main(int argc, char **argv) {
    gpu_test_require("test_kernels");
    int do_bench = 1, do_large = 1;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-bench") == 0) do_bench = 0;
        else if (strcmp(argv[i], "--no-large") == 0) do_large = 0;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
        else {
            fprintf(stderr, "usage: test_kernels [--no-bench] [--no-large] [--only group,...]\n");
            return 2;
        }
    }
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    Rng r;
    rng_seed(&r, 20261128);
    Matmul *mm = matmul_create((size_t)32 << 20);

    if (wanted(only, "embedding")) test_embedding(&r, 1000, 64, 400, s), test_embedding(&r, 777, 3584, 300, s);
    if (wanted(only, "rmsnorm")) {
        test_rmsnorm(&r, 1000, 64, 0, s);
        test_rmsnorm(&r, 777, 3584, 0, s);   // 7B; T not a multiple of the resident blocks
        test_rmsnorm(&r, 3001, 3584, 1, s);  // several rows per block; dw_acc not 16-byte aligned
        test_rmsnorm(&r, 2001, 896, 0, s);   // qwen2.5-0.5b
        test_rmsnorm(&r, 1, 3584, 0, s);     // one row
        test_rmsnorm(&r, 60, 8192, 0, s);    // two packs per thread
        test_rmsnorm(&r, 20, 20000, 0, s);   // four packs per thread, 1024 threads
    }
    if (wanted(only, "rope")) {
        check_rope(&r, 777, 3, 0, 128, 32767, NULL, s);
        check_rope(&r, 777, 28, 4, 128, 32767, NULL, s); // 7B's q and k in one launch; T odd
        check_rope(&r, 301, 14, 2, 64, 32767, NULL, s);  // qwen2.5-0.5b
        check_rope(&r, 333, 5, 0, 64, 9000, NULL, s);    // head dim 64, heads not a multiple of 4
        check_rope(&r, 99, 6, 2, 256, 9000, NULL, s);    // two frequency packs per 16 threads
        check_rope(&r, 130, 3, 1, 32, 9000, NULL, s);    // two packs per head, more groups than heads
    }
    if (wanted(only, "swiglu")) test_swiglu(&r, 1000003, 0, 0, s), test_swiglu(&r, 65536 + 5, 0, 1, s);
    if (wanted(only, "elementwise")) test_elementwise(&r, s);
    if (wanted(only, "gemm")) {
        test_gemm(&r, mm, 333, 256, 200, 0, s);
        test_gemm(&r, mm, 300, 3584, 512, 0, s);
        test_gemm(&r, mm, 77, 72, 40, 8, s);
    }
    if (wanted(only, "ce")) {
        test_fused_ce(&r, mm, 300, 64, 1000, 523, 100, 0, s);
        test_fused_ce(&r, mm, 300, 64, 1000, 523, 100, 1, s);
        test_fused_ce(&r, mm, 200, 3584, 2048, 100, 32, 0, s);
    }
    if (do_large && wanted(only, "large")) test_large_index(s);
    if (do_bench && wanted(only, "bench")) bench(mm, s);
    // Scalar paths (row lengths not multiples of 8, misaligned pointers) last: a library
    // refusal there must not hide the results above.
    if (wanted(only, "scalar")) {
        test_embedding(&r, 50, 60, 100, s);
        test_rmsnorm(&r, 33, 100, 0, s);
        test_rmsnorm(&r, 41, 3000, 0, s); // C % 8 != 0: four scalar packs per thread
        check_rope(&r, 301, 4, 0, 40, 4000, NULL, s);
        check_rope(&r, 301, 4, 2, 24, 4000, NULL, s); // q and k, D / 2 not a multiple of 8
        test_swiglu(&r, 1000003, 1, 0, s);
        test_fused_ce(&r, mm, 200, 128, 997, 301, 64, 0, s);
    }

    matmul_destroy(mm);
    CK(cudaStreamDestroy(s));
    printf("\ntest_kernels: %d failure(s)\n", g_failures);
    return g_failures ? 1 : 0;
}
