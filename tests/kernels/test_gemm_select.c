/*
 * test_gemm_select: the cuBLASLt algorithm chosen by timing (MATMUL_SELECT_TIMED) gives the
 * results the heuristic's first answer gives, both within bf16 tolerance of the fp32 CPU
 * reference (reference/cpu_ops.c), for every GEMM of the step: forward with the bias epilogue,
 * accumulating, and with a separate residual as C (matmul_forward_residual, the residual untouched), backward-input overwriting and accumulating, backward-weight with the BGRADB
 * bias gradient and accumulating. The accumulating calls start from random values, so a timing
 * run that added into the real output (instead of its temporary) fails by the product's size.
 * Also: the timed Matmul timed its plans (more than one candidate), the heuristic one did not.
 * Tolerance: relative L2 1e-2 (bf16 outputs of fp32 sums, as test_kernels' TOL_BF16).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cuda_runtime.h>

#include "../../core/rng.h"
#include "../../kernels/bf16_host.h"
#include "../../kernels/matmul.h"
#include "../../reference/cpu_ops.h"
#include "../gpu_test.h"
#include "../test_util.h"

#define TOL 1e-2

static void ck(cudaError_t e, int line) {
    if (e != cudaSuccess) { printf("test_gemm_select:%d: %s\n", line, cudaGetErrorString(e)); exit(1); }
}
#define CK(x) ck((x), __LINE__)

static float *values(Rng *r, size_t n, float std) { // normals already rounded to bf16
    float *h = malloc(n * sizeof *h);
    if (!h) exit(1);
    for (size_t i = 0; i < n; i++) h[i] = bf16_to_float(bf16_from_float(std * rng_normal(r)));
    return h;
}

static bf16_t *upload(const float *h, size_t n) {
    bf16_t *t = malloc(n * sizeof *t), *d = NULL;
    if (!t) exit(1);
    for (size_t i = 0; i < n; i++) t[i] = bf16_from_float(h[i]);
    CK(cudaMalloc((void **)&d, n * sizeof *d));
    CK(cudaMemcpy(d, t, n * sizeof *t, cudaMemcpyHostToDevice));
    free(t);
    return d;
}

static void set(bf16_t *d, const float *h, size_t n) {
    bf16_t *t = malloc(n * sizeof *t);
    if (!t) exit(1);
    for (size_t i = 0; i < n; i++) t[i] = bf16_from_float(h[i]);
    CK(cudaMemcpy(d, t, n * sizeof *t, cudaMemcpyHostToDevice));
    free(t);
}

static float *download(const bf16_t *d, size_t n) {
    bf16_t *t = malloc(n * sizeof *t);
    float *h = malloc(n * sizeof *h);
    if (!t || !h) exit(1);
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(t, d, n * sizeof *t, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n; i++) h[i] = bf16_to_float(t[i]);
    free(t);
    return h;
}

static double rel_l2(const float *a, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return isfinite(num) ? sqrt(num / (den > 0 ? den : 1)) : INFINITY;
}

enum { OUT_FWD_BIAS, OUT_FWD_ACC, OUT_FWD_RES, OUT_DINP, OUT_DINP_ACC, OUT_DW, OUT_DB, OUT_DW_ACC, OUT_DB_ACC, N_OUT };
static const char *const out_names[N_OUT] = {
    "forward+bias", "forward accumulate", "forward_residual", "backward_input", "backward_input accumulate",
    "backward_weight dw", "backward_weight dbias", "backward_weight dw accumulate", "backward_weight dbias accumulate",
};

typedef struct Case {
    int T, K, N;
    float *inp, *w, *bias, *dout, *init_out, *init_dinp, *init_dw, *init_db; // host
    float *ref[N_OUT];
    size_t n[N_OUT];
} Case;

// Every output of the step's GEMM calls on mm, downloaded.
static void run_all(Matmul *mm, const Case *c, float *got[N_OUT], cudaStream_t s) {
    const int T = c->T, K = c->K, N = c->N;
    bf16_t *inp = upload(c->inp, c->n[OUT_DINP]), *w = upload(c->w, c->n[OUT_DW]), *bias = upload(c->bias, N);
    bf16_t *dout = upload(c->dout, c->n[OUT_FWD_BIAS]), *out = upload(c->init_out, c->n[OUT_FWD_BIAS]);
    bf16_t *dinp = upload(c->init_dinp, c->n[OUT_DINP]), *dw = upload(c->init_dw, c->n[OUT_DW]);
    bf16_t *db = upload(c->init_db, N);
    CK(cudaMemset(out, 0xff, c->n[OUT_FWD_BIAS] * 2)); // overwritten: NaN where not written
    matmul_forward(mm, out, inp, w, bias, T, K, N, 0, s);
    got[OUT_FWD_BIAS] = download(out, c->n[OUT_FWD_BIAS]);
    set(out, c->init_out, c->n[OUT_FWD_BIAS]);
    matmul_forward(mm, out, inp, w, NULL, T, K, N, 1, s);
    got[OUT_FWD_ACC] = download(out, c->n[OUT_FWD_BIAS]);
    bf16_t *res = upload(c->init_out, c->n[OUT_FWD_BIAS]);
    CK(cudaMemset(out, 0xff, c->n[OUT_FWD_BIAS] * 2));
    matmul_forward_residual(mm, out, res, inp, w, T, K, N, s); // out = res + inp W^T, res untouched
    got[OUT_FWD_RES] = download(out, c->n[OUT_FWD_BIAS]);
    float *res_after = download(res, c->n[OUT_FWD_BIAS]);
    for (size_t i = 0; i < c->n[OUT_FWD_BIAS]; i++)
        if (res_after[i] != c->init_out[i]) { CHECK(0, "forward_residual wrote its residual at %zu", i); break; }
    free(res_after);
    cudaFree(res);
    CK(cudaMemset(dinp, 0xff, c->n[OUT_DINP] * 2));
    matmul_backward_input(mm, dinp, dout, w, T, K, N, 0, s);
    got[OUT_DINP] = download(dinp, c->n[OUT_DINP]);
    set(dinp, c->init_dinp, c->n[OUT_DINP]);
    matmul_backward_input(mm, dinp, dout, w, T, K, N, 1, s);
    got[OUT_DINP_ACC] = download(dinp, c->n[OUT_DINP]);
    CK(cudaMemset(dw, 0xff, c->n[OUT_DW] * 2));
    CK(cudaMemset(db, 0xff, (size_t)N * 2));
    matmul_backward_weight(mm, dw, db, dout, inp, T, K, N, 0, s);
    got[OUT_DW] = download(dw, c->n[OUT_DW]);
    got[OUT_DB] = download(db, N);
    set(dw, c->init_dw, c->n[OUT_DW]);
    set(db, c->init_db, N);
    matmul_backward_weight(mm, dw, db, dout, inp, T, K, N, 1, s);
    got[OUT_DW_ACC] = download(dw, c->n[OUT_DW]);
    got[OUT_DB_ACC] = download(db, N);
    cudaFree(inp), cudaFree(w), cudaFree(bias), cudaFree(dout), cudaFree(out), cudaFree(dinp), cudaFree(dw), cudaFree(db);
}

static void test_shape(Rng *r, Matmul *heur, Matmul *timed, int T, int K, int N, cudaStream_t s) {
    Case c = {.T = T, .K = K, .N = N};
    size_t nin = (size_t)T * K, nw = (size_t)N * K, nout = (size_t)T * N;
    c.n[OUT_FWD_BIAS] = c.n[OUT_FWD_ACC] = c.n[OUT_FWD_RES] = nout;
    c.n[OUT_DINP] = c.n[OUT_DINP_ACC] = nin;
    c.n[OUT_DW] = c.n[OUT_DW_ACC] = nw;
    c.n[OUT_DB] = c.n[OUT_DB_ACC] = (size_t)N;
    c.inp = values(r, nin, 1.0f), c.w = values(r, nw, 0.05f), c.bias = values(r, N, 1.0f);
    c.dout = values(r, nout, 1.0f), c.init_out = values(r, nout, 1.0f), c.init_dinp = values(r, nin, 1.0f);
    c.init_dw = values(r, nw, 1.0f), c.init_db = values(r, N, 1.0f);
    for (int o = 0; o < N_OUT; o++) c.ref[o] = calloc(c.n[o], sizeof(float));
    cpu_linear_forward(c.ref[OUT_FWD_BIAS], c.inp, c.w, c.bias, T, K, N);
    cpu_linear_forward(c.ref[OUT_FWD_ACC], c.inp, c.w, NULL, T, K, N);
    for (size_t i = 0; i < nout; i++) c.ref[OUT_FWD_RES][i] = c.ref[OUT_FWD_ACC][i] += c.init_out[i];
    cpu_linear_backward(c.ref[OUT_DINP], c.ref[OUT_DW], c.ref[OUT_DB], c.dout, c.inp, c.w, T, K, N); // dw, db +=
    for (size_t i = 0; i < nin; i++) c.ref[OUT_DINP_ACC][i] = c.ref[OUT_DINP][i] + c.init_dinp[i];
    for (size_t i = 0; i < nw; i++) c.ref[OUT_DW_ACC][i] = c.ref[OUT_DW][i] + c.init_dw[i];
    for (int i = 0; i < N; i++) c.ref[OUT_DB_ACC][i] = c.ref[OUT_DB][i] + c.init_db[i];

    float *gh[N_OUT], *gt[N_OUT];
    run_all(heur, &c, gh, s);
    run_all(timed, &c, gt, s);
    for (int o = 0; o < N_OUT; o++) {
        double eh = rel_l2(gh[o], c.ref[o], c.n[o]), et = rel_l2(gt[o], c.ref[o], c.n[o]);
        double ht = rel_l2(gt[o], gh[o], c.n[o]);
        printf("T %5d K %5d N %5d %-32s heuristic %.3e timed %.3e timed-vs-heuristic %.3e\n", T, K, N, out_names[o],
               eh, et, ht);
        CHECK(eh <= TOL && et <= TOL && ht <= TOL, "T %d K %d N %d %s: errors %.3e / %.3e / %.3e, tolerance %.0e", T,
              K, N, out_names[o], eh, et, ht, TOL);
        free(gh[o]), free(gt[o]), free(c.ref[o]);
    }
    free(c.inp), free(c.w), free(c.bias), free(c.dout), free(c.init_out), free(c.init_dinp), free(c.init_dw);
    free(c.init_db);
}

int main(void) {
    gpu_test_require("test_gemm_select");
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    Matmul *heur = matmul_create((size_t)32 << 20), *timed = matmul_create((size_t)32 << 20);
    matmul_set_select(timed, MATMUL_SELECT_TIMED);
    Rng r;
    rng_seed(&r, 20261201);
    test_shape(&r, heur, timed, 512, 3584, 512, s);  // k / v projection shapes of the 7B model
    test_shape(&r, heur, timed, 384, 1024, 3584, s); // o-projection-like, rows not a tile multiple
    test_shape(&r, heur, timed, 77, 72, 40, s);      // tiny: many candidates, short runs
    MatmulStats sh, st;
    matmul_stats(heur, &sh);
    matmul_stats(timed, &st);
    printf("heuristic: %d plans, %d timed; timed: %d plans, %d timed, %d candidates run, %d not the first answer "
           "(%.4f ms first vs %.4f ms chosen, summed)\n", sh.plans, sh.timed, st.plans, st.timed, st.candidates,
           st.not_first, st.first_ms, st.best_ms);
    CHECK(sh.timed == 0 && sh.candidates == 0, "the heuristic Matmul timed %d plans", sh.timed);
    CHECK(st.plans == sh.plans, "plans: timed %d, heuristic %d", st.plans, sh.plans);
    CHECK(st.timed > 0 && st.candidates > st.timed, "the timed Matmul timed %d plans with %d candidates", st.timed,
          st.candidates);
    matmul_destroy(heur);
    matmul_destroy(timed);
    CK(cudaStreamDestroy(s));
    return test_finish("test_gemm_select");
}
