/*
 * attention.h: the GPU attention-backend interface. One backend computes causal GQA attention
 * (scale 1/sqrt(D)) under a Layout's mask rule, forward and backward.
 *
 *   "simple" (attention/simple.cu)  tiled, obviously-correct kernels; the GPU oracle.
 *   "cudnn"  (attention/cudnn.c)    cuDNN fused flash attention through the backend API
 *                                   (cudnn_sdpa.c: the graphs; cudnn_graph.c: the descriptors).
 *
 * Tensors are token-major and contiguous, bf16 unless said:
 *   q, o, dq, do  (n_slots, Hq, D)      k, v, dk, dv  (n_slots, Hkv, D)
 *   lse           (n_slots, Hq) fp32: natural log-sum-exp of the scaled scores of each query.
 * Contract: a query slot with no allowed key (padding) gets o = 0; dq, dk, dv are 0 in padding
 * slots; every other element of every output is written (callers do not pre-zero). lse in a
 * padding slot is unspecified (simple writes -inf, cudnn 0): only the same backend's backward
 * reads lse, and it skips padding.
 * prepare() is called once per layout (not timed): it builds plans and allocates what the
 * backend keeps for that layout. What a backend needs only while one forward or backward call
 * runs (workspaces, accumulators, gathered K/V) it asks for as scratch instead, separately for
 * forward and backward calls: the caller lends that memory with set_scratch() before the calls
 * and may use it for other things between them (the GPU step's memory plan puts other buffers
 * there while no attention call runs). Every figure is known on the host before prepare
 * (attention/attn_memory.h, attn_memory()); prepare reports what it actually holds and needs,
 * which equals that except where the cuDNN workspace exceeds its reserve (then larger).
 */
#ifndef PB_ATTENTION_H
#define PB_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>

#include "pb_config.h"
#include "../core/status.h"
#include "../strategies/layout.h"
#include "attn_memory.h" // AttnShape, AttnMemory
#include "prefix_path.h"

/* Device copies of a Layout's mask, made by the step (see layout.h for the rule). */
typedef struct AttnMask {
    const Layout *host;          // the host layout (sequences, segments, strategy)
    const int32_t *kv_lo;        // device [n_slots]
    const int32_t *shared_end;   // device [n_slots]
    const int32_t *seg_lo;       // device [n_slots]
    int tight_parts;             // cudnn: its backward's parts cut to the budget (attn_memory.h)
} AttnMask;

/* What a backend is asked to do beyond the mask; a backend ignores what does not apply to it.
 * Passed to create(); NULL means all defaults (zero). */
typedef struct AttnOptions {
    AttnPrefixMode prefix; // cudnn: the prefix / tree forward, gathered or merged (prefix_path.h); default auto
    int phases;            // cudnn, development: time the prefix backward's phases, print at destroy
    int padded_part_rows;  // cudnn, tests: the padded backward in parts of at most this many rows
                           // (AttnMemoryAsk); 0: as the mask's tight_parts choose
} AttnOptions;

typedef struct AttnBackend AttnBackend; // opaque

typedef struct AttnOps {
    const char *name;
    // NULL with a one-line reason in err.
    AttnBackend *(*create)(const AttnShape *shape, const AttnOptions *opt, char *err, size_t errlen);
    // Plans and buffers for this layout. mem->held: what the backend holds on the device after
    // this call; mem->scratch[ATTN_FWD / ATTN_BWD]: what it needs lent while a forward / backward
    // call runs (0: nothing). It checks its figures against attn_memory(): a backend that
    // allocates what the host did not predict fails here (PB_ERROR). PB_OK, PB_ERROR (err set),
    // PB_NO_MEMORY (the layout does not fit; err set).
    PbStatus (*prepare)(AttnBackend *b, const AttnMask *mask, AttnMemory *mem, char *err, size_t errlen);
    // Lends mem->scratch[pass] bytes of device memory (256-byte aligned) to the following
    // forward (pass ATTN_FWD) or backward (ATTN_BWD) calls, until the next set_scratch of that
    // pass; required before them when that figure is > 0. Contents are not kept between calls.
    void (*set_scratch)(AttnBackend *b, int pass, void *scratch);
    // PB_OK; PB_ERROR (misuse: before prepare, without scratch) or PB_DEVICE_ERROR (a kernel
    // launch or a cuDNN plan execution refused) with err set. Launches on stream; no
    // synchronisation required. Other failed CUDA calls are failed checks (kernels/check.h).
    PbStatus (*forward)(AttnBackend *b, const void *q, const void *k, const void *v, void *o, float *lse,
                   cudaStream_t stream, char *err, size_t errlen);
    PbStatus (*backward)(AttnBackend *b, const void *q, const void *k, const void *v, const void *o,
                    const void *dout, const float *lse, void *dq, void *dk, void *dv,
                    cudaStream_t stream, char *err, size_t errlen);
    // How the prepared layout's attention runs, for the CSV ("" when there is nothing to choose).
    void (*describe)(AttnBackend *b, char *out, size_t len);
    void (*release)(AttnBackend *b); // frees what prepare made
    void (*destroy)(AttnBackend *b);
} AttnOps;

extern const AttnOps attn_simple_ops;
#if PB_HAVE_CUDNN
extern const AttnOps attn_cudnn_ops;
#endif

// By name ("simple", "cudnn"); NULL if unknown or not built.
const AttnOps *attn_ops_find(const char *name);

#endif
