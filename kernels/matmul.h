/*
 * matmul.h: the step's GEMMs through cuBLASLt (bf16 in, fp32 accumulate, bf16 out).
 * Weights are (N, K) row-major as in model.h; activations (T, K) row-major.
 * Heuristics are queried once per (shape, op) and cached; the workspace is allocated once.
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

Matmul *matmul_create(size_t workspace_bytes); // a library error is a failed check (check.h)
void matmul_destroy(Matmul *mm);
size_t matmul_workspace_bytes(const Matmul *mm);
// 1: print every plan to stderr as it is built (StepOptions.matmul_verbose). Default 0.
void matmul_set_verbose(Matmul *mm, int verbose);

// out (T, N) = inp (T, K) W^T + bias (bias may be NULL; in the epilogue); accumulate: out +=.
void matmul_forward(Matmul *mm, bf16_t *out, const bf16_t *inp, const bf16_t *w, const bf16_t *bias,
                    int T, int K, int N, int accumulate, cudaStream_t s);
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
