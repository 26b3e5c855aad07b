/*
 * cudnn.c: the "cudnn" attention backend: cuDNN fused flash attention from plain C (DESIGN.md
 * section 6). The graphs and their execution are in cudnn_sdpa.c (on cudnn_graph.c); this file
 * is each layout's plan of calls and the buffers between them.
 *
 *   padded  one call, B = n_rows, S = row_len, BSHD strides, per-row lengths (padding mask).
 *   packed  one call, THD ragged offsets over the documents (no attention across documents).
 *   prefix  forward: call `prompts` over the prompts (THD, causal) and call `completions` over
 *           the completions (THD) against [their prompt's K/V, their own K/V], bottom-right
 *           causal, from copies gathered into kcat/vcat (cudaMemcpyAsync). Backward per group,
 *           split or copied (prefix_path.h: the cost rule, or forced by AttnOptions.prefix):
 *             split   `split_prompt_keys`: every split group's rows against its prompt keys
 *                     (top-left causal: prompt rows causal, completion rows see the whole
 *                     prompt); `split_self`: each completion against itself. With the final o and
 *                     lse each key subset's share of the gradient is exact; dK/dV of every key
 *                     come from one call; the completion rows' dQ is the sum of both (split_self
 *                     writes dq_self, added after). No copies, no masked tile visited.
 *             copied  `copied_prompts` and `copied_completions`: the forward's two calls over
 *                     the copied groups, backward over re-gathered copies; the completion part
 *                     of dkcat/dvcat is copied back and the K prompt copies are added onto the
 *                     prompt's dK/dV (add_inplace, kernels/elementwise.cu: fp32 add, bf16
 *                     result, so K roundings; a cuBLASLt GEMV did the fp32 sum at once but took
 *                     0.8 ms each).
 * Plans are built in prepare() and reused. Statistics: cuDNN's stats are max + log(sum exp(s -
 * max)) of the scaled scores, i.e. the contract's lse; written token-major (n_slots, Hq)
 * directly. Padding slots get o = 0, lse = 0 (cuDNN leaves them untouched) and dq = dk = dv = 0
 * by cudaMemsetAsync. cuDNN >= 9.6 zero-initialises the dQ fp32 accumulator itself.
 */
#define PB_WANT_CUDNN
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cudnn.h>

#include "../kernels/check.h"
#include "../kernels/kernels.h"
#include "attention.h"
#include "cudnn_sdpa.h"

typedef struct SlotRun { size_t start, len; } SlotRun;

/* One completion's [P, c] K/V in kcat: from the prompt's and the completion's slots to dst. */
typedef struct PrefixGather {
    size_t src_prompt, prompt_len, src_comp, comp_len, dst;
    PrefixPath path; // its group's backward
} PrefixGather;

/* The calls of one layout (the comment on top of this file says which run when). */
typedef struct LayoutCalls {
    SdpaCall whole;                                 // padded, packed: forward and backward
    SdpaCall prompts, completions;                  // prefix forward, every group
    SdpaCall copied_prompts, copied_completions;    // prefix backward of the copied groups
    SdpaCall split_prompt_keys, split_self;         // prefix backward of the split groups
} LayoutCalls;

enum { N_LAYOUT_CALLS = sizeof(LayoutCalls) / sizeof(SdpaCall) };

// The buffers that live only inside one forward/backward call, carved from the lent scratch.
typedef enum ScratchSlot {
    SCR_WORKSPACE, SCR_SUM, SCR_DQ_ACC, SCR_DK_FULL, SCR_DV_FULL, SCR_DQ_SELF, SCR_DKCAT, SCR_DVCAT, SCR_COUNT
} ScratchSlot;

/* Everything prepare() makes for one layout; release() frees it and zeroes it. */
typedef struct LayoutPlan {
    Strategy strategy;
    size_t n_slots;
    int prefix;                  // the prefix plan (prompts / completions forward) is in use
    LayoutCalls calls;
    int n_split, n_copied;       // prefix: groups per backward path
    PrefixPath *group_path;      // prefix: [n_seqs] each group's backward (no completions: split)
    SlotRun *split_comps;        // each split group's completion slots (dq += dq_self there)
    int n_split_comps;
    SlotRun *pads;               // padding slots as contiguous runs (zeroed after every call)
    int n_pads;
    void *kcat, *vcat;           // [cat_tokens, Hkv, D] gathered K/V, from forward to backward
    size_t cat_tokens;
    PrefixGather *gathers;       // one per completion
    int n_gathers;
    size_t device_bytes;         // what prepare allocated
    size_t scr_off[SCR_COUNT];   // where each transient buffer sits in the scratch
    size_t scratch_bytes;
    SdpaScratch scr;             // set_scratch: workspace, sum, dq_acc, dk_full, dv_full
    void *dq_self;               // split: dq of split_self, bf16 (n_slots, Hq, D)
    void *dkcat, *dvcat;         // copied: gradients of kcat / vcat
    int has_scratch;
    int prepared;
} LayoutPlan;

// Development: time the prefix backward's phases (AttnOptions.phases), print the means at destroy.
enum { PHASE_GATHER, PHASE_COPIED_CALLS, PHASE_SPLIT_CALLS, PHASE_SUMS, PHASE_COUNT };
typedef struct PhaseTimer {
    int on, n;
    cudaEvent_t ev[PHASE_COUNT + 1];
    double ms[PHASE_COUNT];
} PhaseTimer;

struct AttnBackend {
    AttnShape shape;
    AttnOptions opt;
    cudnnHandle_t handle;
    PhaseTimer phases;
    LayoutPlan lp;
};

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

// ---- prepare: calls, plans and buffers for one layout ----------------------------------------

static void scratch_take(LayoutPlan *lp, ScratchSlot which, size_t bytes) {
    lp->scr_off[which] = lp->scratch_bytes;
    lp->scratch_bytes += (bytes + 255) / 256 * 256; // 256-byte aligned, like cudaMalloc's
}

static PbStatus setup(AttnBackend *ab, SdpaCall *c, const CallSpec *sp, int ragged, CausalKind causal,
                      int64_t batch_tokens, int build, char *err, size_t errlen) {
    return sdpa_call_setup(c, &ab->shape, ab->handle, sp, ragged, causal, batch_tokens, build, &ab->lp.device_bytes,
                           err, errlen);
}

static int32_t max_len(const int32_t *len, int64_t n) {
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
    for (int i = 0; !rc && i < l->n_seqs; i++) {
        int r = l->seqs[i].start / l->row_len;
        sp.len_q[r] = sp.len_kv[r] = l->seqs[i].len;
    }
    if (rc) snprintf(err, errlen, "cudnn attention: out of host memory");
    if (!rc) rc = setup(ab, &ab->lp.calls.whole, &sp, 0, CAUSAL_TOP_LEFT, l->row_len, SDPA_BUILD_FWD | SDPA_BUILD_BWD,
                        err, errlen);
    spec_free(&sp);
    return rc;
}

// Packed, and a prefix layout without completions: one THD call over the sequences.
static PbStatus setup_packed(AttnBackend *ab, const Layout *l, char *err, size_t errlen) {
    CallSpec sp;
    PbStatus rc = spec_alloc(&sp, l->n_seqs) ? PB_NO_MEMORY : PB_OK;
    for (int i = 0; !rc && i < l->n_seqs; i++) {
        sp.len_q[i] = sp.len_kv[i] = l->seqs[i].len;
        sp.start_q[i] = sp.start_kv[i] = l->seqs[i].start;
    }
    if (rc) snprintf(err, errlen, "cudnn attention: out of host memory");
    if (!rc) rc = setup(ab, &ab->lp.calls.whole, &sp, 1, CAUSAL_TOP_LEFT, max_len(sp.len_q, sp.b),
                        SDPA_BUILD_FWD | SDPA_BUILD_BWD, err, errlen);
    spec_free(&sp);
    return rc;
}

/* Each group's path, and where each completion's [P, c] K/V goes in kcat (one slot of
 * p + max n per completion). */
static PbStatus prefix_gathers_setup(AttnBackend *ab, const Layout *l, char *err, size_t errlen) {
    LayoutPlan *lp = &ab->lp;
    lp->n_gathers = l->n_segs;
    lp->gathers = calloc((size_t)l->n_segs, sizeof(PrefixGather));
    lp->group_path = calloc((size_t)l->n_seqs, sizeof(PrefixPath));
    int32_t *lens = calloc((size_t)l->n_segs, sizeof(int32_t));
    if (!lp->gathers || !lp->group_path || !lens) {
        free(lens);
        snprintf(err, errlen, "cudnn attention: out of host memory");
        return PB_NO_MEMORY;
    }
    size_t cat = 0;
    int si = 0;
    for (int gi = 0; gi < l->n_seqs; gi++) {
        const LayoutSeq *sq = &l->seqs[gi];
        int first = si;
        while (si < l->n_segs && l->segs[si].seq == gi) {
            lens[si - first] = l->segs[si].len;
            si++;
        }
        lp->group_path[gi] = PREFIX_PATH_SPLIT;
        if (si == first) continue; // a group without completions: its prompt only, split_prompt_keys backward
        const PrefixPath path = prefix_group_path(ab->opt.prefix, sq->shared_len, lens, si - first);
        lp->group_path[gi] = path;
        if (path == PREFIX_PATH_COPIED) lp->n_copied++;
        else lp->n_split++;
        const size_t slot = (size_t)sq->shared_len + (size_t)max_len(lens, si - first);
        for (int j = first; j < si; j++) {
            const LayoutSeg *sg = &l->segs[j];
            lp->gathers[j] = (PrefixGather){(size_t)sq->start, (size_t)sq->shared_len, (size_t)sg->start,
                                            (size_t)sg->len, cat + (size_t)(j - first) * slot, path};
        }
        cat += (size_t)(si - first) * slot;
    }
    free(lens);
    lp->cat_tokens = cat;
    const size_t bytes = cat * (size_t)(ab->shape.n_kv_head * ab->shape.head_dim) * 2;
    PbStatus rc = sdpa_dev_alloc(&lp->kcat, bytes, &lp->device_bytes, err, errlen);
    if (!rc) rc = sdpa_dev_alloc(&lp->vcat, bytes, &lp->device_bytes, err, errlen);
    if (!rc && lp->n_copied) {
        scratch_take(lp, SCR_DKCAT, bytes);
        scratch_take(lp, SCR_DVCAT, bytes);
    }
    return rc;
}

/* The prompts call and the completions call over the groups whose path is `only` (every group
 * when all is set). */
static PbStatus prefix_pair_setup(AttnBackend *ab, const Layout *l, int all, PrefixPath only, SdpaCall *prompts,
                             SdpaCall *completions, int build, char *err, size_t errlen) {
    const LayoutPlan *lp = &ab->lp;
    int n_p = 0, n_c = 0;
    for (int i = 0; i < l->n_segs; i++) n_c += all || lp->gathers[i].path == only;
    for (int gi = 0; gi < l->n_seqs; gi++) n_p += all || lp->group_path[gi] == only;
    CallSpec sp[2];
    memset(sp, 0, sizeof sp);
    PbStatus rc = spec_alloc(&sp[0], n_p) || spec_alloc(&sp[1], n_c) ? PB_NO_MEMORY : PB_OK;
    for (int gi = 0, b = 0; !rc && gi < l->n_seqs; gi++) {
        if (!all && lp->group_path[gi] != only) continue;
        sp[0].len_q[b] = sp[0].len_kv[b] = l->seqs[gi].shared_len;
        sp[0].start_q[b] = sp[0].start_kv[b] = l->seqs[gi].start;
        b++;
    }
    for (int i = 0, b = 0; !rc && i < l->n_segs; i++) {
        const PrefixGather *gt = &lp->gathers[i];
        if (!all && gt->path != only) continue;
        sp[1].len_q[b] = (int32_t)gt->comp_len;
        sp[1].len_kv[b] = (int32_t)(gt->prompt_len + gt->comp_len);
        sp[1].start_q[b] = (int64_t)gt->src_comp;
        sp[1].start_kv[b] = (int64_t)gt->dst;
        b++;
    }
    if (rc) snprintf(err, errlen, "cudnn attention: out of host memory");
    if (!rc) rc = setup(ab, prompts, &sp[0], 1, CAUSAL_TOP_LEFT, max_len(sp[0].len_q, sp[0].b), build, err, errlen);
    if (!rc) rc = setup(ab, completions, &sp[1], 1, CAUSAL_BOTTOM_RIGHT, max_len(sp[1].len_kv, sp[1].b), build, err,
                        errlen);
    spec_free(&sp[0]);
    spec_free(&sp[1]);
    return rc;
}

/* The split backward's two calls over the split groups. */
static PbStatus prefix_split_setup(AttnBackend *ab, const Layout *l, char *err, size_t errlen) {
    LayoutPlan *lp = &ab->lp;
    int n_g = 0, n_c = 0;
    for (int gi = 0; gi < l->n_seqs; gi++) n_g += lp->group_path[gi] == PREFIX_PATH_SPLIT;
    for (int i = 0; i < l->n_segs; i++) n_c += lp->gathers[i].path == PREFIX_PATH_SPLIT;
    if (n_g == 0) return PB_OK;
    CallSpec sp[2];
    memset(sp, 0, sizeof sp);
    PbStatus rc = spec_alloc(&sp[0], n_g) ? PB_NO_MEMORY : PB_OK;
    if (!rc && n_c) rc = spec_alloc(&sp[1], n_c) ? PB_NO_MEMORY : PB_OK;
    lp->split_comps = calloc((size_t)n_g, sizeof(SlotRun));
    if (!lp->split_comps) rc = PB_NO_MEMORY;
    for (int gi = 0, b = 0; !rc && gi < l->n_seqs; gi++) {
        const LayoutSeq *sq = &l->seqs[gi];
        if (lp->group_path[gi] != PREFIX_PATH_SPLIT) continue;
        sp[0].len_q[b] = sq->len;
        sp[0].len_kv[b] = sq->shared_len;
        sp[0].start_q[b] = sp[0].start_kv[b] = sq->start;
        b++;
        if (sq->len > sq->shared_len) // the group's completions: contiguous after its prompt
            lp->split_comps[lp->n_split_comps++] =
                (SlotRun){(size_t)(sq->start + sq->shared_len), (size_t)(sq->len - sq->shared_len)};
    }
    for (int i = 0, c = 0; !rc && i < l->n_segs; i++) {
        if (lp->gathers[i].path != PREFIX_PATH_SPLIT) continue;
        sp[1].len_q[c] = sp[1].len_kv[c] = l->segs[i].len;
        sp[1].start_q[c] = sp[1].start_kv[c] = l->segs[i].start;
        c++;
    }
    if (rc) snprintf(err, errlen, "cudnn attention: out of host memory");
    if (!rc) rc = setup(ab, &lp->calls.split_prompt_keys, &sp[0], 1, CAUSAL_TOP_LEFT, max_len(sp[0].len_q, sp[0].b),
                        SDPA_BUILD_BWD, err, errlen);
    if (!rc && n_c) rc = setup(ab, &lp->calls.split_self, &sp[1], 1, CAUSAL_TOP_LEFT, max_len(sp[1].len_q, sp[1].b),
                               SDPA_BUILD_BWD, err, errlen);
    if (!rc && n_c) scratch_take(lp, SCR_DQ_SELF, lp->n_slots * (size_t)(ab->shape.n_head * ab->shape.head_dim) * 2);
    spec_free(&sp[0]);
    spec_free(&sp[1]);
    return rc;
}

static PbStatus setup_prefix(AttnBackend *ab, const Layout *l, char *err, size_t errlen) {
    LayoutPlan *lp = &ab->lp;
    lp->prefix = 1;
    PbStatus rc = prefix_gathers_setup(ab, l, err, errlen);
    if (!rc) rc = prefix_pair_setup(ab, l, 1, PREFIX_PATH_SPLIT, &lp->calls.prompts, &lp->calls.completions,
                                    SDPA_BUILD_FWD, err, errlen);
    if (!rc && lp->n_copied)
        rc = prefix_pair_setup(ab, l, 0, PREFIX_PATH_COPIED, &lp->calls.copied_prompts, &lp->calls.copied_completions,
                               SDPA_BUILD_BWD, err, errlen);
    if (!rc) rc = prefix_split_setup(ab, l, err, errlen);
    return rc;
}

static void attn_cudnn_release(AttnBackend *ab);

static PbStatus attn_cudnn_prepare(AttnBackend *ab, const AttnMask *mask, size_t *device_bytes,
                                   size_t *scratch_bytes, char *err, size_t errlen) {
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
    PbStatus rc = find_pad_runs(lp, l) ? PB_NO_MEMORY : PB_OK;
    if (rc) snprintf(err, errlen, "cudnn attention: out of host memory");
    else if (l->strategy == STRATEGY_PADDED) rc = setup_padded(ab, l, err, errlen);
    else if (l->strategy == STRATEGY_PACKED || l->n_segs == 0) rc = setup_packed(ab, l, err, errlen);
    else rc = setup_prefix(ab, l, err, errlen);
    if (rc != PB_OK && !err[0]) snprintf(err, errlen, "cudnn attention: out of host memory");
    if (rc) {
        attn_cudnn_release(ab);
        return rc;
    }
    const SdpaCall *calls = (const SdpaCall *)&lp->calls;
    int64_t ws = 0;
    for (int i = 0; i < N_LAYOUT_CALLS; i++) {
        if (calls[i].fwd_ws > ws) ws = calls[i].fwd_ws;
        if (calls[i].bwd_ws > ws) ws = calls[i].bwd_ws;
    }
    scratch_take(lp, SCR_WORKSPACE, (size_t)ws);
    scratch_take(lp, SCR_SUM, lp->n_slots * (size_t)hq * sizeof(float));
    scratch_take(lp, SCR_DQ_ACC, lp->n_slots * (size_t)(hq * d) * sizeof(float));
    if (hq != hkv && l->strategy != STRATEGY_PADDED) {
        // bf16, as the graph declares them (cudnn-frontend reserves sizeof(float) per element;
        // the tests run these layouts under compute-sanitizer)
        const size_t full_tokens = lp->n_slots > lp->cat_tokens ? lp->n_slots : lp->cat_tokens;
        scratch_take(lp, SCR_DK_FULL, full_tokens * (size_t)(hq * d) * 2);
        scratch_take(lp, SCR_DV_FULL, full_tokens * (size_t)(hq * d) * 2);
    }
    lp->prepared = 1;
    *device_bytes = lp->device_bytes;
    *scratch_bytes = lp->scratch_bytes;
    return PB_OK;
}

// ---- forward / backward -------------------------------------------------------------------------

static void zero_pads(const LayoutPlan *lp, void *x, size_t bytes_per_slot, cudaStream_t stream) {
    for (int i = 0; i < lp->n_pads; i++)
        cudaCheck(cudaMemsetAsync((char *)x + lp->pads[i].start * bytes_per_slot, 0, lp->pads[i].len * bytes_per_slot,
                                  stream));
}

// kcat/vcat <- [prompt, completion] K/V of every completion (copied_only: of the copied groups).
static void prefix_gather(const AttnBackend *ab, int copied_only, const void *k, const void *v, cudaStream_t stream) {
    const LayoutPlan *lp = &ab->lp;
    const size_t tok = (size_t)(ab->shape.n_kv_head * ab->shape.head_dim) * 2;
    const void *src[2] = {k, v};
    void *dst[2] = {lp->kcat, lp->vcat};
    for (int i = 0; i < lp->n_gathers; i++) {
        const PrefixGather *gt = &lp->gathers[i];
        if (copied_only && gt->path != PREFIX_PATH_COPIED) continue;
        for (int j = 0; j < 2; j++) {
            cudaCheck(cudaMemcpyAsync((char *)dst[j] + gt->dst * tok, (const char *)src[j] + gt->src_prompt * tok,
                                      gt->prompt_len * tok, cudaMemcpyDeviceToDevice, stream));
            cudaCheck(cudaMemcpyAsync((char *)dst[j] + (gt->dst + gt->prompt_len) * tok,
                                      (const char *)src[j] + gt->src_comp * tok, gt->comp_len * tok,
                                      cudaMemcpyDeviceToDevice, stream));
        }
    }
}

// Copied groups: dk/dv of the completions <- dkcat/dvcat; dk/dv of each prompt += its copies'.
static void prefix_scatter(const AttnBackend *ab, void *dk, void *dv, cudaStream_t stream) {
    const LayoutPlan *lp = &ab->lp;
    const size_t row = (size_t)(ab->shape.n_kv_head * ab->shape.head_dim), tok = row * 2;
    void *dst[2] = {dk, dv};
    const void *cat[2] = {lp->dkcat, lp->dvcat};
    for (int j = 0; j < 2; j++) {
        for (int i = 0; i < lp->n_gathers; i++) {
            const PrefixGather *gt = &lp->gathers[i];
            if (gt->path != PREFIX_PATH_COPIED) continue;
            cudaCheck(cudaMemcpyAsync((char *)dst[j] + gt->src_comp * tok,
                                      (const char *)cat[j] + (gt->dst + gt->prompt_len) * tok, gt->comp_len * tok,
                                      cudaMemcpyDeviceToDevice, stream));
            bf16_t *prompt = (bf16_t *)((char *)dst[j] + gt->src_prompt * tok);
            add_inplace(prompt, (const bf16_t *)((const char *)cat[j] + gt->dst * tok), gt->prompt_len * row, stream);
        }
    }
}

static PbStatus check_ready(const AttnBackend *ab, const char *what, char *err, size_t errlen) {
    if (!ab->lp.prepared) {
        snprintf(err, errlen, "cudnn attention: %s before prepare", what);
        return PB_ERROR;
    }
    if (ab->lp.scratch_bytes && !ab->lp.has_scratch) {
        snprintf(err, errlen, "cudnn attention: %s without scratch (set_scratch)", what);
        return PB_ERROR;
    }
    return PB_OK;
}

static PbStatus attn_cudnn_forward(AttnBackend *ab, const void *q, const void *k, const void *v, void *o, float *lse,
                                   cudaStream_t stream, char *err, size_t errlen) {
    PbStatus rc = check_ready(ab, "forward", err, errlen);
    if (rc != PB_OK) return rc;
    const LayoutPlan *lp = &ab->lp;
    const SdpaScratch *scr = &lp->scr;
    if (lp->prefix) {
        prefix_gather(ab, 0, k, v, stream);
        rc = sdpa_forward(ab->handle, &ab->shape, &lp->calls.prompts, scr, q, k, v, o, lse, stream, err, errlen);
        if (rc == PB_OK)
            rc = sdpa_forward(ab->handle, &ab->shape, &lp->calls.completions, scr, q, lp->kcat, lp->vcat, o, lse,
                              stream, err, errlen);
    } else {
        rc = sdpa_forward(ab->handle, &ab->shape, &lp->calls.whole, scr, q, k, v, o, lse, stream, err, errlen);
    }
    if (rc != PB_OK) return rc;
    zero_pads(lp, o, (size_t)(ab->shape.n_head * ab->shape.head_dim) * 2, stream);
    zero_pads(lp, lse, (size_t)ab->shape.n_head * sizeof(float), stream);
    return PB_OK;
}

// Prefix backward: the copied groups' calls, then the split groups', then the sums.
static PbStatus prefix_backward(AttnBackend *ab, const void *q, const void *k, const void *v, const void *o,
                           const void *dout, const float *lse, void *dq, void *dk, void *dv, cudaStream_t stream,
                           char *err, size_t errlen) {
    const LayoutPlan *lp = &ab->lp;
    const LayoutCalls *c = &lp->calls;
    const SdpaScratch *scr = &lp->scr;
    PhaseTimer *t = &ab->phases;
    phase_mark(t, PHASE_GATHER, stream);
    if (lp->n_copied) prefix_gather(ab, 1, k, v, stream);
    phase_mark(t, PHASE_COPIED_CALLS, stream);
    PbStatus rc = PB_OK;
    if (lp->n_copied) {
        rc = sdpa_backward(ab->handle, &ab->shape, &c->copied_prompts, scr, q, k, v, o, dout, lse, dq, dk, dv, stream,
                           err, errlen);
        if (rc == PB_OK)
            rc = sdpa_backward(ab->handle, &ab->shape, &c->copied_completions, scr, q, lp->kcat, lp->vcat, o, dout,
                               lse, dq, lp->dkcat, lp->dvcat, stream, err, errlen);
    }
    phase_mark(t, PHASE_SPLIT_CALLS, stream);
    if (rc == PB_OK && c->split_prompt_keys.bwd)
        rc = sdpa_backward(ab->handle, &ab->shape, &c->split_prompt_keys, scr, q, k, v, o, dout, lse, dq, dk, dv,
                           stream, err, errlen);
    if (rc == PB_OK && c->split_self.bwd)
        rc = sdpa_backward(ab->handle, &ab->shape, &c->split_self, scr, q, k, v, o, dout, lse, lp->dq_self, dk, dv,
                           stream, err, errlen);
    if (rc != PB_OK) return rc;
    phase_mark(t, PHASE_SUMS, stream);
    if (lp->n_copied) prefix_scatter(ab, dk, dv, stream);
    const size_t row = (size_t)(ab->shape.n_head * ab->shape.head_dim);
    for (int i = 0; c->split_self.bwd && i < lp->n_split_comps; i++)
        add_inplace((bf16_t *)dq + lp->split_comps[i].start * row,
                    (const bf16_t *)lp->dq_self + lp->split_comps[i].start * row, lp->split_comps[i].len * row, stream);
    phase_mark(t, PHASE_COUNT, stream);
    phase_collect(t);
    return PB_OK;
}

static PbStatus attn_cudnn_backward(AttnBackend *ab, const void *q, const void *k, const void *v, const void *o,
                                    const void *dout, const float *lse, void *dq, void *dk, void *dv,
                                    cudaStream_t stream, char *err, size_t errlen) {
    PbStatus rc = check_ready(ab, "backward", err, errlen);
    if (rc != PB_OK) return rc;
    const LayoutPlan *lp = &ab->lp;
    if (lp->prefix) rc = prefix_backward(ab, q, k, v, o, dout, lse, dq, dk, dv, stream, err, errlen);
    else rc = sdpa_backward(ab->handle, &ab->shape, &lp->calls.whole, &lp->scr, q, k, v, o, dout, lse, dq, dk, dv,
                            stream, err, errlen);
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
    SdpaCall *calls = (SdpaCall *)&lp->calls;
    for (int i = 0; i < N_LAYOUT_CALLS; i++) sdpa_call_free(&calls[i]);
    free(lp->split_comps);
    free(lp->group_path);
    cudaFree(lp->kcat); // the scratch buffers are the caller's
    cudaFree(lp->vcat);
    free(lp->gathers);
    free(lp->pads);
    memset(lp, 0, sizeof *lp);
}

static void attn_cudnn_set_scratch(AttnBackend *ab, void *scratch) {
    LayoutPlan *lp = &ab->lp;
    char *base = scratch;
    void **const p[SCR_COUNT] = {
        [SCR_WORKSPACE] = &lp->scr.workspace, [SCR_SUM] = (void **)&lp->scr.sum,
        [SCR_DQ_ACC] = (void **)&lp->scr.dq_acc, [SCR_DK_FULL] = &lp->scr.dk_full, [SCR_DV_FULL] = &lp->scr.dv_full,
        [SCR_DQ_SELF] = &lp->dq_self, [SCR_DKCAT] = &lp->dkcat, [SCR_DVCAT] = &lp->dvcat,
    };
    for (int i = 0; i < SCR_COUNT; i++) *p[i] = base ? base + lp->scr_off[i] : NULL;
    lp->has_scratch = base != NULL;
}

static void attn_cudnn_describe(AttnBackend *ab, char *out, size_t len) {
    const LayoutPlan *lp = &ab->lp;
    if (!lp->prepared || !lp->prefix) {
        snprintf(out, len, "%s", "");
        return;
    }
    snprintf(out, len, "%s: split %d, copied %d", attn_prefix_mode_name(ab->opt.prefix), lp->n_split, lp->n_copied);
}

static void attn_cudnn_destroy(AttnBackend *ab) {
    if (!ab) return;
    attn_cudnn_release(ab);
    const PhaseTimer *t = &ab->phases;
    if (t->on && t->n)
        fprintf(stderr, "cudnn prefix backward phases (%s), mean of %d (ms): gather %.3f, copied calls %.3f, "
                "split calls %.3f, sums %.3f\n", attn_prefix_mode_name(ab->opt.prefix), t->n, t->ms[0] / t->n,
                t->ms[1] / t->n, t->ms[2] / t->n, t->ms[3] / t->n);
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
