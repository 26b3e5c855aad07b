/*
 * cudnn_sdpa.h: one fused SDPA "call" of cuDNN flash attention: the forward and backward
 * graphs that cudnn-frontend's composite SDPA nodes emit (DESIGN.md section 6), built with
 * cudnn_graph.h over a batch of sequences with per-sequence lengths, and their execution.
 *
 *   BSHD (ragged 0)  b rows of batch_tokens slots each; lengths give the padding mask.
 *   THD  (ragged 1)  b sequences anywhere in the token-major buffers (q starts and kv starts
 *                    given separately, in slots); ragged offsets on every token tensor.
 * Causal top-left: key col <= query row. Bottom-right: col <= row + len_kv - len_q (queries
 * are the last len_q of the len_kv keys: completions against [prompt, completion]).
 */
#ifndef PB_CUDNN_SDPA_H
#define PB_CUDNN_SDPA_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>
#include <cudnn.h>

#include "attention.h"
#include "cudnn_graph.h"

typedef enum CausalKind { CAUSAL_TOP_LEFT, CAUSAL_BOTTOM_RIGHT } CausalKind;

/* Host description of one call: per-sequence q / kv starts (slots) and lengths. */
typedef struct CallSpec {
    int64_t b;
    int32_t *len_q, *len_kv;     // [b]
    int64_t *start_q, *start_kv; // [b]
    int32_t max_q, max_kv;       // when larger than every length: the plan's sequence dims
} CallSpec;

/* One part of a call in parts (sdpa_call_setup_parts): b consecutive sequences, their device
 * lengths and offsets relative to the part's first query / key token; part 0's are the call's.
 * run0, n_runs: the part's query rows as slot runs (SdpaCall.runs). */
typedef struct SdpaPart {
    int32_t *len_q, *len_kv;
    int64_t *off_q, *off_kv, *off_s;
    int64_t base_q, base_kv;
    int run0, n_runs;
} SdpaPart;

typedef struct SdpaRun { size_t start, len; } SdpaRun;

int spec_alloc(CallSpec *sp, int64_t b); // zeroed arrays; 0 or -1 (out of host memory)
void spec_free(CallSpec *sp);

typedef struct SdpaCall {
    int64_t b, sq, skv;          // batch, max query / key length
    int ragged;                  // THD: ragged offsets on every token tensor
    int full;                    // BSHD with every length == S: the forward needs no padding mask
    CausalKind causal;
    int64_t q_batch_stride, kv_batch_stride; // in tokens (non-ragged: row_len)
    cudnnBackendDescriptor_t fwd, bwd;       // plans (NULL: not built)
    int64_t fwd_ws, bwd_ws;                  // their workspace bytes
    Graph *fwd_graph, *bwd_graph; // the descriptors the plans were built from, kept alive with them
    int32_t *len_q, *len_kv;     // device [b]
    int64_t *off_q, *off_kv, *off_s; // device [b+1], elements (ragged only)
    SdpaPart *parts;             // a call in parts (n_parts > 0): one plan of b = a part's sequences,
    int n_parts;                 // executed once per part with pointers at its first token
    SdpaRun *runs;               // every part's query rows, merged into slot runs
    size_t max_rows, max_keys;   // the largest part's query / key span (tokens): what its buffers cover
} SdpaCall;

enum { SDPA_BUILD_FWD = 1, SDPA_BUILD_BWD = 2 };

/* Uploads sp's lengths (and offsets) and builds the plans asked for. batch_tokens: BSHD row
 * length (ragged: the longest sequence, only used for strides). *device_bytes grows by what is
 * allocated. PB_OK, PB_ERROR (no plan), PB_NO_MEMORY (host or device memory: ours, or a plan that
 * cuDNN could not finalize for lack of it); err set. */
PbStatus sdpa_call_setup(SdpaCall *c, const AttnShape *sh, cudnnHandle_t handle, const CallSpec *sp, int ragged,
                    CausalKind causal, int64_t batch_tokens, int build, size_t *device_bytes, char *err,
                    size_t errlen);
void sdpa_call_free(SdpaCall *c); // and zeroes it

/* A ragged call over sp's sequences in parts of `part` consecutive ones (attention/attn_memory.h
 * says why and how many): one plan (b = part, the longest sequence's dims), each part's arrays
 * uploaded. The backward's per-call buffers then cover max_rows / max_keys tokens, not all slots. */
PbStatus sdpa_call_setup_parts(SdpaCall *c, const AttnShape *sh, cudnnHandle_t handle, const CallSpec *sp, int part,
                               CausalKind causal, int build, size_t *device_bytes, char *err, size_t errlen);

/* A BSHD call over sp's rows (row_len slots each, in slot order) in parts of `part` consecutive
 * rows: one plan (b = part), each part's lengths uploaded, base_q = base_kv = its first row's
 * slot. Its buffers cover part * row_len slots (max_rows, max_keys). The padded backward's parts. */
PbStatus sdpa_call_setup_row_parts(SdpaCall *c, const AttnShape *sh, cudnnHandle_t handle, const CallSpec *sp, int part,
                                   int64_t row_len, int build, size_t *device_bytes, char *err, size_t errlen);

// sp's lengths (and, ragged, offsets from its starts) on the device, counted in *device_bytes.
PbStatus sdpa_upload_seqs(const AttnShape *sh, const CallSpec *sp, int ragged, int32_t **len_q, int32_t **len_kv,
                          int64_t **off_q, int64_t **off_kv, int64_t **off_s, size_t *device_bytes, char *err,
                          size_t errlen);

// cudaMalloc of bytes (0: NULL), counted in *device_bytes. PB_OK or PB_NO_MEMORY (err set).
PbStatus sdpa_dev_alloc(void **p, size_t bytes, size_t *device_bytes, char *err, size_t errlen);

/* What a call needs only while it runs (the backend's scratch): the plan's workspace and, in
 * backward, the fp32 softmax sum (slots, Hq), the fp32 dQ accumulator (slots, Hq, D), and with
 * GQA on THD calls the per-query-head dK / dV (kv slots, Hq, D) bf16. */
typedef struct SdpaScratch {
    void *workspace;
    float *sum, *dq_acc;
    void *dk_full, *dv_full;
} SdpaScratch;

// Launch on stream. PB_OK, or as variant_pack_execute. A call in parts runs part by part, the
// tensors from each part's first token on and the scratch buffers from their start. dq_tmp
// (backward, may be NULL): each part's dq goes there and is added onto dq at the part's rows.
PbStatus sdpa_forward(cudnnHandle_t handle, const AttnShape *sh, const SdpaCall *c, const SdpaScratch *scr, const void *q,
                 const void *k, const void *v, void *o, float *lse, cudaStream_t stream, char *err, size_t errlen);
PbStatus sdpa_backward(cudnnHandle_t handle, const AttnShape *sh, const SdpaCall *c, const SdpaScratch *scr,
                  const void *q, const void *k, const void *v, const void *o, const void *dout, const float *lse,
                  void *dq, void *dk, void *dv, void *dq_tmp, cudaStream_t stream, char *err, size_t errlen);
// One execution with a part's arrays (pt NULL: the call's own), pointers as given.
PbStatus sdpa_forward_part(cudnnHandle_t handle, const AttnShape *sh, const SdpaCall *c, const SdpaPart *pt,
                           const SdpaScratch *scr, const void *q, const void *k, const void *v, void *o, float *lse,
                           cudaStream_t stream, char *err, size_t errlen);
PbStatus sdpa_backward_part(cudnnHandle_t handle, const AttnShape *sh, const SdpaCall *c, const SdpaPart *pt,
                            const SdpaScratch *scr, const void *q, const void *k, const void *v, const void *o,
                            const void *dout, const float *lse, void *dq, void *dk, void *dv, cudaStream_t stream,
                            char *err, size_t errlen);

#endif
