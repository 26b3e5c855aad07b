/*
 * cudnn_tree.c: the cuDNN backend's prefix and tree layouts (prefix_path.h says how; cudnn.c's
 * comment on top places it in the backend). A layout of more than one level is a forest of nodes
 * in depth-first slot order, so a node's subtree is one slot range [start, subtree_end).
 *
 * Depth calls (backward always, forward when merged): depth[d] is one THD call over the chains at
 * depth d (prefix_path.h: a node and its only children), in slot order; a chain is one sequence
 * with queries [start, subtree_end), keys its slots and top-left causal masking: its own rows see
 * its keys causally, its descendants' rows (row >= every key) see all of them, so no masked tile
 * is visited. The chains of one depth have disjoint subtrees, so every call's query and key
 * ranges are disjoint and increasing (what THD ragged offsets need; gaps between them are
 * allowed). Every real token is a query of depth[0] (the roots' subtrees cover the layout) and a
 * key of exactly one call.
 *   forward (merge)  depth[0] writes o and lse of every real row; each deeper call, part by part,
 *                    writes its o and lse into o_part / lse_part, merged into o and lse at the
 *                    part's query runs (attn_merge: kernels/attn_merge.cu).
 *   backward         with the merged o and lse, each call's backward is its exact share: depth[0]
 *                    writes dq of every real row and dk / dv of the roots; each deeper call writes
 *                    dk / dv of its nodes and its part's dq into dq_part, added onto dq
 *                    (sdpa_backward with dq_tmp: add_inplace, bf16 result).
 * Gather forward: `prompts` (the roots causal against themselves) and `completions` (every node
 * with a parent against its copy of [ancestors' K/V, own K/V], bottom-right causal; kv_gather.h).
 * The flat prefix layout is the two-level case: depth[0] the groups against their prompts,
 * depth[1] each completion against itself.
 */
#define PB_WANT_CUDNN
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/check.h"
#include "../kernels/kernels.h"
#include "cudnn_plan.h"

static void phase_mark(PhaseTimer *t, int i, cudaStream_t stream) {
    if (t->on) cudaCheck(cudaEventRecord(t->ev[i], stream));
}

static void phase_collect(PhaseTimer *t) {
    if (!t->on) return;
    cudaCheck(cudaEventSynchronize(t->ev[PHASE_COUNT]));
    for (int i = 0; i < PHASE_COUNT; i++) {
        float ms = 0.0f;
        cudaCheck(cudaEventElapsedTime(&ms, t->ev[i], t->ev[i + 1]));
        t->ms[i] += ms;
    }
    t->n++;
}

// One depth call per level of the chain tree (prefix_path.h), in parts (attention/memory.c chose them).
static PbStatus depth_calls_setup(AttnBackend *ab, const Layout *l, int build, char *err, size_t errlen) {
    LayoutPlan *lp = &ab->lp;
    DepthCalls dc;
    if (prefix_depth_calls(l, &dc)) {
        snprintf(err, errlen, "cudnn attention: out of host memory");
        return PB_NO_MEMORY;
    }
    if (dc.n_depths < 1 || dc.n_depths > PB_MAX_DEPTH) {
        snprintf(err, errlen, "cudnn attention: %d depth calls (1..%d supported)", dc.n_depths, PB_MAX_DEPTH);
        prefix_depth_calls_free(&dc);
        return PB_ERROR;
    }
    lp->n_depths = dc.n_depths;
    PbStatus rc = PB_OK;
    for (int d = 0; !rc && d < lp->n_depths; d++) {
        int count = 0;
        for (int i = 0; i < dc.n_seqs; i++) count += dc.seqs[i].depth == d;
        CallSpec sp;
        if (spec_alloc(&sp, count)) {
            spec_free(&sp);
            snprintf(err, errlen, "cudnn attention: out of host memory");
            rc = PB_NO_MEMORY;
            break;
        }
        for (int i = 0, b = 0; i < dc.n_seqs; i++) {
            const DepthSeq *q = &dc.seqs[i];
            if (q->depth != d) continue;
            sp.len_q[b] = q->q_len;
            sp.len_kv[b] = q->kv_len;
            sp.start_q[b] = q->q_start;
            sp.start_kv[b] = q->kv_start;
            b++;
        }
        rc = plan_call_setup_parts(ab, &lp->calls.depth[d], &sp, lp->parts.part[ATTN_PARTED_DEPTH + d],
                                   CAUSAL_TOP_LEFT, build, err, errlen);
        spec_free(&sp);
    }
    prefix_depth_calls_free(&dc);
    return rc;
}

// Gather forward: the gathers (kv_gather.h), the roots' call and the gathers' call.
static PbStatus gather_setup(AttnBackend *ab, const Layout *l, char *err, size_t errlen) {
    LayoutPlan *lp = &ab->lp;
    lp->n_gathers = kv_gathers_of_tree(l, &lp->gathers, &lp->cat_tokens);
    if (lp->n_gathers < 0) {
        lp->n_gathers = 0;
        snprintf(err, errlen, "cudnn attention: out of host memory");
        return PB_NO_MEMORY;
    }
    if (lp->n_gathers == 0) {
        snprintf(err, errlen, "cudnn attention: a prefix layout without a node below its roots");
        return PB_ERROR;
    }
    CallSpec sp[2];
    memset(sp, 0, sizeof sp);
    PbStatus rc = spec_alloc(&sp[0], l->n_seqs) || spec_alloc(&sp[1], lp->n_gathers) ? PB_NO_MEMORY : PB_OK;
    for (int gi = 0; !rc && gi < l->n_seqs; gi++) {
        sp[0].len_q[gi] = sp[0].len_kv[gi] = l->seqs[gi].shared_len;
        sp[0].start_q[gi] = sp[0].start_kv[gi] = l->seqs[gi].start;
    }
    for (int i = 0; !rc && i < lp->n_gathers; i++) {
        const KvGather *gt = &lp->gathers[i];
        sp[1].len_q[i] = (int32_t)gt->own.len;
        sp[1].len_kv[i] = (int32_t)(gt->anc_len + gt->own.len);
        sp[1].start_q[i] = (int64_t)gt->own.start;
        sp[1].start_kv[i] = (int64_t)gt->dst;
    }
    if (rc) snprintf(err, errlen, "cudnn attention: out of host memory");
    if (!rc) rc = plan_call_setup(ab, &lp->calls.prompts, &sp[0], 1, CAUSAL_TOP_LEFT, plan_max_len(sp[0].len_q, sp[0].b),
                                  SDPA_BUILD_FWD, err, errlen);
    if (!rc) rc = plan_call_setup(ab, &lp->calls.completions, &sp[1], 1, CAUSAL_BOTTOM_RIGHT,
                                  plan_max_len(sp[1].len_kv, sp[1].b), SDPA_BUILD_FWD, err, errlen);
    spec_free(&sp[0]);
    spec_free(&sp[1]);
    return rc;
}

PbStatus cudnn_tree_setup(AttnBackend *ab, const Layout *l, char *err, size_t errlen) {
    LayoutPlan *lp = &ab->lp;
    lp->prefix = 1;
    lp->fwd = prefix_forward(ab->opt.prefix, l->max_depth);
    PbStatus rc = lp->fwd == PREFIX_FWD_GATHER ? gather_setup(ab, l, err, errlen) : PB_OK;
    if (!rc) rc = depth_calls_setup(ab, l, SDPA_BUILD_BWD | (lp->fwd == PREFIX_FWD_MERGE ? SDPA_BUILD_FWD : 0), err,
                                    errlen);
    return rc;
}

// kcat/vcat <- [ancestors, own] K/V of every gather.
static void tree_gather(const AttnBackend *ab, const void *k, const void *v, cudaStream_t stream) {
    const LayoutPlan *lp = &ab->lp;
    const size_t tok = (size_t)(ab->shape.n_kv_head * ab->shape.head_dim) * 2;
    const void *src[2] = {k, v};
    void *dst[2] = {lp->kcat, lp->vcat};
    for (int i = 0; i < lp->n_gathers; i++) {
        const KvGather *gt = &lp->gathers[i];
        for (int j = 0; j < 2; j++) {
            size_t at = gt->dst;
            for (int r = 0; r <= gt->n_anc; r++) {
                const SlotRun run = r < gt->n_anc ? gt->anc[r] : gt->own;
                cudaCheck(cudaMemcpyAsync((char *)dst[j] + at * tok, (const char *)src[j] + run.start * tok,
                                          run.len * tok, cudaMemcpyDeviceToDevice, stream));
                at += run.len;
            }
        }
    }
}

// A deeper depth call's forward, part by part into o_part / lse_part, merged into o and lse at
// the part's query runs (the part's buffers start at its first query row, base_q).
static PbStatus merge_call(AttnBackend *ab, const SdpaCall *c, const void *q, const void *k, const void *v, void *o,
                           float *lse, cudaStream_t stream, char *err, size_t errlen) {
    const LayoutPlan *lp = &ab->lp;
    const size_t hq = (size_t)ab->shape.n_head, qel = hq * (size_t)ab->shape.head_dim, qrow = qel * 2,
                 kvrow = (size_t)(ab->shape.n_kv_head * ab->shape.head_dim) * 2;
    for (int i = 0; i < c->n_parts; i++) {
        const SdpaPart *pt = &c->parts[i];
        const size_t bq = (size_t)pt->base_q, bkv = (size_t)pt->base_kv;
        PbStatus rc = sdpa_forward_part(ab->handle, &ab->shape, c, pt, &lp->scr, (const char *)q + bq * qrow,
                                        (const char *)k + bkv * kvrow, (const char *)v + bkv * kvrow, lp->o_part,
                                        lp->lse_part, stream, err, errlen);
        if (rc != PB_OK) return rc;
        for (int r = pt->run0; r < pt->run0 + pt->n_runs; r++) {
            const size_t at = c->runs[r].start, off = at - bq;
            attn_merge((bf16_t *)o + at * qel, lse + at * hq, (const bf16_t *)lp->o_part + off * qel,
                       lp->lse_part + off * hq, c->runs[r].len, (int)hq, ab->shape.head_dim, stream);
        }
    }
    return PB_OK;
}

PbStatus cudnn_tree_forward(AttnBackend *ab, const void *q, const void *k, const void *v, void *o, float *lse,
                            cudaStream_t stream, char *err, size_t errlen) {
    const LayoutPlan *lp = &ab->lp;
    const SdpaScratch *scr = &lp->scr;
    PbStatus rc;
    if (lp->fwd == PREFIX_FWD_GATHER) {
        tree_gather(ab, k, v, stream);
        rc = sdpa_forward(ab->handle, &ab->shape, &lp->calls.prompts, scr, q, k, v, o, lse, stream, err, errlen);
        if (rc == PB_OK)
            rc = sdpa_forward(ab->handle, &ab->shape, &lp->calls.completions, scr, q, lp->kcat, lp->vcat, o, lse,
                              stream, err, errlen);
        return rc;
    }
    rc = sdpa_forward(ab->handle, &ab->shape, &lp->calls.depth[0], scr, q, k, v, o, lse, stream, err, errlen);
    for (int d = 1; rc == PB_OK && d < lp->n_depths; d++)
        rc = merge_call(ab, &lp->calls.depth[d], q, k, v, o, lse, stream, err, errlen);
    return rc;
}

// The depth calls' backward, roots first (they write dq of every real row; the deeper calls add theirs).
PbStatus cudnn_tree_backward(AttnBackend *ab, const void *q, const void *k, const void *v, const void *o,
                             const void *dout, const float *lse, void *dq, void *dk, void *dv, cudaStream_t stream,
                             char *err, size_t errlen) {
    const LayoutPlan *lp = &ab->lp;
    PhaseTimer *t = &ab->phases;
    phase_mark(t, PHASE_ROOT_CALL, stream);
    PbStatus rc = sdpa_backward(ab->handle, &ab->shape, &lp->calls.depth[0], &lp->scr, q, k, v, o, dout, lse, dq, dk,
                                dv, NULL, stream, err, errlen);
    phase_mark(t, PHASE_DEEPER_CALLS, stream);
    for (int d = 1; rc == PB_OK && d < lp->n_depths; d++)
        rc = sdpa_backward(ab->handle, &ab->shape, &lp->calls.depth[d], &lp->scr, q, k, v, o, dout, lse, dq, dk, dv,
                           lp->dq_part, stream, err, errlen); // dq += each part's, through dq_part
    if (rc != PB_OK) return rc;
    phase_mark(t, PHASE_COUNT, stream);
    phase_collect(t);
    return PB_OK;
}
