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

// Qwen3's q/k norm: RMSNorm over each head's D values, one weight (D) for all heads.
// x, out (T, H, D); rstd (T, H). Backward: dinp (=, not +=; may not alias dout), dw += d/dw.
void cpu_head_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, size_t T, int H, int D,
                              float eps);
void cpu_head_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                               const float *rstd, size_t T, int H, int D);

// In place on x (T, H, D), rotate-half convention of Qwen2 / HF: pairs (i, i + D/2),
// angle pos * inv_freq[i] (inv_freq: D/2 values, model.h rope_inv_freq). Backward rotates by
// the negative angle. The _theta forms use the unscaled inv_freq[i] = theta^(-2i/D).
void cpu_rope_forward(float *x, const int32_t *pos, size_t T, int H, int D, const double *inv_freq);
void cpu_rope_backward(float *dx, const int32_t *pos, size_t T, int H, int D, const double *inv_freq);
#define CPU_ROPE_MAX_HALF 512 // the _theta forms' head_dim limit (2 x this)
void cpu_rope_forward_theta(float *x, const int32_t *pos, size_t T, int H, int D, double theta);
void cpu_rope_backward_theta(float *dx, const int32_t *pos, size_t T, int H, int D, double theta);

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

// Summed NLL over loss pairs of logits = hidden[rows[i]] W^T (W (V, C)), pair i weighted by
// weights[i] (NULL: all 1). dhidden (T, C) += d/dhidden (rows may repeat), dw += d/dW. Returns
// the loss (double).
double cpu_linear_cross_entropy(float *dhidden, float *dw, const float *hidden, const float *w,
                                const int32_t *rows, const int32_t *targets, const int32_t *weights, size_t n_loss,
                                int C, int V);

#endif
