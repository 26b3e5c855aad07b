/*
 * matmul.h: the step's GEMMs through cuBLASLt (bf16 in, fp32 accumulate, bf16 out).
 * Weights are (N, K) row-major as in model.h; activations (T, K) row-major.
 * Algorithms are chosen once per (shape, op) and cached; the workspace is allocated once.
 * MATMUL_SELECT_HEURISTIC takes cuBLASLt's first heuristic answer; MATMUL_SELECT_TIMED asks for
 * up to MATMUL_CANDIDATES, times each on the call's own operands when the plan is built (the
 * first call of a shape: the step's warm-up, untimed) and keeps the fastest.
 */
#ifndef PB_MATMUL_H
#define PB_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>

#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct Matmul Matmul;

#define MATMUL_CANDIDATES 8 // heuristic answers timed per shape (MATMUL_SELECT_TIMED)

typedef enum MatmulSelect { MATMUL_SELECT_HEURISTIC, MATMUL_SELECT_TIMED } MatmulSelect;
typedef enum MatmulOp { MATMUL_OP_FORWARD, MATMUL_OP_BACKWARD_INPUT, MATMUL_OP_BACKWARD_WEIGHT } MatmulOp;

// Called just before (begin 1) and just after (begin 0) every GEMM launch, with its cuBLASLt
// shape (m, n, k); the weight GEMM's bias_backward fallback lies inside. For profilers.
typedef void (*MatmulObserver)(void *ctx, int begin, MatmulOp op, int m, int n, int k, cudaStream_t s);

// What plan building did so far (tests, --matmul-verbose).
typedef struct MatmulStats {
    int plans;           // plans built
    int timed;           // of those, chosen by timing (MATMUL_SELECT_TIMED; a plan with one candidate is not timed)
    int candidates;      // candidates launched in timing, all plans together
    int not_first;       // timed plans whose fastest was not the heuristic's first answer
    double first_ms, best_ms; // timed plans: summed time of one call with the first answer / the chosen one
} MatmulStats;

Matmul *matmul_create(size_t workspace_bytes); // a library error is a failed check (check.h)
void matmul_destroy(Matmul *mm);
size_t matmul_workspace_bytes(const Matmul *mm);
// 1: print every plan to stderr as it is built (StepOptions.matmul_verbose). Default 0.
void matmul_set_verbose(Matmul *mm, int verbose);
// How algorithms are chosen for plans built from now on. Default MATMUL_SELECT_HEURISTIC.
void matmul_set_select(Matmul *mm, MatmulSelect select);
void matmul_set_observer(Matmul *mm, MatmulObserver fn, void *ctx); // fn NULL: none
void matmul_stats(const Matmul *mm, MatmulStats *out);

// out (T, N) = inp (T, K) W^T + bias (bias may be NULL; in the epilogue); accumulate: out +=.
void matmul_forward(Matmul *mm, bf16_t *out, const bf16_t *inp, const bf16_t *w, const bf16_t *bias,
                    int T, int K, int N, int accumulate, cudaStream_t s);
// out (T, N) = residual (T, N) + inp (T, K) W^T: the residual add as the GEMM's C (beta 1), so
// no copy of the residual into out first. residual may be out (then it is accumulate = 1).
void matmul_forward_residual(Matmul *mm, bf16_t *out, const bf16_t *residual, const bf16_t *inp, const bf16_t *w,
                             int T, int K, int N, cudaStream_t s);
// dinp (T, K) = dout (T, N) W; accumulate: dinp +=.
void matmul_backward_input(Matmul *mm, bf16_t *dinp, const bf16_t *dout, const bf16_t *w,
                           int T, int K, int N, int accumulate, cudaStream_t s);
// dw (N, K) = dout^T inp; dbias (N) = sum over T of dout (may be NULL); accumulate: +=.
void matmul_backward_weight(Matmul *mm, bf16_t *dw, bf16_t *dbias, const bf16_t *dout, const bf16_t *inp,
                            int T, int K, int N, int accumulate, cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif
