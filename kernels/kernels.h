/*
 * kernels.h: launchers of the step's CUDA C kernels (one .cu per op in kernels/).
 * bf16 tensors are passed as bf16_t (the bit pattern of __nv_bfloat16). Every launcher runs
 * on the given stream and checks the launch. Element counts and offsets are size_t: a 16k x 16k
 * padded batch has 196,608 tokens, and tokens x 18944 does not fit in 32 bits.
 * Shapes as in reference/cpu_ops.h, whose functions are each launcher's oracle.
 */
#ifndef PB_KERNELS_H
#define PB_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>

typedef uint16_t bf16_t;

#ifdef __cplusplus
extern "C" {
#endif

// defines: embedding_forward, embedding_backward (kernels/embedding.cu)
void embedding_forward(bf16_t *out, const int32_t *tokens, const bf16_t *wte, size_t T, int C, cudaStream_t s);
// Gather-sum form of the scatter-add, deterministic: for each present token u (n_uniq of them),
// dwte[uniq_tok[u]] = sum over slots[uniq_off[u] .. uniq_off[u+1]) of dout[slot] (fp32 sum).
// Rows of absent tokens are not touched (zeroed once by the caller). accumulate: dwte[u] += the
// sum (a tied LM head: the cross-entropy wrote its gradient there first).
void embedding_backward(bf16_t *dwte, const bf16_t *dout, const int32_t *uniq_tok, const int32_t *uniq_off,
                        const int32_t *slots, int n_uniq, int C, int accumulate, cudaStream_t s);

// defines: rmsnorm_forward, rmsnorm_backward (kernels/rmsnorm.cu)
void rmsnorm_forward(bf16_t *out, float *rstd, const bf16_t *inp, const bf16_t *w, size_t T, int C, float eps,
                     cudaStream_t s);
// dinp += d/dinp (bf16, read-modify-write: dinp is the residual stream's gradient);
// dw_acc (fp32, C) += d/dw.
void rmsnorm_backward(bf16_t *dinp, float *dw_acc, const bf16_t *dout, const bf16_t *inp, const bf16_t *w,
                      const float *rstd, size_t T, int C, cudaStream_t s);

// defines: head_rmsnorm_forward, head_rmsnorm_backward (kernels/head_rmsnorm.cu): Qwen3's q/k
// norm over each head's D values of (T, H, D), one weight (D); D <= 256. rstd (T, H) fp32.
// Backward: dinp (=) may alias dout (in place); dw_acc (fp32, D) += d/dw.
void head_rmsnorm_forward(bf16_t *out, float *rstd, const bf16_t *inp, const bf16_t *w, size_t T, int H, int D,
                          float eps, cudaStream_t s);
void head_rmsnorm_backward(bf16_t *dinp, float *dw_acc, const bf16_t *dout, const bf16_t *inp, const bf16_t *w,
                           const float *rstd, size_t T, int H, int D, cudaStream_t s);
// The same with a row stride per operand (elements from token t's H*D values to token t+1's,
// >= H*D): the step reads q and k out of the fused (T, Hq*D + 2*Hkv*D) projection output and
// writes their gradients into its gradient. rstd stays (T, H).
void head_rmsnorm_forward_ld(bf16_t *out, size_t ld_out, float *rstd, const bf16_t *inp, size_t ld_inp,
                             const bf16_t *w, size_t T, int H, int D, float eps, cudaStream_t s);
void head_rmsnorm_backward_ld(bf16_t *dinp, size_t ld_dinp, float *dw_acc, const bf16_t *dout, size_t ld_dout,
                              const bf16_t *inp, size_t ld_inp, const bf16_t *w, const float *rstd, size_t T, int H,
                              int D, cudaStream_t s);

// defines: rope_forward, rope_backward, rope_forward_freq, rope_backward_freq,
// rope_qk_forward_freq, rope_qk_backward_freq, rope_qk_forward_ld, rope_qk_backward_ld
// (kernels/rope.cu); in place on (T, H, D),
// rotate-half. The _freq forms take the D/2 inverse frequencies (model.h rope_inv_freq: Llama 3
// scaling included) as a device array of doubles; the others use theta^(-2i/D). The _qk forms
// rotate q (T, Hq, D) and k (T, Hkv, D) in one launch (the step's: cos / sin once per slot and
// frequency for all heads of both).
void rope_forward(bf16_t *x, const int32_t *pos, size_t T, int H, int D, double theta, cudaStream_t s);
void rope_backward(bf16_t *dx, const int32_t *pos, size_t T, int H, int D, double theta, cudaStream_t s);
void rope_forward_freq(bf16_t *x, const int32_t *pos, size_t T, int H, int D, const double *inv_freq, cudaStream_t s);
void rope_backward_freq(bf16_t *dx, const int32_t *pos, size_t T, int H, int D, const double *inv_freq,
                        cudaStream_t s);
void rope_qk_forward_freq(bf16_t *q, bf16_t *k, const int32_t *pos, size_t T, int Hq, int Hkv, int D,
                          const double *inv_freq, cudaStream_t s);
void rope_qk_backward_freq(bf16_t *dq, bf16_t *dk, const int32_t *pos, size_t T, int Hq, int Hkv, int D,
                           const double *inv_freq, cudaStream_t s);
// Out of place with row strides (elements between tokens, >= H*D), q and k in one launch as
// the step runs them: forward reads q and k at q_inp / k_inp (row stride ld_inp, the fused
// projection output) and writes them at q (ld_q) and k (ld_k); backward reads dq (ld_q) and dk
// (ld_k) and writes them at dq_out / dk_out (row stride ld_out, the fused gradient). Equal
// pointers and strides: in place. k absent (NULL pointers, Hkv 0): q alone.
void rope_qk_forward_ld(bf16_t *q, size_t ld_q, bf16_t *k, size_t ld_k, const bf16_t *q_inp, const bf16_t *k_inp,
                        size_t ld_inp, const int32_t *pos, size_t T, int Hq, int Hkv, int D, const double *inv_freq,
                        cudaStream_t s);
void rope_qk_backward_ld(bf16_t *dq_out, bf16_t *dk_out, size_t ld_out, const bf16_t *dq, size_t ld_q,
                         const bf16_t *dk, size_t ld_k, const int32_t *pos, size_t T, int Hq, int Hkv, int D,
                         const double *inv_freq, cudaStream_t s);

// defines: swiglu_forward, swiglu_backward, swiglu_forward_rows, swiglu_backward_rows (kernels/swiglu.cu)
void swiglu_forward(bf16_t *h, const bf16_t *gate, const bf16_t *up, size_t n, cudaStream_t s);
// dgate may alias gate and dup may alias up (in place).
void swiglu_backward(bf16_t *dgate, bf16_t *dup, const bf16_t *dh, const bf16_t *gate, const bf16_t *up,
                     size_t n, cudaStream_t s);
// Over the fused gate/up GEMM's output gu (rows, 2F), each row [gate | up]: h (rows, F) =
// silu(gate) * up; backward dgu (rows, 2F) = [dgate | dup], which may alias gu (in place).
void swiglu_forward_rows(bf16_t *h, const bf16_t *gu, size_t rows, size_t F, cudaStream_t s);
void swiglu_backward_rows(bf16_t *dgu, const bf16_t *dh, const bf16_t *gu, size_t rows, size_t F, cudaStream_t s);

// defines: bias_backward (kernels/bias_backward.cu); used by matmul_backward_weight where the
// BGRADB epilogue cannot serve. dbias (N) = (accumulate: +=) sum over T rows of dout (T, N);
// deterministic; scratch (fp32) needs at least N * sizeof(float) bytes (more: more parallel).
void bias_backward(bf16_t *dbias, const bf16_t *dout, size_t T, int N, int accumulate, float *scratch,
                   size_t scratch_bytes, cudaStream_t s);

// defines: add_inplace, cast_f32_to_bf16, fill_normal_bf16, fill_normal_bf16_at, fill_const_bf16
// (kernels/elementwise.cu)
void add_inplace(bf16_t *y, const bf16_t *x, size_t n, cudaStream_t s); // y += x
void cast_f32_to_bf16(bf16_t *out, const float *in, size_t n, cudaStream_t s);
// Seeded N(mean, std) from (seed, element index): the same values for any launch shape.
void fill_normal_bf16(bf16_t *p, size_t n, uint64_t seed, float mean, float std, cudaStream_t s);
// Elements first .. first + n - 1 of fill_normal_bf16's sequence into p[0 .. n) (a slice of a
// tensor filled whole: the GPU step's per-layer weight order, gpu/weight_layout.h).
void fill_normal_bf16_at(bf16_t *p, size_t n, uint64_t seed, size_t first, float mean, float std, cudaStream_t s);
void fill_const_bf16(bf16_t *p, size_t n, float value, cudaStream_t s);
// p[rows[i]] (C wide) = 0 for i < n_rows (e.g. gradient rows of padding slots).

// defines: attn_merge (kernels/attn_merge.cu). Two attentions of the same rows over disjoint keys,
// o / o_b (rows, H, D) bf16 with their statistics lse / lse_b (rows, H) fp32, merged in place:
// lse <- logsumexp(lse, lse_b), o <- exp(lse_old - lse) o + exp(lse_b - lse) o_b.
void attn_merge(bf16_t *o, float *lse, const bf16_t *o_b, const float *lse_b, size_t rows, int H, int D,
                cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif
