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
 */
#include "pb_config.h"

#include <cuda_runtime.h>

#include "../kernels/check.h"
#include "../kernels/kernels.h"
#include "step_internal.h"

// x1 = x + attention(ln1(x)); leaves the pass's ln1, rstd1, q, k (roped), v, att, lse, and
// ln2 = ln2(x1), rstd2. Ticks: LN1, QKV, ATTN, OPROJ of the pass.
static PbStatus attention_block_forward(Step *s, int l, GpuPass ps, const bf16_t *x, bf16_t *x1, char *err,
                                        size_t errlen) {
    const ModelConfig *m = &s->m;
    const int T = (int)s->T, C = m->hidden, D = m->head_dim, Hq = m->n_head, Hkv = m->n_kv_head;
    const int QD = Hq * D, KVD = Hkv * D, fwd = ps == PASS_FWD;
    cudaStream_t st = s->stream;
    fwd ? tick_fwd(s, l, FWD_LN1) : tick_bwd(s, l, BWD_LN1);
    bf16_t *ln1 = bb(s, GB_LN1, l, ps), *q = bb(s, GB_Q, l, ps), *k = bb(s, GB_K, l, ps), *v = bb(s, GB_V, l, ps);
    bf16_t *att = bb(s, GB_ATT, l, ps);
    const double *freq = (const double *)buf_at(s, GB_ROPE_FREQ, -1, PASS_NONE);
    profile_begin(s->prof, OPK_NORM, st);
    rmsnorm_forward(ln1, fb(s, GB_RSTD1, l, ps), x, layer_w(s, P_LN1, l), s->T, C, m->rms_eps, st);
    fwd ? tick_fwd(s, l, FWD_QKV) : tick_bwd(s, l, BWD_QKV);
    // with the q/k norm the projections go to their own lines and the norm writes q, k
    bf16_t *qp = m->qk_norm ? bb(s, GB_QRAW, l, ps) : q, *kp = m->qk_norm ? bb(s, GB_KRAW, l, ps) : k;
    profile_begin(s->prof, OPK_QKV, st);
    matmul_forward(s->mm, qp, ln1, layer_w(s, P_WQ, l), layer_w(s, P_BQ, l), T, C, QD, 0, st);
    matmul_forward(s->mm, kp, ln1, layer_w(s, P_WK, l), layer_w(s, P_BK, l), T, C, KVD, 0, st);
    matmul_forward(s->mm, v, ln1, layer_w(s, P_WV, l), layer_w(s, P_BV, l), T, C, KVD, 0, st);
    if (m->qk_norm) {
        profile_begin(s->prof, OPK_NORM, st);
        head_rmsnorm_forward(q, fb(s, GB_QRSTD, l, ps), qp, layer_w(s, P_QNORM, l), s->T, Hq, D, m->rms_eps, st);
        head_rmsnorm_forward(k, fb(s, GB_KRSTD, l, ps), kp, layer_w(s, P_KNORM, l), s->T, Hkv, D, m->rms_eps, st);
    }
    profile_begin(s->prof, OPK_ROPE, st);
    rope_qk_forward_freq(q, k, ib(s, GB_POS), s->T, Hq, Hkv, D, freq, st);
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

// gate, up, h = silu(gate) * up for token rows [r0, r0 + n) from ln2, in the pass's MLP chunk.
static void mlp_chunk_forward(Step *s, int l, GpuPass ps, size_t r0, int n, bf16_t *gate, bf16_t *up, bf16_t *h) {
    const int C = s->m.hidden, F = s->m.mlp;
    const bf16_t *ln2 = bb(s, GB_LN2, l, ps) + r0 * C;
    profile_begin(s->prof, OPK_MLP, s->stream);
    matmul_forward(s->mm, gate, ln2, layer_w(s, P_WGATE, l), NULL, n, C, F, 0, s->stream);
    matmul_forward(s->mm, up, ln2, layer_w(s, P_WUP, l), NULL, n, C, F, 0, s->stream);
    profile_begin(s->prof, OPK_SWIGLU, s->stream);
    swiglu_forward(h, gate, up, (size_t)n * F, s->stream);
}

// gate, up, h for token rows from r0: the chunk's lines, or a kept MLP's (level none) full-T
// lines at row r0 (the forward fills them chunk by chunk, the backward reads them so).
static void mlp_lines(Step *s, int l, GpuPass ps, size_t r0, bf16_t **gate, bf16_t **up, bf16_t **h) {
    const int kept = layer_level(s, l) == RECOMPUTE_NONE;
    const size_t line = kept ? s->plan.mlp_full_line : s->plan.mlp_line;
    char *c = buf_at(s, GB_MLP_CHUNK, l, ps) + (kept ? r0 * (size_t)s->m.mlp * sizeof(bf16_t) : 0);
    *gate = (bf16_t *)c;
    *up = (bf16_t *)(c + line);
    *h = (bf16_t *)(c + 2 * line);
}

// out = x1 + mlp(ln2), chunk by chunk; out may be x1 (then the MLP adds into it in place).
static void mlp_block_forward(Step *s, int l, const bf16_t *x1, bf16_t *out) {
    const int C = s->m.hidden, F = s->m.mlp, R = s->plan.mlp_rows;
    bf16_t *gate, *up, *h;
    tick_fwd(s, l, FWD_MLP);
    for (size_t r0 = 0; r0 < s->T; r0 += R) {
        int n = (int)(s->T - r0 < (size_t)R ? s->T - r0 : (size_t)R);
        mlp_lines(s, l, PASS_FWD, r0, &gate, &up, &h);
        mlp_chunk_forward(s, l, PASS_FWD, r0, n, gate, up, h);
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
    bf16_t *gate, *up, *h;
    const int recompute = layer_level(s, l) != RECOMPUTE_NONE; // none: gate, up, h kept from the forward
    bf16_t *dres0 = bb(s, GB_DRES, -1, PASS_NONE), *dln0 = bb(s, GB_DLN_MLP, l, PASS_BWD);
    const bf16_t *ln20 = bb(s, GB_LN2, l, PASS_BWD);
    const float *rstd2 = fb(s, GB_RSTD2, l, PASS_BWD);
    for (size_t r0 = 0; r0 < s->T; r0 += R) {
        int n = (int)(s->T - r0 < (size_t)R ? s->T - r0 : (size_t)R);
        int acc = r0 > 0; // weight gradients accumulate over chunks
        bf16_t *dres = dres0 + r0 * C, *dln = dln0 + r0 * C;
        const bf16_t *ln2 = ln20 + r0 * C;
        mlp_lines(s, l, PASS_BWD, r0, &gate, &up, &h);
        if (recompute) {
            profile_pass(s->prof, OPP_RECOMPUTE);
            mlp_chunk_forward(s, l, PASS_BWD, r0, n, gate, up, h);
        }
        profile_pass(s->prof, OPP_BWD);
        profile_begin(s->prof, OPK_MLP, st);
        matmul_backward_weight(s->mm, grad(s, P_WDOWN, l), NULL, dres, h, n, F, C, acc, st);
        matmul_backward_input(s->mm, h, dres, layer_w(s, P_WDOWN, l), n, F, C, 0, st);  // h := dh
        profile_begin(s->prof, OPK_SWIGLU, st);
        swiglu_backward(gate, up, h, gate, up, (size_t)n * F, st);                      // in place: dgate, dup
        profile_begin(s->prof, OPK_MLP, st);
        matmul_backward_weight(s->mm, grad(s, P_WGATE, l), NULL, gate, ln2, n, C, F, acc, st);
        matmul_backward_weight(s->mm, grad(s, P_WUP, l), NULL, up, ln2, n, C, F, acc, st);
        matmul_backward_input(s->mm, dln, gate, layer_w(s, P_WGATE, l), n, C, F, 0, st);
        matmul_backward_input(s->mm, dln, up, layer_w(s, P_WUP, l), n, C, F, 1, st);
        profile_begin(s->prof, OPK_NORM, st);
        rmsnorm_backward(dres, acc_ln2, dln, x1 + r0 * C, layer_w(s, P_LN2, l), rstd2 + r0, (size_t)n, C, st);
    }
}

// dres: gradient of x1 in, of the layer input x out.
static PbStatus attention_block_backward(Step *s, int l, const bf16_t *x, char *err, size_t errlen) {
    const ModelConfig *m = &s->m;
    const int T = (int)s->T, C = m->hidden, D = m->head_dim, Hq = m->n_head, Hkv = m->n_kv_head;
    const int QD = Hq * D, KVD = Hkv * D;
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
    bf16_t *dln = bb(s, GB_DLN_ATT, l, B);
    const double *freq = (const double *)buf_at(s, GB_ROPE_FREQ, -1, PASS_NONE);
    profile_begin(s->prof, OPK_ROPE, st);
    rope_qk_backward_freq(dq, dk, ib(s, GB_POS), s->T, Hq, Hkv, D, freq, st);
    if (m->qk_norm) { // in place: dq, dk become the projections' output gradients
        profile_begin(s->prof, OPK_NORM, st);
        head_rmsnorm_backward(dq, norm_acc_qnorm(s, l), dq, bb(s, GB_QRAW, l, B), layer_w(s, P_QNORM, l),
                              fb(s, GB_QRSTD, l, B), s->T, Hq, D, st);
        head_rmsnorm_backward(dk, norm_acc_knorm(s, l), dk, bb(s, GB_KRAW, l, B), layer_w(s, P_KNORM, l),
                              fb(s, GB_KRSTD, l, B), s->T, Hkv, D, st);
    }
    profile_begin(s->prof, OPK_QKV, st);
    matmul_backward_weight(s->mm, grad(s, P_WQ, l), grad(s, P_BQ, l), dq, ln1, T, C, QD, 0, st);
    matmul_backward_weight(s->mm, grad(s, P_WK, l), grad(s, P_BK, l), dk, ln1, T, C, KVD, 0, st);
    matmul_backward_weight(s->mm, grad(s, P_WV, l), grad(s, P_BV, l), dv, ln1, T, C, KVD, 0, st);
    matmul_backward_input(s->mm, dln, dq, layer_w(s, P_WQ, l), T, C, QD, 0, st);
    matmul_backward_input(s->mm, dln, dk, layer_w(s, P_WK, l), T, C, KVD, 1, st);
    matmul_backward_input(s->mm, dln, dv, layer_w(s, P_WV, l), T, C, KVD, 1, st);
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
