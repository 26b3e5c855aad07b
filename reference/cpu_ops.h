/*
 * cpu_ops.h: fp32 CPU reference of every op of the step, forward and backward.
 * Clear rather than fast: this is the oracle the GPU kernels are tested against.
 * Activations are token-major: (T, C) for hidden states, (T, H, D) for heads.
 * Backward functions ACCUMULATE (+=) into parameter gradients and, where noted, into dinp.
 */
#ifndef PB_CPU_OPS_H
#define PB_CPU_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "../strategies/layout.h"

// out (T, C) = wte[tokens]
void cpu_embedding_forward(float *out, const int32_t *tokens, const float *wte, size_t T, int C);
// dwte[tokens[t]] += dout[t]
void cpu_embedding_backward(float *dwte, const float *dout, const int32_t *tokens, size_t T, int C);

// out = inp * rstd * w, rstd (T) = 1 / sqrt(mean(inp^2) + eps)
void cpu_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, size_t T, int C, float eps);
// dinp += d/dinp, dw += d/dw
void cpu_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                          const float *rstd, size_t T, int C);

// out (T, N) = inp (T, K) W^T + bias; W (N, K); bias may be NULL
void cpu_linear_forward(float *out, const float *inp, const float *w, const float *bias, size_t T, int K, int N);
// dinp (=, not +=) dout W; dw += dout^T inp; dbias += sum dout (dbias may be NULL)
void cpu_linear_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                         const float *w, size_t T, int K, int N);

// In place on x (T, H, D), rotate-half convention of Qwen2 / HF: pairs (i, i + D/2),
// angle pos * theta^(-2i/D). Backward rotates by the negative angle.
void cpu_rope_forward(float *x, const int32_t *pos, size_t T, int H, int D, double theta);
void cpu_rope_backward(float *dx, const int32_t *pos, size_t T, int H, int D, double theta);

// Causal GQA attention under the layout's mask rule, scale 1/sqrt(D).
// q, out (T, Hq, D); k, v (T, Hkv, D); lse (T, Hq) natural log-sum-exp of the scaled scores.
// A query with no allowed key (padding) gets out = 0 and lse = -INFINITY.
void cpu_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                           const Layout *l, int Hq, int Hkv, int D);
// dq, dk, dv (=, not +=); padding rows get 0.
void cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                            const float *k, const float *v, const float *out, const float *lse,
                            const Layout *l, int Hq, int Hkv, int D);

// h = silu(gate) * up, elementwise over n
void cpu_swiglu_forward(float *h, const float *gate, const float *up, size_t n);
void cpu_swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate, const float *up, size_t n);

// Summed NLL over loss pairs of logits = hidden[rows[i]] W^T (W (V, C)).
// dhidden (T, C) += d/dhidden (rows may repeat), dw += d/dW. Returns the loss (double).
double cpu_linear_cross_entropy(float *dhidden, float *dw, const float *hidden, const float *w,
                                const int32_t *rows, const int32_t *targets, size_t n_loss, int C, int V);

#endif
