// cudnn_prefix.c: the cuDNN backend's prefix layout and trees (see cudnn.c's comment on top,
// prefix_path.h for the per-group choice of the backward, kv_gather.h for a tree's gathers).
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

/* A tree of more than two levels: every node with a parent gathers its ancestors' K/V runs and
 * its own (kv_gather.h); every group takes the copied backward (split needs one shared run), a
 * lone root the split one (its prompt keys are all it has). attention/memory.c mirrors this. */
static PbStatus tree_gathers_setup(AttnBackend *ab, const Layout *l, char *err, size_t errlen) {
    LayoutPlan *lp = &ab->lp;
    lp->n_gathers = kv_gathers_of_tree(l, &lp->gathers, &lp->cat_tokens);
    lp->group_path = calloc((size_t)l->n_seqs, sizeof(PrefixPath));
    if (lp->n_gathers < 0 || !lp->group_path) {
        snprintf(err, errlen, "cudnn attention: out of host memory");
        return PB_NO_MEMORY;
    }
    for (int gi = 0; gi < l->n_seqs; gi++) {
        const int lone = l->seqs[gi].len == l->seqs[gi].shared_len;
        lp->group_path[gi] = lone ? PREFIX_PATH_SPLIT : PREFIX_PATH_COPIED;
        if (lone) lp->n_split++;
        else lp->n_copied++;
    }
    return PB_OK;
}

/* Each group's path, and where each completion's [P, c] K/V goes in kcat (one slot of
 * p + max n per completion); a deeper tree's gathers instead. */
static PbStatus prefix_gathers_setup(AttnBackend *ab, const Layout *l, char *err, size_t errlen) {
    LayoutPlan *lp = &ab->lp;
    if (!layout_bounds_exact(l)) return tree_gathers_setup(ab, l, err, errlen);
    lp->n_gathers = l->n_segs;
    lp->gathers = calloc((size_t)l->n_segs, sizeof(KvGather));
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
        const PrefixPath path = prefix_group_path(ab->opt.prefix, ab->opt.copied_below, sq->shared_len, lens, si - first);
        lp->group_path[gi] = path;
        if (path == PREFIX_PATH_COPIED) lp->n_copied++;
        else lp->n_split++;
        const size_t slot = (size_t)sq->shared_len + (size_t)plan_max_len(lens, si - first);
        for (int j = first; j < si; j++) {
            const LayoutSeg *sg = &l->segs[j];
            lp->gathers[j] = (KvGather){.anc = {{(size_t)sq->start, (size_t)sq->shared_len}}, .n_anc = 1,
                                        .anc_len = (size_t)sq->shared_len, .own = {(size_t)sg->start, (size_t)sg->len},
                                        .dst = cat + (size_t)(j - first) * slot, .path = path};
        }
        cat += (size_t)(si - first) * slot;
    }
    free(lens);
    lp->cat_tokens = cat;
    return PB_OK; // kcat / vcat, dkcat / dvcat: scratch (cudnn.c scratch_layout)
}

/* The prompts call and the completions call over the groups whose path is `only` (every group
 * when all is set: the forward, in one call each; else the copied groups' backward, in parts). */
static PbStatus prefix_pair_setup(AttnBackend *ab, const Layout *l, int all, PrefixPath only, SdpaCall *prompts,
                                  SdpaCall *completions, int build, char *err, size_t errlen) {
    const LayoutPlan *lp = &ab->lp;
    int n_p = 0, n_c = 0;
    for (int i = 0; i < lp->n_gathers; i++) n_c += all || lp->gathers[i].path == only;
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
    for (int i = 0, b = 0; !rc && i < lp->n_gathers; i++) {
        const KvGather *gt = &lp->gathers[i];
        if (!all && gt->path != only) continue;
        sp[1].len_q[b] = (int32_t)gt->own.len;
        sp[1].len_kv[b] = (int32_t)(gt->anc_len + gt->own.len);
        sp[1].start_q[b] = (int64_t)gt->own.start;
        sp[1].start_kv[b] = (int64_t)gt->dst;
        b++;
    }
    if (rc) snprintf(err, errlen, "cudnn attention: out of host memory");
    if (!rc && all) {
        rc = plan_call_setup(ab, prompts, &sp[0], 1, CAUSAL_TOP_LEFT, plan_max_len(sp[0].len_q, sp[0].b), build, err,
                             errlen);
        if (!rc) rc = plan_call_setup(ab, completions, &sp[1], 1, CAUSAL_BOTTOM_RIGHT,
                                      plan_max_len(sp[1].len_kv, sp[1].b), build, err, errlen);
    } else if (!rc) {
        rc = plan_call_setup_parts(ab, prompts, &sp[0], lp->parts.part[ATTN_PARTED_COPIED_PROMPTS], CAUSAL_TOP_LEFT,
                                   build, err, errlen);
        if (!rc) rc = plan_call_setup_parts(ab, completions, &sp[1], lp->parts.part[ATTN_PARTED_COPIED_COMPLETIONS],
                                            CAUSAL_BOTTOM_RIGHT, build, err, errlen);
    }
    spec_free(&sp[0]);
    spec_free(&sp[1]);
    return rc;
}

/* The split backward's two calls over the split groups. */
static PbStatus prefix_split_setup(AttnBackend *ab, const Layout *l, char *err, size_t errlen) {
    LayoutPlan *lp = &ab->lp;
    int n_g = 0, n_c = 0;
    for (int gi = 0; gi < l->n_seqs; gi++) n_g += lp->group_path[gi] == PREFIX_PATH_SPLIT;
    for (int i = 0; i < lp->n_gathers; i++) n_c += lp->gathers[i].path == PREFIX_PATH_SPLIT;
    if (n_g == 0) return PB_OK;
    CallSpec sp[2];
    memset(sp, 0, sizeof sp);
    PbStatus rc = spec_alloc(&sp[0], n_g) ? PB_NO_MEMORY : PB_OK;
    if (!rc && n_c) rc = spec_alloc(&sp[1], n_c) ? PB_NO_MEMORY : PB_OK;
    for (int gi = 0, b = 0; !rc && gi < l->n_seqs; gi++) {
        const LayoutSeq *sq = &l->seqs[gi];
        if (lp->group_path[gi] != PREFIX_PATH_SPLIT) continue;
        sp[0].len_q[b] = sq->len;
        sp[0].len_kv[b] = sq->shared_len;
        sp[0].start_q[b] = sp[0].start_kv[b] = sq->start;
        b++;
    }
    for (int i = 0, c = 0; !rc && i < lp->n_gathers; i++) { // groups only: a tree's gathers are all copied
        if (lp->gathers[i].path != PREFIX_PATH_SPLIT) continue;
        sp[1].len_q[c] = sp[1].len_kv[c] = l->segs[i].len;
        sp[1].start_q[c] = sp[1].start_kv[c] = l->segs[i].start;
        c++;
    }
    if (rc) snprintf(err, errlen, "cudnn attention: out of host memory");
    // in parts; split_self's dq of each part goes to dq_self and is added onto dq (cudnn_parts.c)
    if (!rc)
        rc = plan_call_setup_parts(ab, &lp->calls.split_prompt_keys, &sp[0], lp->parts.part[ATTN_PARTED_SPLIT_PROMPT_KEYS],
                                   CAUSAL_TOP_LEFT, SDPA_BUILD_BWD, err, errlen);
    if (!rc && n_c)
        rc = plan_call_setup_parts(ab, &lp->calls.split_self, &sp[1], lp->parts.part[ATTN_PARTED_SPLIT_SELF],
                                   CAUSAL_TOP_LEFT, SDPA_BUILD_BWD, err, errlen);
    spec_free(&sp[0]);
    spec_free(&sp[1]);
    return rc;
}

PbStatus cudnn_prefix_setup(AttnBackend *ab, const Layout *l, char *err, size_t errlen) {
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

// kcat/vcat <- [ancestors, own] K/V of every gather (a completion: [prompt, completion];
// copied_only: of the copied groups).
void cudnn_prefix_gather(const AttnBackend *ab, int copied_only, const void *k, const void *v, cudaStream_t stream) {
    const LayoutPlan *lp = &ab->lp;
    const size_t tok = (size_t)(ab->shape.n_kv_head * ab->shape.head_dim) * 2;
    const void *src[2] = {k, v};
    void *dst[2] = {lp->kcat, lp->vcat};
    for (int i = 0; i < lp->n_gathers; i++) {
        const KvGather *gt = &lp->gathers[i];
        if (copied_only && gt->path != PREFIX_PATH_COPIED) continue;
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

// Copied groups: dk/dv of each gather's own slots <- its part of dkcat/dvcat; then dk/dv of its
// ancestors (a prompt) += their copies' (bf16 adds). Gathers are in slot order, so a tree node's
// own part is written before any descendant adds onto it.
static void prefix_scatter(const AttnBackend *ab, void *dk, void *dv, cudaStream_t stream) {
    const LayoutPlan *lp = &ab->lp;
    const size_t row = (size_t)(ab->shape.n_kv_head * ab->shape.head_dim), tok = row * 2;
    void *dst[2] = {dk, dv};
    const void *cat[2] = {lp->dkcat, lp->dvcat};
    for (int j = 0; j < 2; j++) {
        for (int i = 0; i < lp->n_gathers; i++) {
            const KvGather *gt = &lp->gathers[i];
            if (gt->path != PREFIX_PATH_COPIED) continue;
            cudaCheck(cudaMemcpyAsync((char *)dst[j] + gt->own.start * tok,
                                      (const char *)cat[j] + (gt->dst + gt->anc_len) * tok, gt->own.len * tok,
                                      cudaMemcpyDeviceToDevice, stream));
            size_t at = gt->dst;
            for (int r = 0; r < gt->n_anc; r++) {
                add_inplace((bf16_t *)((char *)dst[j] + gt->anc[r].start * tok),
                            (const bf16_t *)((const char *)cat[j] + at * tok), gt->anc[r].len * row, stream);
                at += gt->anc[r].len;
            }
        }
    }
}

// Prefix backward: the copied groups' calls, then the split groups', then the sums.
PbStatus cudnn_prefix_backward(AttnBackend *ab, const void *q, const void *k, const void *v, const void *o,
                               const void *dout, const float *lse, void *dq, void *dk, void *dv,
                               cudaStream_t stream, char *err, size_t errlen) {
    const LayoutPlan *lp = &ab->lp;
    const LayoutCalls *c = &lp->calls;
    const SdpaScratch *scr = &lp->scr;
    PhaseTimer *t = &ab->phases;
    phase_mark(t, PHASE_GATHER, stream);
    if (lp->n_copied) cudnn_prefix_gather(ab, 1, k, v, stream);
    phase_mark(t, PHASE_COPIED_CALLS, stream);
    PbStatus rc = PB_OK;
    if (lp->n_copied) {
        rc = sdpa_backward(ab->handle, &ab->shape, &c->copied_prompts, scr, q, k, v, o, dout, lse, dq, dk, dv, NULL,
                           stream, err, errlen);
        if (rc == PB_OK)
            rc = sdpa_backward(ab->handle, &ab->shape, &c->copied_completions, scr, q, lp->kcat, lp->vcat, o, dout,
                               lse, dq, lp->dkcat, lp->dvcat, NULL, stream, err, errlen);
    }
    phase_mark(t, PHASE_SPLIT_CALLS, stream);
    if (rc == PB_OK && c->split_prompt_keys.bwd)
        rc = sdpa_backward(ab->handle, &ab->shape, &c->split_prompt_keys, scr, q, k, v, o, dout, lse, dq, dk, dv,
                           NULL, stream, err, errlen);
    if (rc == PB_OK && c->split_self.bwd)
        rc = sdpa_backward(ab->handle, &ab->shape, &c->split_self, scr, q, k, v, o, dout, lse, dq, dk, dv,
                           lp->dq_self, stream, err, errlen); // dq += each part's, through dq_self
    if (rc != PB_OK) return rc;
    phase_mark(t, PHASE_SUMS, stream);
    if (lp->n_copied) prefix_scatter(ab, dk, dv, stream);
    phase_mark(t, PHASE_COUNT, stream);
    phase_collect(t);
    return PB_OK;
}
