/*
 * step_layer.cu: one decoder layer of the GPU step (gpu/step.cu runs them), forward and backward,
 * under the layer's recompute level (model/recompute.h; the plan's lines, gpu/memory_plan.h):
 *   full       the forward writes x1 into the next checkpoint and the MLP adds into it; the
 *              backward recomputes the whole forward but the down projection from the checkpoint.
 *   selective  the forward writes x1 into its own kept line (the down projection then adds it as
 *              the GEMM's C into the next checkpoint); the backward recomputes ln1, ln2 and the
 *              chunked MLP, and reads q, k, v, att, lse, x1 from the forward's lines.
 *   none       as selective, with gate, up, h of all T tokens kept in one line (chunk r0 at row
 *              r0); the backward recomputes nothing.
 * Every tick of the pass runs in order whatever is skipped, so poisoning still marks every birth
 * and death.
 * Fused projections (issue 12; the weights' per-layer order is gpu/weight_layout.h): q, k, v are
 * ONE GEMM into GB_QKV (rows [q | k | v]) that RoPE (and the q/k norm) split, and their gradients
 * are gathered into GB_DQKV for ONE input-gradient and ONE weight-gradient GEMM; gate and up are
 * ONE GEMM into rows [gate | up] that SwiGLU reads, and one GEMM each in backward. The FLOPs are
 * the separate GEMMs' (model_layer_macs): the same math in fewer, larger launches.
 */
#include "pb_config.h"

#include <cuda_runtime.h>

#include "../kernels/check.h"
#include "../kernels/kernels.h"
#include "step_internal.h"

// The fused projection's output qkv (T, N = QD + 2 KVD), rows [q | k | v], split into the contiguous
// q, k (roped; with the q/k norm first normed) and v the attention backends take: RoPE (or the
// norm) reads q and k at qkv's row stride and writes them contiguous, so it is the split; v is one
// strided copy (cuBLASLt's D has one leading dimension for all its columns, so the GEMM cannot
// write the v part into a line of its own).
static void qkv_split_forward(Step *s, int l, GpuPass ps, const bf16_t *qkv, bf16_t *q, bf16_t *k, bf16_t *v) {
    const ModelConfig *m = &s->m;
    const int D = m->head_dim, Hq = m->n_head, Hkv = m->n_kv_head;
    const size_t QD = (size_t)Hq * D, KVD = (size_t)Hkv * D, N = gpu_qkv_width(m);
    const double *freq = (const double *)buf_at(s, GB_ROPE_FREQ, -1, PASS_NONE);
    const int32_t *pos = ib(s, GB_POS);
    cudaStream_t st = s->stream;
    if (m->qk_norm) { // the norm splits, RoPE then runs in place
        profile_begin(s->prof, OPK_NORM, st);
        head_rmsnorm_forward_ld(q, QD, fb(s, GB_QRSTD, l, ps), qkv, N, layer_w(s, P_QNORM, l), s->T, Hq, D, m->rms_eps, st);
        head_rmsnorm_forward_ld(k, KVD, fb(s, GB_KRSTD, l, ps), qkv + QD, N, layer_w(s, P_KNORM, l), s->T, Hkv, D,
                                m->rms_eps, st);
    }
    profile_begin(s->prof, OPK_ROPE, st);
    if (m->qk_norm) rope_qk_forward_freq(q, k, pos, s->T, Hq, Hkv, D, freq, st);
    else rope_qk_forward_ld(q, QD, k, KVD, qkv, qkv + QD, N, pos, s->T, Hq, Hkv, D, freq, st);
    cudaCheck(cudaMemcpy2DAsync(v, KVD * sizeof(bf16_t), qkv + QD + KVD, N * sizeof(bf16_t), KVD * sizeof(bf16_t), s->T,
                                cudaMemcpyDeviceToDevice, st));
}

// x1 = x + attention(ln1(x)); leaves the pass's ln1, rstd1, qkv, q, k (roped), v, att, lse, and
// ln2 = ln2(x1), rstd2. Ticks: LN1, QKV, ATTN, OPROJ of the pass.
static PbStatus attention_block_forward(Step *s, int l, GpuPass ps, const bf16_t *x, bf16_t *x1, char *err,
                                        size_t errlen) {
    const ModelConfig *m = &s->m;
    const int T = (int)s->T, C = m->hidden, QD = m->n_head * m->head_dim;
    const int N = (int)gpu_qkv_width(m), fwd = ps == PASS_FWD;
    cudaStream_t st = s->stream;
    fwd ? tick_fwd(s, l, FWD_LN1) : tick_bwd(s, l, BWD_LN1);
    bf16_t *ln1 = bb(s, GB_LN1, l, ps), *q = bb(s, GB_Q, l, ps), *k = bb(s, GB_K, l, ps), *v = bb(s, GB_V, l, ps);
    bf16_t *att = bb(s, GB_ATT, l, ps), *qkv = bb(s, GB_QKV, l, ps);
    profile_begin(s->prof, OPK_NORM, st);
    rmsnorm_forward(ln1, fb(s, GB_RSTD1, l, ps), x, layer_w(s, P_LN1, l), s->T, C, m->rms_eps, st);
    fwd ? tick_fwd(s, l, FWD_QKV) : tick_bwd(s, l, BWD_QKV);
    // ONE GEMM over [wq; wk; wv] (and [bq; bk; bv]): weight_layout.h keeps them adjacent
    profile_begin(s->prof, OPK_QKV, st);
    matmul_forward(s->mm, qkv, ln1, layer_w(s, P_WQ, l), layer_w(s, P_BQ, l), T, C, N, 0, st);
    qkv_split_forward(s, l, ps, qkv, q, k, v);
    fwd ? tick_fwd(s, l, FWD_ATTN) : tick_bwd(s, l, BWD_ATTN);
    s->attn_ops->set_scratch(s->attn, ATTN_FWD, buf_at(s, GB_ATTN_FWD_SCRATCH, l, ps));
    profile_begin(s->prof, OPK_ATTN, st);
    PbStatus rc = s->attn_ops->forward(s->attn, q, k, v, att, fb(s, GB_LSE, l, ps), st, err, errlen);
    if (rc != PB_OK) return rc;
    fwd ? tick_fwd(s, l, FWD_OPROJ) : tick_bwd(s, l, BWD_OPROJ);
    profile_begin(s->prof, OPK_O, st);
    matmul_forward_residual(s->mm, x1, x, att, layer_w(s, P_WO, l), T, QD, C, st); // x1 = x + att Wo^T
    profile_begin(s->prof, OPK_NORM, st);
    rmsnorm_forward(bb(s, GB_LN2, l, ps), fb(s, GB_RSTD2, l, ps), x1, layer_w(s, P_LN2, l), s->T, C, m->rms_eps, st);
    return PB_OK;
}

// The recompute of a layer that kept its attention block (selective, none): through the same
// ticks as attention_block_forward's backward pass, selective recomputes ln1 (from the
// checkpoint) and ln2 (from the kept x1) into their backward lines; none recomputes nothing.
static PbStatus recompute_norms(Step *s, int l, const bf16_t *x, const bf16_t *x1) {
    const ModelConfig *m = &s->m;
    const int sel = layer_level(s, l) == RECOMPUTE_SELECTIVE;
    tick_bwd(s, l, BWD_LN1);
    if (sel) {
        profile_begin(s->prof, OPK_NORM, s->stream);
        rmsnorm_forward(bb(s, GB_LN1, l, PASS_BWD), fb(s, GB_RSTD1, l, PASS_BWD), x, layer_w(s, P_LN1, l), s->T,
                        m->hidden, m->rms_eps, s->stream);
    }
    tick_bwd(s, l, BWD_QKV);
    tick_bwd(s, l, BWD_ATTN);
    tick_bwd(s, l, BWD_OPROJ);
    if (sel) {
        profile_begin(s->prof, OPK_NORM, s->stream);
        rmsnorm_forward(bb(s, GB_LN2, l, PASS_BWD), fb(s, GB_RSTD2, l, PASS_BWD), x1, layer_w(s, P_LN2, l), s->T,
                        m->hidden, m->rms_eps, s->stream);
    }
    return PB_OK;
}

// gu = ln2 [wgate; wup]^T (rows [gate | up], ONE GEMM), h = silu(gate) * up for token rows
// [r0, r0 + n) from ln2, in the pass's MLP chunk.
static void mlp_chunk_forward(Step *s, int l, GpuPass ps, size_t r0, int n, bf16_t *gu, bf16_t *h) {
    const int C = s->m.hidden, F = s->m.mlp;
    const bf16_t *ln2 = bb(s, GB_LN2, l, ps) + r0 * C;
    profile_begin(s->prof, OPK_MLP, s->stream);
    matmul_forward(s->mm, gu, ln2, layer_w(s, P_WGATE, l), NULL, n, C, (int)gpu_gate_up_width(&s->m), 0, s->stream);
    profile_begin(s->prof, OPK_SWIGLU, s->stream);
    swiglu_forward_rows(h, gu, (size_t)n, (size_t)F, s->stream);
}

// gu (n, 2F) and h (n, F) for token rows from r0: the chunk's line (gu at 0, h at 2 x mlp_line),
// or a kept MLP's (level none) full-T line at row r0 of each (the forward fills them chunk by
// chunk, the backward reads them so).
static void mlp_lines(Step *s, int l, GpuPass ps, size_t r0, bf16_t **gu, bf16_t **h) {
    const int kept = layer_level(s, l) == RECOMPUTE_NONE;
    const size_t line = kept ? s->plan.mlp_full_line : s->plan.mlp_line, F = (size_t)s->m.mlp;
    char *c = buf_at(s, GB_MLP_CHUNK, l, ps);
    const size_t row = kept ? r0 : 0;
    *gu = (bf16_t *)c + row * 2 * F;
    *h = (bf16_t *)(c + 2 * line) + row * F;
}

// out = x1 + mlp(ln2), chunk by chunk; out may be x1 (then the MLP adds into it in place).
static void mlp_block_forward(Step *s, int l, const bf16_t *x1, bf16_t *out) {
    const int C = s->m.hidden, F = s->m.mlp, R = s->plan.mlp_rows;
    bf16_t *gu, *h;
    tick_fwd(s, l, FWD_MLP);
    for (size_t r0 = 0; r0 < s->T; r0 += R) {
        int n = (int)(s->T - r0 < (size_t)R ? s->T - r0 : (size_t)R);
        mlp_lines(s, l, PASS_FWD, r0, &gu, &h);
        mlp_chunk_forward(s, l, PASS_FWD, r0, n, gu, h);
        profile_begin(s->prof, OPK_MLP, s->stream);
        if (out == x1) matmul_forward(s->mm, out + r0 * C, h, layer_w(s, P_WDOWN, l), NULL, n, F, C, 1, s->stream);
        else matmul_forward_residual(s->mm, out + r0 * C, x1 + r0 * C, h, layer_w(s, P_WDOWN, l), n, F, C, s->stream);
    }
}

// dres: gradient of the layer output in, of x1 out (the MLP branch's gradient added).
static void mlp_block_backward(Step *s, int l, const bf16_t *x1) {
    const int C = s->m.hidden, F = s->m.mlp, R = s->plan.mlp_rows;
    cudaStream_t st = s->stream;
    float *acc_ln2 = fb(s, GB_NORM_GRAD_ACC, -1, PASS_NONE) + ((size_t)s->m.layers + l) * C;
    tick_bwd(s, l, BWD_MLP);
    const int F2 = (int)gpu_gate_up_width(&s->m);
    bf16_t *gu, *h;
    const int recompute = layer_level(s, l) != RECOMPUTE_NONE; // none: gate, up, h kept from the forward
    bf16_t *dres0 = bb(s, GB_DRES, -1, PASS_NONE), *dln0 = bb(s, GB_DLN_MLP, l, PASS_BWD);
    const bf16_t *ln20 = bb(s, GB_LN2, l, PASS_BWD);
    const float *rstd2 = fb(s, GB_RSTD2, l, PASS_BWD);
    for (size_t r0 = 0; r0 < s->T; r0 += R) {
        int n = (int)(s->T - r0 < (size_t)R ? s->T - r0 : (size_t)R);
        int acc = r0 > 0; // weight gradients accumulate over chunks
        bf16_t *dres = dres0 + r0 * C, *dln = dln0 + r0 * C;
        const bf16_t *ln2 = ln20 + r0 * C;
        mlp_lines(s, l, PASS_BWD, r0, &gu, &h);
        if (recompute) {
            profile_pass(s->prof, OPP_RECOMPUTE);
            mlp_chunk_forward(s, l, PASS_BWD, r0, n, gu, h);
        }
        profile_pass(s->prof, OPP_BWD);
        profile_begin(s->prof, OPK_MLP, st);
        matmul_backward_weight(s->mm, grad(s, P_WDOWN, l), NULL, dres, h, n, F, C, acc, st);
        matmul_backward_input(s->mm, h, dres, layer_w(s, P_WDOWN, l), n, F, C, 0, st);  // h := dh
        profile_begin(s->prof, OPK_SWIGLU, st);
        swiglu_backward_rows(gu, h, gu, (size_t)n, (size_t)F, st);                      // in place: gu := [dgate | dup]
        profile_begin(s->prof, OPK_MLP, st);
        // ONE GEMM each over [wgate; wup]: its gradient [dwgate; dwup] and dln2
        matmul_backward_weight(s->mm, grad(s, P_WGATE, l), NULL, gu, ln2, n, C, F2, acc, st);
        matmul_backward_input(s->mm, dln, gu, layer_w(s, P_WGATE, l), n, C, F2, 0, st);
        profile_begin(s->prof, OPK_NORM, st);
        rmsnorm_backward(dres, acc_ln2, dln, x1 + r0 * C, layer_w(s, P_LN2, l), rstd2 + r0, (size_t)n, C, st);
    }
}

// dres: gradient of x1 in, of the layer input x out.
static PbStatus attention_block_backward(Step *s, int l, const bf16_t *x, char *err, size_t errlen) {
    const ModelConfig *m = &s->m;
    const int T = (int)s->T, C = m->hidden, D = m->head_dim, Hq = m->n_head, Hkv = m->n_kv_head;
    const int QD = Hq * D, KVD = Hkv * D, N = (int)gpu_qkv_width(m);
    const GpuPass B = PASS_BWD;
    cudaStream_t st = s->stream;
    bf16_t *dres = bb(s, GB_DRES, -1, PASS_NONE), *ln1 = bb(s, GB_LN1, l, B), *att = bb(s, GB_ATT, l, B);
    bf16_t *datt = bb(s, GB_DATT, l, B), *dq = bb(s, GB_DQ, l, B), *dk = bb(s, GB_DK, l, B), *dv = bb(s, GB_DV, l, B);
    tick_bwd(s, l, BWD_OGRAD);
    profile_begin(s->prof, OPK_O, st);
    matmul_backward_weight(s->mm, grad(s, P_WO, l), NULL, dres, att, T, QD, C, 0, st);
    matmul_backward_input(s->mm, datt, dres, layer_w(s, P_WO, l), T, QD, C, 0, st);
    tick_bwd(s, l, BWD_ATTN_BWD);
    s->attn_ops->set_scratch(s->attn, ATTN_BWD, buf_at(s, GB_ATTN_BWD_SCRATCH, l, B));
    profile_begin(s->prof, OPK_ATTN, st);
    PbStatus rc = s->attn_ops->backward(s->attn, bb(s, GB_Q, l, B), bb(s, GB_K, l, B), bb(s, GB_V, l, B), att, datt,
                                        fb(s, GB_LSE, l, B), dq, dk, dv, st, err, errlen);
    if (rc != PB_OK) return rc;
    tick_bwd(s, l, BWD_QKV_BWD);
    bf16_t *dln = bb(s, GB_DLN_ATT, l, B), *dqkv = bb(s, GB_DQKV, l, B);
    const double *freq = (const double *)buf_at(s, GB_ROPE_FREQ, -1, PASS_NONE);
    const int32_t *pos = ib(s, GB_POS);
    // dq, dk, dv gathered into dqkv (T, N), rows [dq | dk | dv] as qkv's: RoPE's backward (or,
    // with the q/k norm, the norm's) writes the q and k parts, dv is one strided copy
    profile_begin(s->prof, OPK_ROPE, st);
    if (m->qk_norm) rope_qk_backward_freq(dq, dk, pos, s->T, Hq, Hkv, D, freq, st); // the norm below writes dqkv
    else rope_qk_backward_ld(dqkv, dqkv + QD, N, dq, QD, dk, KVD, pos, s->T, Hq, Hkv, D, freq, st);
    cudaCheck(cudaMemcpy2DAsync(dqkv + QD + KVD, (size_t)N * sizeof(bf16_t), dv, (size_t)KVD * sizeof(bf16_t),
                                (size_t)KVD * sizeof(bf16_t), s->T, cudaMemcpyDeviceToDevice, st));
    if (m->qk_norm) { // the norm's backward into dqkv, its input read from the fused qkv
        const bf16_t *qkv = bb(s, GB_QKV, l, B);
        profile_begin(s->prof, OPK_NORM, st);
        head_rmsnorm_backward_ld(dqkv, N, norm_acc_qnorm(s, l), dq, QD, qkv, N, layer_w(s, P_QNORM, l),
                                 fb(s, GB_QRSTD, l, B), s->T, Hq, D, st);
        head_rmsnorm_backward_ld(dqkv + QD, N, norm_acc_knorm(s, l), dk, KVD, qkv + QD, N, layer_w(s, P_KNORM, l),
                                 fb(s, GB_KRSTD, l, B), s->T, Hkv, D, st);
    }
    // ONE GEMM each over [wq; wk; wv]: its gradient (with [dbq; dbk; dbv]) and dln1
    profile_begin(s->prof, OPK_QKV, st);
    matmul_backward_weight(s->mm, grad(s, P_WQ, l), grad(s, P_BQ, l), dqkv, ln1, T, C, N, 0, st);
    matmul_backward_input(s->mm, dln, dqkv, layer_w(s, P_WQ, l), T, C, N, 0, st);
    tick_bwd(s, l, BWD_LN1_BWD);
    profile_begin(s->prof, OPK_NORM, st);
    rmsnorm_backward(dres, fb(s, GB_NORM_GRAD_ACC, -1, PASS_NONE) + (size_t)l * C, dln, x, layer_w(s, P_LN1, l),
                     fb(s, GB_RSTD1, l, B), s->T, C, st);
    return PB_OK;
}

PbStatus gpu_layer_forward(Step *s, int l, char *err, size_t errlen) {
    // a layer that keeps x1 writes it into its own line; else into the next checkpoint, in place
    bf16_t *x1 = layer_level(s, l) == RECOMPUTE_FULL ? ckpt(s, l + 1) : bb(s, GB_X1, l, PASS_FWD);
    PbStatus rc = attention_block_forward(s, l, PASS_FWD, ckpt(s, l), x1, err, errlen);
    if (rc != PB_OK) return rc;
    mlp_block_forward(s, l, x1, ckpt(s, l + 1));
    return PB_OK;
}

PbStatus gpu_layer_backward(Step *s, int l, char *err, size_t errlen) {
    // x1: recomputed into its backward line, or kept (the plan then answers its forward line)
    bf16_t *x = ckpt(s, l), *x1 = bb(s, GB_X1, l, PASS_BWD);
    profile_pass(s->prof, OPP_RECOMPUTE);
    PbStatus rc = layer_level(s, l) == RECOMPUTE_FULL ? attention_block_forward(s, l, PASS_BWD, x, x1, err, errlen)
                                                      : recompute_norms(s, l, x, x1);
    if (rc != PB_OK) return rc;
    mlp_block_backward(s, l, x1);
    return attention_block_backward(s, l, x, err, errlen);
}
