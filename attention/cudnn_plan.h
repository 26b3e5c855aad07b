/*
 * cudnn_plan.h: the cuDNN backend's state for one layout, shared by cudnn.c (the backend:
 * padded, packed, lifetime) and cudnn_tree.c (the prefix and tree layouts' calls). Internal to
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
    SdpaCall whole;                // padded, packed: forward and backward
    SdpaCall padded_bwd;           // padded in parts: the backward (whole: forward only)
    SdpaCall prompts, completions; // prefix / tree, gather forward: the roots, the gathers (kv_gather.h)
    SdpaCall depth[PB_MAX_DEPTH];  // prefix / tree: per depth, its chains' keys against their subtrees
} LayoutCalls;

enum { N_LAYOUT_CALLS = 4 + PB_MAX_DEPTH };
_Static_assert(sizeof(LayoutCalls) == N_LAYOUT_CALLS * sizeof(SdpaCall), "layout_calls_each lists every call");

// The buffers that live only inside one forward/backward call, carved from the lent scratch.
typedef enum ScratchSlot {
    SCR_WORKSPACE, SCR_SUM, SCR_DQ_ACC, SCR_DK_FULL, SCR_DV_FULL, SCR_DQ_PART, SCR_O_PART, SCR_LSE_PART, SCR_KCAT,
    SCR_VCAT, SCR_COUNT
} ScratchSlot;

/* Everything prepare() makes for one layout; release() frees it and zeroes it. */
typedef struct LayoutPlan {
    Strategy strategy;
    size_t n_slots;
    int prefix;                  // a prefix or tree layout of more than one level (cudnn_tree.c)
    PrefixForward fwd;           // its forward (prefix_path.h)
    int n_depths;                // its depth calls (levels of the chain tree, prefix_path.h)
    LayoutCalls calls;
    SlotRun *pads;               // padding slots as contiguous runs (zeroed after every call)
    int n_pads;
    void *kcat, *vcat;           // gather forward: [cat_tokens, Hkv, D] gathered K/V, scratch
    size_t cat_tokens;
    KvGather *gathers;           // gather forward: one per node with a parent
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
    void *dq_part;               // backward: a deeper depth call's dq, bf16, one part (added onto dq)
    void *o_part;                // merged forward: a deeper depth call's o, bf16, one part (merged into o)
    float *lse_part;             // and its lse
    int prepared;
} LayoutPlan;

// Development: time the prefix / tree backward's phases (AttnOptions.phases), print the means at destroy.
enum { PHASE_ROOT_CALL, PHASE_DEEPER_CALLS, PHASE_COUNT };
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

// cudnn_tree.c: a prefix or tree layout's calls (prepare), its forward and its backward.
PbStatus cudnn_tree_setup(AttnBackend *ab, const Layout *l, char *err, size_t errlen);
PbStatus cudnn_tree_forward(AttnBackend *ab, const void *q, const void *k, const void *v, void *o, float *lse,
                            cudaStream_t stream, char *err, size_t errlen);
PbStatus cudnn_tree_backward(AttnBackend *ab, const void *q, const void *k, const void *v, const void *o,
                             const void *dout, const float *lse, void *dq, void *dk, void *dv, cudaStream_t stream,
                             char *err, size_t errlen);

#endif
