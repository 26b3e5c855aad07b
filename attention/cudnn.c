/*
 * cudnn.c: the "cudnn" attention backend: cuDNN fused flash attention from plain C (DESIGN.md
 * section 6). The graphs and their execution are in cudnn_sdpa.c (on cudnn_graph.c); this file
 * is each layout's plan of calls and the buffers between them, with the prefix and tree layouts'
 * part in cudnn_tree.c (the state both share: cudnn_plan.h).
 *
 *   padded  one call, B = n_rows, S = row_len, BSHD strides, per-row lengths (padding mask);
 *           with its backward in parts (attn_memory.h: tight), the forward stays that call and
 *           the backward is `padded_bwd`, a plan over a part's rows run once per part.
 *   packed  one call, THD ragged offsets over the documents (no attention across documents).
 *   prefix, tree  (more than one level; prefix_path.h) backward by depth: per depth one THD call,
 *           each node's keys against its subtree's queries (top-left causal), dQ summed over the
 *           depths; forward gathered (the roots causal; every other node against a copy of its
 *           ancestors' and its own K/V, bottom-right causal) or merged (the same depth calls,
 *           merged through the softmax statistics). cudnn_tree.c says how.
 * The calls with a backward other than padded's run in parts of consecutive sequences
 * (cudnn_parts.c; attention/memory.c chooses the parts), so that the backward's buffers cover one
 * part. Every figure prepare() allocates or asks to be lent is first computed on the host
 * (attention/memory.c, attn_memory); prepare checks it got exactly that (check_host_figures).
 * Plans are built in prepare() and reused. Statistics: cuDNN's stats are max + log(sum exp(s -
 * max)) of the scaled scores, i.e. the contract's lse; written token-major (n_slots, Hq)
 * directly. Padding slots get o = 0, lse = 0 (cuDNN leaves them untouched) and dq = dk = dv = 0
 * by cudaMemsetAsync. cuDNN >= 9.6 zero-initialises the dQ fp32 accumulator itself.
 */
#define PB_WANT_CUDNN
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cudnn.h>

#include "../kernels/check.h"
#include "../kernels/kernels.h"
#include "cudnn_plan.h"

// Every call of a plan, for what is done to each alike (workspace size, free).
static void layout_calls_each(LayoutCalls *c, SdpaCall *each[N_LAYOUT_CALLS]) {
    each[0] = &c->whole;
    each[1] = &c->padded_bwd;
    each[2] = &c->prompts;
    each[3] = &c->completions;
    for (int d = 0; d < PB_MAX_DEPTH; d++) each[4 + d] = &c->depth[d];
}

// ---- prepare: calls, plans and buffers for one layout ----------------------------------------

void plan_scratch_take(LayoutPlan *lp, int pass, ScratchSlot which, size_t bytes) {
    lp->scr_off[pass][which] = lp->scratch_bytes[pass];
    lp->scratch_bytes[pass] += (bytes + 255) / 256 * 256; // 256-byte aligned, like cudaMalloc's
}

PbStatus plan_call_setup(AttnBackend *ab, SdpaCall *c, const CallSpec *sp, int ragged, CausalKind causal,
                         int64_t batch_tokens, int build, char *err, size_t errlen) {
    return sdpa_call_setup(c, &ab->shape, ab->handle, sp, ragged, causal, batch_tokens, build, &ab->lp.device_bytes,
                           err, errlen);
}

PbStatus plan_call_setup_parts(AttnBackend *ab, SdpaCall *c, const CallSpec *sp, int part, CausalKind causal,
                               int build, char *err, size_t errlen) {
    return sdpa_call_setup_parts(c, &ab->shape, ab->handle, sp, part, causal, build, &ab->lp.device_bytes, err, errlen);
}

int32_t plan_max_len(const int32_t *len, int64_t n) {
    int32_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (len[i] > m) m = len[i];
    return m;
}

static int find_pad_runs(LayoutPlan *lp, const Layout *l) {
    int n = 0;
    for (size_t i = 0; i < l->n_slots; i++)
        if (l->seq_id[i] < 0 && (i == 0 || l->seq_id[i - 1] >= 0)) n++;
    lp->pads = n ? calloc((size_t)n, sizeof(SlotRun)) : NULL;
    if (n && !lp->pads) return -1;
    lp->n_pads = 0;
    for (size_t i = 0; i < l->n_slots; i++) {
        if (l->seq_id[i] >= 0) continue;
        if (i == 0 || l->seq_id[i - 1] >= 0) lp->pads[lp->n_pads++] = (SlotRun){i, 0};
        lp->pads[lp->n_pads - 1].len++;
    }
    return 0;
}

static PbStatus setup_padded(AttnBackend *ab, const Layout *l, char *err, size_t errlen) {
    CallSpec sp;
    PbStatus rc = spec_alloc(&sp, l->n_rows) ? PB_NO_MEMORY : PB_OK;
    // one batch entry per row; rows are sequences in slot order
    for (int r = 0; !rc && r < l->n_rows; r++) sp.start_q[r] = sp.start_kv[r] = (int64_t)r * l->row_len;
    for (int i = 0; !rc && i < l->n_seqs; i++) {
        int r = l->seqs[i].start / l->row_len;
        sp.len_q[r] = sp.len_kv[r] = l->seqs[i].len;
    }
    if (rc) snprintf(err, errlen, "cudnn attention: out of host memory");
    const int part = ab->lp.parts.part[ATTN_PARTED_WHOLE];
    const int parted = part < l->n_rows;
    if (!rc) rc = plan_call_setup(ab, &ab->lp.calls.whole, &sp, 0, CAUSAL_TOP_LEFT, l->row_len,
                                  SDPA_BUILD_FWD | (parted ? 0 : SDPA_BUILD_BWD), err, errlen);
    if (!rc && parted)
        rc = sdpa_call_setup_row_parts(&ab->lp.calls.padded_bwd, &ab->shape, ab->handle, &sp, part, l->row_len,
                                       SDPA_BUILD_BWD, &ab->lp.device_bytes, err, errlen);
    spec_free(&sp);
    return rc;
}

// Packed, and a prefix layout without completions: one THD call over the sequences, in parts.
static PbStatus setup_packed(AttnBackend *ab, const Layout *l, char *err, size_t errlen) {
    CallSpec sp;
    PbStatus rc = spec_alloc(&sp, l->n_seqs) ? PB_NO_MEMORY : PB_OK;
    for (int i = 0; !rc && i < l->n_seqs; i++) {
        sp.len_q[i] = sp.len_kv[i] = l->seqs[i].len;
        sp.start_q[i] = sp.start_kv[i] = l->seqs[i].start;
    }
    if (rc) snprintf(err, errlen, "cudnn attention: out of host memory");
    if (!rc) rc = plan_call_setup_parts(ab, &ab->lp.calls.whole, &sp, ab->lp.parts.part[ATTN_PARTED_WHOLE],
                                        CAUSAL_TOP_LEFT, SDPA_BUILD_FWD | SDPA_BUILD_BWD, err, errlen);
    spec_free(&sp);
    return rc;
}


static void attn_cudnn_release(AttnBackend *ab);

// The workspace's share of a pass's scratch: cuDNN's figure for that pass's plans, at least what
// the host plans for it (over the slots that pass's padded call covers).
static size_t workspace_reserved(const AttnBackend *ab, const Layout *l, int pass, int64_t ws) {
    const size_t slots = pass == ATTN_BWD && l->strategy == STRATEGY_PADDED
                             ? (size_t)ab->lp.parts.span[ATTN_PARTED_WHOLE].q : l->n_slots;
    const size_t floor = attn_cudnn_workspace_floor(&ab->shape, l->strategy, slots, pass);
    size_t w = (size_t)ws > floor ? (size_t)ws : floor;
    return (w + 255) / 256 * 256;
}

/* Every transient buffer's place, per pass, as attention/memory.c adds them up: the workspace
 * first in both; the backward's sums and dQ accumulator over the largest part's rows (padded
 * whole: all slots), GQA's per-head dK/dV over its keys (ragged calls only), the deeper depth
 * calls' dq; the forward's kcat/vcat (gathered) or the deeper depth calls' o and lse (merged).
 * ws: each pass's largest plan workspace. */
static void scratch_layout(AttnBackend *ab, const Layout *l, const int64_t ws[2]) {
    LayoutPlan *lp = &ab->lp;
    const size_t hq = (size_t)ab->shape.n_head, hkv = (size_t)ab->shape.n_kv_head, d = (size_t)ab->shape.head_dim;
    for (int p = 0; p < 2; p++) {
        for (int i = 0; i < SCR_COUNT; i++) lp->scr_off[p][i] = SIZE_MAX;
        lp->scratch_bytes[p] = 0;
        plan_scratch_take(lp, p, SCR_WORKSPACE, workspace_reserved(ab, l, p, ws[p]));
    }
    size_t rows = l->strategy == STRATEGY_PADDED && !lp->calls.padded_bwd.n_parts ? lp->n_slots : 0, keys = 0,
           deeper = 0;
    SdpaCall *calls[N_LAYOUT_CALLS];
    layout_calls_each(&lp->calls, calls);
    for (int i = 0; i < N_LAYOUT_CALLS; i++) {
        if (!calls[i]->n_parts) continue;
        if (calls[i]->max_rows > rows) rows = calls[i]->max_rows;
        if (calls[i]->max_keys > keys) keys = calls[i]->max_keys;
    }
    for (int i = 1; i < lp->n_depths; i++)
        if (lp->calls.depth[i].max_rows > deeper) deeper = lp->calls.depth[i].max_rows;
    plan_scratch_take(lp, ATTN_BWD, SCR_SUM, rows * hq * sizeof(float));
    plan_scratch_take(lp, ATTN_BWD, SCR_DQ_ACC, rows * hq * d * sizeof(float));
    if (hq != hkv && l->strategy != STRATEGY_PADDED) {
        // bf16, as the graph declares them (cudnn-frontend reserves sizeof(float) per element;
        // the tests run these layouts under compute-sanitizer)
        plan_scratch_take(lp, ATTN_BWD, SCR_DK_FULL, keys * hq * d * 2);
        plan_scratch_take(lp, ATTN_BWD, SCR_DV_FULL, keys * hq * d * 2);
    }
    if (deeper) plan_scratch_take(lp, ATTN_BWD, SCR_DQ_PART, deeper * hq * d * 2);
    if (lp->prefix && lp->fwd == PREFIX_FWD_GATHER) { // the forward gathers every node's K/V copies
        const size_t kv = lp->cat_tokens * hkv * d * 2;
        plan_scratch_take(lp, ATTN_FWD, SCR_KCAT, kv);
        plan_scratch_take(lp, ATTN_FWD, SCR_VCAT, kv);
    } else if (lp->prefix) { // the merged forward's deeper calls, one part at a time
        plan_scratch_take(lp, ATTN_FWD, SCR_O_PART, deeper * hq * d * 2);
        plan_scratch_take(lp, ATTN_FWD, SCR_LSE_PART, deeper * hq * sizeof(float));
    }
}

// What prepare holds and lends must be what the host computed (attention/memory.c): the step
// plans its memory from that figure before any GPU work, and `bench plan` prints it. Only the
// workspace may exceed the host's reserve; a mismatch elsewhere is a bug in one of the two.
static PbStatus check_host_figures(AttnBackend *ab, const Layout *l, const int64_t ws[2], char *err, size_t errlen) {
    const LayoutPlan *lp = &ab->lp;
    AttnMemory host;
    const AttnMemoryAsk ask = {ab->opt.prefix, lp->tight, ab->opt.padded_part_rows};
    if (attn_memory("cudnn", &ab->shape, l, &ask, &host)) {
        snprintf(err, errlen, "cudnn attention: out of host memory");
        return PB_NO_MEMORY;
    }
    size_t extra[2];
    for (int p = 0; p < 2; p++) extra[p] = workspace_reserved(ab, l, p, ws[p]) - host.workspace[p];
    if (lp->device_bytes == host.held && lp->scratch_bytes[ATTN_FWD] == host.scratch[ATTN_FWD] + extra[ATTN_FWD] &&
        lp->scratch_bytes[ATTN_BWD] == host.scratch[ATTN_BWD] + extra[ATTN_BWD])
        return PB_OK;
    snprintf(err, errlen, "cudnn attention: holds %zu and lends %zu / %zu bytes, attention/memory.c says %zu and "
             "%zu / %zu (workspace %zu / %zu over the reserve)", lp->device_bytes, lp->scratch_bytes[ATTN_FWD],
             lp->scratch_bytes[ATTN_BWD], host.held, host.scratch[ATTN_FWD], host.scratch[ATTN_BWD], extra[ATTN_FWD],
             extra[ATTN_BWD]);
    return PB_ERROR;
}

static PbStatus attn_cudnn_prepare(AttnBackend *ab, const AttnMask *mask, AttnMemory *mem, char *err, size_t errlen) {
    attn_cudnn_release(ab);
    LayoutPlan *lp = &ab->lp;
    const Layout *l = mask->host;
    const int64_t hq = ab->shape.n_head, hkv = ab->shape.n_kv_head, d = ab->shape.head_dim;
    if (hq % hkv || d % 8 || l->n_seqs <= 0) {
        snprintf(err, errlen, "cudnn attention: unsupported shape (Hq %d, Hkv %d, D %d, %d sequences)",
                 (int)hq, (int)hkv, (int)d, l->n_seqs);
        return PB_ERROR;
    }
    lp->strategy = l->strategy;
    lp->n_slots = l->n_slots;
    lp->tight = mask->tight_parts;
    const AttnMemoryAsk ask = {ab->opt.prefix, lp->tight, ab->opt.padded_part_rows};
    PbStatus rc = find_pad_runs(lp, l) || attn_cudnn_parts(&ab->shape, l, &ask, &lp->parts) ? PB_NO_MEMORY : PB_OK;
    if (rc) snprintf(err, errlen, "cudnn attention: out of host memory");
    else if (l->strategy == STRATEGY_PADDED) rc = setup_padded(ab, l, err, errlen);
    else if (l->strategy == STRATEGY_PACKED || l->n_nodes == l->n_seqs) rc = setup_packed(ab, l, err, errlen);
    else rc = cudnn_tree_setup(ab, l, err, errlen);
    if (rc != PB_OK && !err[0]) snprintf(err, errlen, "cudnn attention: out of host memory");
    if (rc) {
        attn_cudnn_release(ab);
        return rc;
    }
    SdpaCall *calls[N_LAYOUT_CALLS];
    layout_calls_each(&lp->calls, calls);
    int64_t ws[2] = {0, 0}; // a pass runs only its own plans (the backward's recompute is a forward pass)
    for (int i = 0; i < N_LAYOUT_CALLS; i++) {
        if (calls[i]->fwd_ws > ws[ATTN_FWD]) ws[ATTN_FWD] = calls[i]->fwd_ws;
        if (calls[i]->bwd_ws > ws[ATTN_BWD]) ws[ATTN_BWD] = calls[i]->bwd_ws;
    }
    scratch_layout(ab, l, ws);
    rc = check_host_figures(ab, l, ws, err, errlen);
    if (rc) {
        attn_cudnn_release(ab);
        return rc;
    }
    lp->prepared = 1;
    mem->held = lp->device_bytes;
    mem->scratch[ATTN_FWD] = lp->scratch_bytes[ATTN_FWD];
    mem->scratch[ATTN_BWD] = lp->scratch_bytes[ATTN_BWD];
    for (int p = 0; p < 2; p++) mem->workspace[p] = workspace_reserved(ab, l, p, ws[p]);
    return PB_OK;
}

// ---- forward / backward -------------------------------------------------------------------------

static void zero_pads(const LayoutPlan *lp, void *x, size_t bytes_per_slot, cudaStream_t stream) {
    for (int i = 0; i < lp->n_pads; i++)
        cudaCheck(cudaMemsetAsync((char *)x + lp->pads[i].start * bytes_per_slot, 0, lp->pads[i].len * bytes_per_slot,
                                  stream));
}


// Points the transient buffers into the memory lent for this pass (a call of that pass follows).
static void scratch_point(AttnBackend *ab, int pass) {
    LayoutPlan *lp = &ab->lp;
    char *base = lp->scratch[pass];
    void **const p[SCR_COUNT] = {
        [SCR_WORKSPACE] = &lp->scr.workspace, [SCR_SUM] = (void **)&lp->scr.sum,
        [SCR_DQ_ACC] = (void **)&lp->scr.dq_acc, [SCR_DK_FULL] = &lp->scr.dk_full, [SCR_DV_FULL] = &lp->scr.dv_full,
        [SCR_DQ_PART] = &lp->dq_part, [SCR_O_PART] = &lp->o_part, [SCR_LSE_PART] = (void **)&lp->lse_part,
        [SCR_KCAT] = &lp->kcat, [SCR_VCAT] = &lp->vcat,
    };
    for (int i = 0; i < SCR_COUNT; i++) *p[i] = base && lp->scr_off[pass][i] != SIZE_MAX ? base + lp->scr_off[pass][i] : NULL;
}

static PbStatus check_ready(AttnBackend *ab, int pass, char *err, size_t errlen) {
    const char *what = pass == ATTN_FWD ? "forward" : "backward";
    if (!ab->lp.prepared) {
        snprintf(err, errlen, "cudnn attention: %s before prepare", what);
        return PB_ERROR;
    }
    if (ab->lp.scratch_bytes[pass] && !ab->lp.scratch[pass]) {
        snprintf(err, errlen, "cudnn attention: %s without scratch (set_scratch)", what);
        return PB_ERROR;
    }
    scratch_point(ab, pass);
    return PB_OK;
}

static PbStatus attn_cudnn_forward(AttnBackend *ab, const void *q, const void *k, const void *v, void *o, float *lse,
                                   cudaStream_t stream, char *err, size_t errlen) {
    PbStatus rc = check_ready(ab, ATTN_FWD, err, errlen);
    if (rc != PB_OK) return rc;
    const LayoutPlan *lp = &ab->lp;
    const SdpaScratch *scr = &lp->scr;
    if (lp->prefix) rc = cudnn_tree_forward(ab, q, k, v, o, lse, stream, err, errlen);
    else rc = sdpa_forward(ab->handle, &ab->shape, &lp->calls.whole, scr, q, k, v, o, lse, stream, err, errlen);
    if (rc != PB_OK) return rc;
    zero_pads(lp, o, (size_t)(ab->shape.n_head * ab->shape.head_dim) * 2, stream);
    zero_pads(lp, lse, (size_t)ab->shape.n_head * sizeof(float), stream);
    return PB_OK;
}

static PbStatus attn_cudnn_backward(AttnBackend *ab, const void *q, const void *k, const void *v, const void *o,
                                    const void *dout, const float *lse, void *dq, void *dk, void *dv,
                                    cudaStream_t stream, char *err, size_t errlen) {
    PbStatus rc = check_ready(ab, ATTN_BWD, err, errlen);
    if (rc != PB_OK) return rc;
    const LayoutPlan *lp = &ab->lp;
    if (lp->prefix) rc = cudnn_tree_backward(ab, q, k, v, o, dout, lse, dq, dk, dv, stream, err, errlen);
    else rc = sdpa_backward(ab->handle, &ab->shape, lp->calls.padded_bwd.n_parts ? &lp->calls.padded_bwd : &lp->calls.whole,
                            &lp->scr, q, k, v, o, dout, lse, dq, dk, dv,
                            NULL, stream, err, errlen);
    if (rc != PB_OK) return rc;
    zero_pads(lp, dq, (size_t)(ab->shape.n_head * ab->shape.head_dim) * 2, stream);
    zero_pads(lp, dk, (size_t)(ab->shape.n_kv_head * ab->shape.head_dim) * 2, stream);
    zero_pads(lp, dv, (size_t)(ab->shape.n_kv_head * ab->shape.head_dim) * 2, stream);
    return PB_OK;
}

// ---- lifetime ---------------------------------------------------------------------------------

static AttnBackend *attn_cudnn_create(const AttnShape *shape, const AttnOptions *opt, char *err, size_t errlen) {
    // Older cuDNN leaves the dQ accumulator to the caller to zero; this backend relies on 9.6+.
    size_t version = cudnnGetVersion();
    if (version < 90600) {
        snprintf(err, errlen, "cudnn attention: cuDNN %zu.%zu found, 9.6 or newer needed", version / 10000,
                 version / 100 % 100);
        return NULL;
    }
    AttnBackend *ab = calloc(1, sizeof *ab);
    if (!ab) {
        snprintf(err, errlen, "cudnn attention: out of host memory");
        return NULL;
    }
    ab->shape = *shape;
    if (opt) ab->opt = *opt;
    cudnnStatus_t s = cudnnCreate(&ab->handle);
    if (s != CUDNN_STATUS_SUCCESS) {
        snprintf(err, errlen, "cudnnCreate: %s", cudnnGetErrorString(s));
        free(ab);
        return NULL;
    }
    ab->phases.on = ab->opt.phases;
    for (int i = 0; ab->phases.on && i <= PHASE_COUNT; i++) cudaCheck(cudaEventCreate(&ab->phases.ev[i]));
    return ab;
}

static void attn_cudnn_release(AttnBackend *ab) {
    LayoutPlan *lp = &ab->lp;
    SdpaCall *calls[N_LAYOUT_CALLS];
    layout_calls_each(&lp->calls, calls);
    for (int i = 0; i < N_LAYOUT_CALLS; i++) sdpa_call_free(calls[i]);
    // the scratch buffers (kcat / vcat among them) are the caller's
    free(lp->gathers);
    free(lp->pads);
    memset(lp, 0, sizeof *lp);
}

static void attn_cudnn_set_scratch(AttnBackend *ab, int pass, void *scratch) {
    if (pass == ATTN_FWD || pass == ATTN_BWD) ab->lp.scratch[pass] = (char *)scratch;
}

static void attn_cudnn_describe(AttnBackend *ab, char *out, size_t len) {
    const LayoutPlan *lp = &ab->lp;
    if (!lp->prepared || !lp->prefix) {
        snprintf(out, len, "%s", "");
        return;
    }
    snprintf(out, len, "%s: %s forward, %d depth calls", attn_prefix_mode_name(ab->opt.prefix),
             prefix_forward_name(lp->fwd), lp->n_depths);
}

static void attn_cudnn_destroy(AttnBackend *ab) {
    if (!ab) return;
    attn_cudnn_release(ab);
    const PhaseTimer *t = &ab->phases;
    if (t->on && t->n)
        fprintf(stderr, "cudnn prefix backward phases (%s), mean of %d (ms): root call %.3f, deeper calls and dq "
                "sums %.3f\n", attn_prefix_mode_name(ab->opt.prefix), t->n, t->ms[0] / t->n, t->ms[1] / t->n);
    for (int i = 0; t->on && i <= PHASE_COUNT; i++) cudaEventDestroy(t->ev[i]);
    cudnnDestroy(ab->handle);
    free(ab);
}

const AttnOps attn_cudnn_ops = {
    .name = "cudnn",
    .create = attn_cudnn_create,
    .prepare = attn_cudnn_prepare,
    .set_scratch = attn_cudnn_set_scratch,
    .forward = attn_cudnn_forward,
    .backward = attn_cudnn_backward,
    .describe = attn_cudnn_describe,
    .release = attn_cudnn_release,
    .destroy = attn_cudnn_destroy,
};
