/*
 * cudnn_plan.h: the cuDNN backend's state for one layout, shared by cudnn.c (the backend:
 * padded, packed, lifetime) and cudnn_prefix.c (the prefix layout's calls). Internal to
 * attention/; the interface is attention.h.
 */
#ifndef PB_CUDNN_PLAN_H
#define PB_CUDNN_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>
#include <cudnn.h>

#include "attention.h"
#include "cudnn_sdpa.h"
#include "kv_gather.h"


/* The calls of one layout (cudnn.c's comment on top says which run when). */
typedef struct LayoutCalls {
    SdpaCall whole;                                 // padded, packed: forward and backward
    SdpaCall padded_bwd;                            // padded in parts: the backward (whole: forward only)
    SdpaCall prompts, completions;                  // prefix forward, every group
    SdpaCall copied_prompts, copied_completions;    // prefix backward of the copied groups
    SdpaCall split_prompt_keys, split_self;         // prefix backward of the split groups
} LayoutCalls;

enum { N_LAYOUT_CALLS = 8 };
_Static_assert(sizeof(LayoutCalls) == N_LAYOUT_CALLS * sizeof(SdpaCall), "layout_calls_each lists every call");

// The buffers that live only inside one forward/backward call, carved from the lent scratch.
typedef enum ScratchSlot {
    SCR_WORKSPACE, SCR_SUM, SCR_DQ_ACC, SCR_DK_FULL, SCR_DV_FULL, SCR_DQ_SELF, SCR_KCAT, SCR_VCAT, SCR_DKCAT, SCR_DVCAT,
    SCR_COUNT
} ScratchSlot;

/* Everything prepare() makes for one layout; release() frees it and zeroes it. */
typedef struct LayoutPlan {
    Strategy strategy;
    size_t n_slots;
    int prefix;                  // the prefix plan (prompts / completions forward) is in use
    LayoutCalls calls;
    int n_split, n_copied;       // prefix: groups per backward path
    PrefixPath *group_path;      // prefix: [n_seqs] each group's backward (no completions: split)
    SlotRun *pads;               // padding slots as contiguous runs (zeroed after every call)
    int n_pads;
    void *kcat, *vcat;           // [cat_tokens, Hkv, D] gathered K/V, scratch: gathered in every call that
                                 // reads them (the forward; the copied groups' backward)
    size_t cat_tokens;
    KvGather *gathers;           // one per completion (a tree of more levels: per node with a parent)
    int n_gathers;
    size_t device_bytes;         // what prepare allocated
    // where each transient buffer sits in the forward's / backward's scratch (SIZE_MAX: not in
    // that pass), their sizes, and what set_scratch lent for each pass
    size_t scr_off[2][SCR_COUNT];
    size_t scratch_bytes[2];
    char *scratch[2];
    AttnParts parts;             // the calls in parts (attention/memory.c chose them)
    int tight;                   // AttnMask.tight_parts of this layout
    SdpaScratch scr;             // pointed into scratch[pass] before each call: workspace, sum, ...
    void *dq_self;               // split: dq of split_self, bf16 (n_slots, Hq, D)
    void *dkcat, *dvcat;         // copied: gradients of kcat / vcat
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

// A transient buffer's place in one pass's scratch (256-byte aligned, like cudaMalloc's).
void plan_scratch_take(LayoutPlan *lp, int pass, ScratchSlot which, size_t bytes);
// sdpa_call_setup with the backend's shape and handle, counted in lp.device_bytes.
PbStatus plan_call_setup(AttnBackend *ab, SdpaCall *c, const CallSpec *sp, int ragged, CausalKind causal,
                        int64_t batch_tokens, int build, char *err, size_t errlen);
// sdpa_call_setup_parts likewise: a ragged call in parts of `part` sequences (TOP_LEFT or
// BOTTOM_RIGHT causal as asked).
PbStatus plan_call_setup_parts(AttnBackend *ab, SdpaCall *c, const CallSpec *sp, int part, CausalKind causal,
                               int build, char *err, size_t errlen);
int32_t plan_max_len(const int32_t *len, int64_t n);

// cudnn_prefix.c: the prefix layout's gathers, paths and calls (prepare); its K/V copies
// (forward, copied_only 0: every completion); its backward.
PbStatus cudnn_prefix_setup(AttnBackend *ab, const Layout *l, char *err, size_t errlen);
void cudnn_prefix_gather(const AttnBackend *ab, int copied_only, const void *k, const void *v, cudaStream_t stream);
PbStatus cudnn_prefix_backward(AttnBackend *ab, const void *q, const void *k, const void *v, const void *o,
                               const void *dout, const float *lse, void *dq, void *dk, void *dv,
                               cudaStream_t stream, char *err, size_t errlen);

#endif
