/*
 * matmul.c: the step's GEMMs over cuBLASLt (bf16 in and out, fp32 accumulate and scale).
 *
 * Row-major to column-major: a row-major (R, S) matrix is the column-major (S, R) matrix with
 * the same bytes, so every GEMM is computed transposed (D^T = B^T A^T) with no copies:
 *   forward          out (T,N) = inp W^T : D (N x T) = W^T[op T] (N x K)   * inp (K x T), m N, n T, k K
 *   backward_input   dinp (T,K) = dout W : D (K x T) = W (K x N)           * dout (N x T), m K, n T, k N
 *   backward_weight  dw (N,K) = dout^T inp: D (K x N) = inp (K x T)        * dout^T[op T] (T x N), m K, n N, k T
 * The forward bias (length N = m) is the BIAS epilogue; the weight GEMM's bias gradient (length
 * N = n, reduced over k = T) is the BGRADB epilogue when not accumulating and an algorithm exists,
 * else bias_backward() after the GEMM. accumulate: beta = 1 with C = D.
 *
 * Heuristics: queried once per (op, m, n, k, accumulate, epilogue, pointer alignments) and
 * cached together with the descriptors in a small table (round-robin eviction when full).
 * One workspace, allocated at create, serves every GEMM (and bias_backward's scratch: both run
 * in stream order). matmul_set_verbose (StepOptions.matmul_verbose, ./bench --matmul-verbose)
 * prints each plan as it is built.
 *
 * Timed selection (MATMUL_SELECT_TIMED, ./bench --gemm-select timed): the heuristic's first
 * MATMUL_CANDIDATES answers are each launched once, then TIME_REPS (3) times between two events, on
 * the call's own A, B and bias, and the fastest is kept. Where the call overwrites D (beta 0)
 * the candidates write the real D, which the real launch then overwrites; where it accumulates
 * (beta 1) they write a zeroed temporary D of the same shape instead, so the result is untouched
 * (if that allocation fails, the first answer is taken, and --matmul-verbose says so). Beyond
 * the first answer, candidates that reduce split-K partials in bf16 (the INPLACE and
 * OUTPUT_TYPE reduction schemes) are skipped: timing must not cost accuracy. A candidate that
 * the library refuses at launch is skipped too.
 */
#define PB_WANT_CUBLAS
#include "matmul.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define MATMUL_CACHE 128 // above the distinct keys of one layout's step, so timed steps build no plan
#define TIME_REPS 3

enum { OP_FORWARD = MATMUL_OP_FORWARD, OP_BACKWARD_INPUT = MATMUL_OP_BACKWARD_INPUT,
       OP_BACKWARD_WEIGHT = MATMUL_OP_BACKWARD_WEIGHT };

typedef struct MatmulKey {
    int op, m, n, k, accumulate;
    cublasLtEpilogue_t epilogue;
    uint32_t align[4]; // A, B, C/D, bias
} MatmulKey;

typedef struct MatmulPlan {
    int used;
    int supported; // 0: no algorithm for this key (only tolerated for the BGRADB epilogue)
    MatmulKey key;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, d;
    cublasLtMatmulAlgo_t algo;
} MatmulPlan;

struct Matmul {
    cublasLtHandle_t lt;
    void *workspace;
    size_t workspace_bytes;
    MatmulPlan plans[MATMUL_CACHE];
    int next_evict;
    int verbose;       // 1: print every plan as it is built, and BGRADB refusals
    MatmulSelect select;
    cudaEvent_t ev[2]; // timed selection
    MatmulObserver observer;
    void *observer_ctx;
    MatmulStats stats;
};

// The operands of the call a plan is built for (timed selection runs on them).
typedef struct Operands {
    void *d;
    const void *a, *b, *bias;
    cudaStream_t s;
} Operands;

static uint32_t pointer_alignment(const void *p) {
    uintptr_t v = (uintptr_t)p;
    uint32_t a = 256;
    while (a > 1 && (v & (a - 1))) a >>= 1;
    return a;
}

Matmul *matmul_create(size_t workspace_bytes) {
    Matmul *mm = calloc(1, sizeof *mm);
    if (!mm) checkFail("matmul_create: out of host memory");
    cublasCheck(cublasLtCreate(&mm->lt));
    mm->workspace_bytes = workspace_bytes;
    if (workspace_bytes) cudaCheck(cudaMalloc(&mm->workspace, workspace_bytes));
    cudaCheck(cudaEventCreate(&mm->ev[0]));
    cudaCheck(cudaEventCreate(&mm->ev[1]));
    return mm;
}

static void plan_release(MatmulPlan *p) {
    if (!p->used) return;
    cublasCheck(cublasLtMatrixLayoutDestroy(p->a));
    cublasCheck(cublasLtMatrixLayoutDestroy(p->b));
    cublasCheck(cublasLtMatrixLayoutDestroy(p->d));
    cublasCheck(cublasLtMatmulDescDestroy(p->desc));
    memset(p, 0, sizeof *p);
}

void matmul_destroy(Matmul *mm) {
    if (!mm) return;
    const MatmulStats *st = &mm->stats;
    if (mm->verbose && st->timed)
        fprintf(stderr, "matmul: %d plans, %d chosen by timing (%d candidates), %d of them not the first heuristic "
                "answer; one call of each timed shape: %.3f ms with the first answers, %.3f ms chosen (%.3fx)\n",
                st->plans, st->timed, st->candidates, st->not_first, st->first_ms, st->best_ms,
                st->best_ms > 0 ? st->first_ms / st->best_ms : 1.0);
    for (int i = 0; i < MATMUL_CACHE; i++) plan_release(&mm->plans[i]);
    if (mm->workspace) cudaCheck(cudaFree(mm->workspace));
    if (mm->ev[0]) cudaCheck(cudaEventDestroy(mm->ev[0]));
    if (mm->ev[1]) cudaCheck(cudaEventDestroy(mm->ev[1]));
    cublasCheck(cublasLtDestroy(mm->lt));
    free(mm);
}

size_t matmul_workspace_bytes(const Matmul *mm) { return mm->workspace_bytes; }

void matmul_set_verbose(Matmul *mm, int verbose) { mm->verbose = verbose ? 1 : 0; }
void matmul_set_select(Matmul *mm, MatmulSelect select) { mm->select = select; }
void matmul_set_observer(Matmul *mm, MatmulObserver fn, void *ctx) { mm->observer = fn; mm->observer_ctx = ctx; }
void matmul_stats(const Matmul *mm, MatmulStats *out) { *out = mm->stats; }

// Column-major layout of a bf16 matrix of `rows` x `cols` with leading dimension ld.
static cublasLtMatrixLayout_t bf16_layout(int rows, int cols, int ld) {
    cublasLtMatrixLayout_t l;
    cublasCheck(cublasLtMatrixLayoutCreate(&l, CUDA_R_16BF, (uint64_t)rows, (uint64_t)cols, (int64_t)ld));
    return l;
}

// A 4-byte configuration attribute of an algorithm (ID, TILE_ID, SPLITK_NUM, REDUCTION_SCHEME,
// STAGES_ID are int32 / uint32), or -1 where the library does not say.
static int algo_config(const cublasLtMatmulAlgo_t *algo, cublasLtMatmulAlgoConfigAttributes_t attr) {
    int32_t v = 0;
    size_t written = 0;
    if (cublasLtMatmulAlgoConfigGetAttribute(algo, attr, &v, sizeof v, &written) != CUBLAS_STATUS_SUCCESS) return -1;
    return (int)v;
}

// Whether a candidate beyond the first may be timed: no split-K partials reduced in bf16
// (an unknown scheme counts as one).
static int keeps_accuracy(const cublasLtMatmulAlgo_t *algo) {
    int scheme = algo_config(algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME);
    return scheme >= 0 && !(scheme & (CUBLASLT_REDUCTION_SCHEME_INPLACE | CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE));
}

// One launch of candidate algo on D = dt (C = D), the call's A, B and bias. SUCCESS, or the
// library's refusal (NOT_SUPPORTED / INVALID_VALUE); any other failure is a failed check.
static cublasStatus_t launch_candidate(Matmul *mm, MatmulPlan *p, const cublasLtMatmulAlgo_t *algo, void *dt,
                                       const Operands *ops) {
    float alpha = 1.0f, beta = p->key.accumulate ? 1.0f : 0.0f;
    cublasStatus_t st = cublasLtMatmul(mm->lt, p->desc, &alpha, ops->a, p->a, ops->b, p->b, &beta, dt, p->d, dt, p->d,
                                       algo, mm->workspace, mm->workspace_bytes, ops->s);
    if (st != CUBLAS_STATUS_SUCCESS && st != CUBLAS_STATUS_NOT_SUPPORTED && st != CUBLAS_STATUS_INVALID_VALUE)
        cublasCheck(st);
    return st;
}

// Times the heuristic's n answers on the call's operands; returns the fastest's index, or -1
// when every one was refused at launch.
static int plan_time_candidates(Matmul *mm, MatmulPlan *p, const cublasLtMatmulHeuristicResult_t *res, int n,
                                const Operands *ops) {
    void *dt = ops->d, *tmp = NULL;
    size_t d_bytes = (size_t)p->key.m * (size_t)p->key.n * 2;
    if (p->key.accumulate) { // candidates must not add into the real D
        if (cudaMalloc(&tmp, d_bytes) != cudaSuccess) {
            cudaGetLastError();
            if (mm->verbose) fprintf(stderr, "matmul: no memory for a %zu-byte timing buffer: first heuristic kept\n", d_bytes);
            return 0;
        }
        cudaCheck(cudaMemsetAsync(tmp, 0, d_bytes, ops->s));
        dt = tmp;
    }
    if (ops->bias)
        cublasCheck(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &ops->bias, sizeof ops->bias));
    int best = -1, tried = 0;
    float best_ms = 0, first_ms = -1;
    for (int i = 0; i < n; i++) {
        if (res[i].state != CUBLAS_STATUS_SUCCESS || res[i].workspaceSize > mm->workspace_bytes) continue;
        if (i > 0 && !keeps_accuracy(&res[i].algo)) continue;
        if (launch_candidate(mm, p, &res[i].algo, dt, ops) != CUBLAS_STATUS_SUCCESS) continue;
        cudaCheck(cudaEventRecord(mm->ev[0], ops->s));
        for (int r = 0; r < TIME_REPS; r++) launch_candidate(mm, p, &res[i].algo, dt, ops);
        cudaCheck(cudaEventRecord(mm->ev[1], ops->s));
        cudaCheck(cudaEventSynchronize(mm->ev[1]));
        float ms = 0;
        cudaCheck(cudaEventElapsedTime(&ms, mm->ev[0], mm->ev[1]));
        ms /= TIME_REPS;
        tried++;
        if (i == 0) first_ms = ms;
        if (best < 0 || ms < best_ms) { best = i; best_ms = ms; }
    }
    if (tmp) cudaCheck(cudaFree(tmp));
    mm->stats.candidates += tried;
    if (best < 0) return -1;
    mm->stats.timed++;
    mm->stats.not_first += best != 0;
    if (first_ms >= 0) { mm->stats.first_ms += first_ms; mm->stats.best_ms += best_ms; }
    if (mm->verbose) {
        const cublasLtMatmulAlgo_t *a = &res[best].algo;
        fprintf(stderr, "matmul timed: op %d m %d n %d k %d acc %d: %d of %d candidates; chose #%d (algo %d tile %d "
                "stages %d split-k %d) %.4f ms; first heuristic %s%.4f ms: %.3fx\n", p->key.op, p->key.m, p->key.n,
                p->key.k, p->key.accumulate, tried, n, best, algo_config(a, CUBLASLT_ALGO_CONFIG_ID),
                algo_config(a, CUBLASLT_ALGO_CONFIG_TILE_ID), algo_config(a, CUBLASLT_ALGO_CONFIG_STAGES_ID),
                algo_config(a, CUBLASLT_ALGO_CONFIG_SPLITK_NUM), best_ms, first_ms >= 0 ? "" : "(refused) ",
                first_ms >= 0 ? first_ms : 0.0, first_ms > 0 && best_ms > 0 ? first_ms / best_ms : 1.0);
    }
    return best;
}

// Builds descriptors and chooses the key's algorithm (the heuristic's first, or timed on ops).
static void plan_build(Matmul *mm, MatmulPlan *p, const MatmulKey *key, const Operands *ops) {
    memset(p, 0, sizeof *p);
    p->used = 1;
    p->key = *key;
    int m = key->m, n = key->n, k = key->k;
    cublasOperation_t ta = CUBLAS_OP_N, tb = CUBLAS_OP_N;
    switch (key->op) {
    case OP_FORWARD: // A = W stored (K x N) col-major, op T; B = inp (K x T)
        ta = CUBLAS_OP_T;
        p->a = bf16_layout(k, m, k);
        p->b = bf16_layout(k, n, k);
        break;
    case OP_BACKWARD_INPUT: // A = W stored (K x N), op N; B = dout (N x T)
        p->a = bf16_layout(m, k, m);
        p->b = bf16_layout(k, n, k);
        break;
    default: // OP_BACKWARD_WEIGHT: A = inp (K x T), op N; B = dout stored (N x T), op T
        tb = CUBLAS_OP_T;
        p->a = bf16_layout(m, k, m);
        p->b = bf16_layout(n, k, n);
        break;
    }
    p->d = bf16_layout(m, n, m);
    cublasCheck(cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasCheck(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    cublasCheck(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    cublasLtEpilogue_t ep = key->epilogue;
    cublasCheck(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof ep));
    if (ep != CUBLASLT_EPILOGUE_DEFAULT) {
        int32_t bias_type = CUDA_R_16BF;
        cublasCheck(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                                   sizeof bias_type));
    }

    cublasLtMatmulPreference_t pref;
    cublasCheck(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = mm->workspace_bytes;
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &key->align[0],
                                                     sizeof(uint32_t)));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &key->align[1],
                                                     sizeof(uint32_t)));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &key->align[2],
                                                     sizeof(uint32_t)));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &key->align[2],
                                                     sizeof(uint32_t)));
    cublasLtMatmulHeuristicResult_t res[MATMUL_CANDIDATES];
    int found = 0, want = mm->select == MATMUL_SELECT_TIMED ? MATMUL_CANDIDATES : 1;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(mm->lt, p->desc, p->a, p->b, p->d, p->d, pref, want, res, &found);
    cublasCheck(cublasLtMatmulPreferenceDestroy(pref));
    int ok = st == CUBLAS_STATUS_SUCCESS && found > 0 && res[0].state == CUBLAS_STATUS_SUCCESS;
    mm->stats.plans++;
    int pick = ok && found > 1 ? plan_time_candidates(mm, p, res, found, ops) : 0;
    if (pick < 0) { // every candidate refused at launch (only BGRADB may be)
        ok = 0;
        pick = 0;
    }
    if (mm->verbose)
        fprintf(stderr, "matmul plan: op %d m %d n %d k %d acc %d epilogue %d align %u/%u/%u: %s (workspace %zu)\n",
                key->op, m, n, k, key->accumulate, (int)ep, key->align[0], key->align[1], key->align[2],
                ok ? "ok" : "no algorithm", ok ? res[pick].workspaceSize : (size_t)0);
    if (ok) {
        p->algo = res[pick].algo;
        p->supported = 1;
        return;
    }
    if (ep == CUBLASLT_EPILOGUE_BGRADB) return; // the caller falls back to bias_backward()
    checkFail("cuBLASLt has no algorithm for op %d m %d n %d k %d accumulate %d epilogue %d (alignments %u %u %u): %s",
              key->op, m, n, k, key->accumulate, (int)ep, key->align[0], key->align[1], key->align[2],
              cublasGetStatusString(st));
}

static MatmulPlan *plan_get(Matmul *mm, const MatmulKey *key, const Operands *ops) {
    for (int i = 0; i < MATMUL_CACHE; i++)
        if (mm->plans[i].used && memcmp(&mm->plans[i].key, key, sizeof *key) == 0) return &mm->plans[i];
    MatmulPlan *p = NULL;
    for (int i = 0; i < MATMUL_CACHE && !p; i++)
        if (!mm->plans[i].used) p = &mm->plans[i];
    if (!p) {
        p = &mm->plans[mm->next_evict];
        mm->next_evict = (mm->next_evict + 1) % MATMUL_CACHE;
        plan_release(p);
    }
    plan_build(mm, p, key, ops);
    return p;
}

static MatmulKey make_key(int op, int m, int n, int k, int accumulate, cublasLtEpilogue_t ep, const void *a,
                          const void *b, const void *d, const void *bias) {
    MatmulKey key;
    memset(&key, 0, sizeof key); // the key is compared with memcmp: no stray padding bytes
    key.op = op;
    key.m = m;
    key.n = n;
    key.k = k;
    key.accumulate = accumulate ? 1 : 0;
    key.epilogue = ep;
    key.align[0] = pointer_alignment(a);
    key.align[1] = pointer_alignment(b);
    key.align[2] = pointer_alignment(d);
    key.align[3] = bias ? pointer_alignment(bias) : 0;
    return key;
}

// D = A B (+ bias) (+ C where the key accumulates; c NULL: C is D).
static void plan_run_c(Matmul *mm, MatmulPlan *p, void *d, const void *c, const void *a, const void *b,
                       const void *bias, cudaStream_t s) {
    if (bias)
        cublasCheck(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    float alpha = 1.0f, beta = p->key.accumulate ? 1.0f : 0.0f;
    cublasCheck(cublasLtMatmul(mm->lt, p->desc, &alpha, a, p->a, b, p->b, &beta, c ? c : d, p->d, d, p->d, &p->algo,
                               mm->workspace, mm->workspace_bytes, s));
}

static void plan_run(Matmul *mm, MatmulPlan *p, void *d, const void *a, const void *b, const void *bias,
                     cudaStream_t s) {
    plan_run_c(mm, p, d, NULL, a, b, bias, s);
}

// The BGRADB GEMM; a refusal at launch (not only at the heuristic) marks the plan unsupported
// so that this and later calls take the plain GEMM + bias_backward() path.
static int plan_try_bgradb(Matmul *mm, MatmulPlan *p, void *dw, const void *inp, const void *dout, void *dbias,
                           cudaStream_t s) {
    cublasCheck(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &dbias, sizeof dbias));
    float alpha = 1.0f, beta = 0.0f;
    cublasStatus_t st = cublasLtMatmul(mm->lt, p->desc, &alpha, inp, p->a, dout, p->b, &beta, dw, p->d, dw, p->d,
                                       &p->algo, mm->workspace, mm->workspace_bytes, s);
    if (st == CUBLAS_STATUS_SUCCESS) return 1;
    if (st != CUBLAS_STATUS_NOT_SUPPORTED && st != CUBLAS_STATUS_INVALID_VALUE) cublasCheck(st);
    if (mm->verbose) fprintf(stderr, "matmul: BGRADB refused at launch: %s\n", cublasGetStatusString(st));
    p->supported = 0;
    return 0;
}

// An empty output (m or n == 0: no token rows) is nothing to compute. An empty reduction reaches
// only the weight gradient (k = T == 0), handled in matmul_backward_weight; forward and
// backward_input reduce over model widths, which model_validate keeps positive.
static int degenerate(int m, int n) { return m <= 0 || n <= 0; }

static void observe(Matmul *mm, int begin, MatmulOp op, int m, int n, int k, cudaStream_t s) {
    if (mm->observer) mm->observer(mm->observer_ctx, begin, op, m, n, k, s);
}

void matmul_forward(Matmul *mm, bf16_t *out, const bf16_t *inp, const bf16_t *w, const bf16_t *bias, int T, int K,
                    int N, int accumulate, cudaStream_t s) {
    if (degenerate(N, T)) return;
    cublasLtEpilogue_t ep = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    MatmulKey key = make_key(OP_FORWARD, N, T, K, accumulate, ep, w, inp, out, bias);
    Operands ops = {out, w, inp, bias, s};
    observe(mm, 1, MATMUL_OP_FORWARD, N, T, K, s);
    plan_run(mm, plan_get(mm, &key, &ops), out, w, inp, bias, s);
    observe(mm, 0, MATMUL_OP_FORWARD, N, T, K, s);
}

void matmul_forward_residual(Matmul *mm, bf16_t *out, const bf16_t *residual, const bf16_t *inp, const bf16_t *w,
                             int T, int K, int N, cudaStream_t s) {
    if (degenerate(N, T)) return;
    MatmulKey key = make_key(OP_FORWARD, N, T, K, 1, CUBLASLT_EPILOGUE_DEFAULT, w, inp, out, NULL);
    uint32_t align_c = pointer_alignment(residual); // C's alignment counts too (the heuristic is given D's)
    if (align_c < key.align[2]) key.align[2] = align_c;
    Operands ops = {out, w, inp, NULL, s}; // timing accumulates into a temporary (the key accumulates)
    observe(mm, 1, MATMUL_OP_FORWARD, N, T, K, s);
    plan_run_c(mm, plan_get(mm, &key, &ops), out, residual, w, inp, NULL, s);
    observe(mm, 0, MATMUL_OP_FORWARD, N, T, K, s);
}

void matmul_backward_input(Matmul *mm, bf16_t *dinp, const bf16_t *dout, const bf16_t *w, int T, int K, int N,
                           int accumulate, cudaStream_t s) {
    if (degenerate(K, T)) return;
    MatmulKey key = make_key(OP_BACKWARD_INPUT, K, T, N, accumulate, CUBLASLT_EPILOGUE_DEFAULT, w, dout, dinp, NULL);
    Operands ops = {dinp, w, dout, NULL, s};
    observe(mm, 1, MATMUL_OP_BACKWARD_INPUT, K, T, N, s);
    plan_run(mm, plan_get(mm, &key, &ops), dinp, w, dout, NULL, s);
    observe(mm, 0, MATMUL_OP_BACKWARD_INPUT, K, T, N, s);
}

static void weight_gemm(Matmul *mm, bf16_t *dw, bf16_t *dbias, const bf16_t *dout, const bf16_t *inp, int T, int K,
                        int N, int accumulate, cudaStream_t s) {
    if (T <= 0) { // empty sum: the gradient is zero (or unchanged when accumulating)
        if (!accumulate) {
            cudaCheck(cudaMemsetAsync(dw, 0, (size_t)N * (size_t)K * sizeof(bf16_t), s));
            if (dbias) cudaCheck(cudaMemsetAsync(dbias, 0, (size_t)N * sizeof(bf16_t), s));
        }
        return;
    }
    if (dbias && !accumulate) {
        MatmulKey key = make_key(OP_BACKWARD_WEIGHT, K, N, T, 0, CUBLASLT_EPILOGUE_BGRADB, inp, dout, dw, dbias);
        Operands ops = {dw, inp, dout, dbias, s};
        MatmulPlan *p = plan_get(mm, &key, &ops);
        if (p->supported && plan_try_bgradb(mm, p, dw, inp, dout, dbias, s)) return;
    }
    MatmulKey key = make_key(OP_BACKWARD_WEIGHT, K, N, T, accumulate, CUBLASLT_EPILOGUE_DEFAULT, inp, dout, dw, NULL);
    Operands ops = {dw, inp, dout, NULL, s};
    plan_run(mm, plan_get(mm, &key, &ops), dw, inp, dout, NULL, s);
    if (dbias) bias_backward(dbias, dout, (size_t)T, N, accumulate, (float *)mm->workspace, mm->workspace_bytes, s);
}

void matmul_backward_weight(Matmul *mm, bf16_t *dw, bf16_t *dbias, const bf16_t *dout, const bf16_t *inp, int T,
                            int K, int N, int accumulate, cudaStream_t s) {
    if (degenerate(K, N)) return;
    observe(mm, 1, MATMUL_OP_BACKWARD_WEIGHT, K, N, T, s);
    weight_gemm(mm, dw, dbias, dout, inp, T, K, N, accumulate, s);
    observe(mm, 0, MATMUL_OP_BACKWARD_WEIGHT, K, N, T, s);
}
