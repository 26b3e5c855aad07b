/*
 * memory_plan.h: the GPU step's size table (llm.c style), plain host C.
 *
 * Every device byte the step holds is a line of this table, computed by one function from the
 * model, the layout and the sizes the libraries report (attention backend bytes and scratch,
 * fused CE scratch). create() allocates the model lines, prepare() the layout lines as ONE arena
 * carved in table order, then the attention backend its own buffers, then the shared scratch;
 * so the predicted peak is the allocated peak, and nothing is allocated in run. Every line but
 * the attention backend's own figure is rounded up to GPU_PLAN_ALIGN bytes.
 *
 * Shared scratch: three users whose buffers are never live at the same time share one
 * allocation, as large as the largest of them: the MLP chunk (gate, up, h: written and consumed
 * within one chunk of one layer), the fused cross-entropy (only between the forward and the
 * layers' backward) and the attention backend's transient buffers (workspace, dQ accumulator,
 * per-head dK/dV: only inside one attention call, which never overlaps an MLP chunk).
 *
 * Recompute policy: only layer inputs are kept (L + 1 checkpoints, the last being the final
 * norm's input); one layer's working buffers are shared by all layers; the MLP runs in token
 * chunks of mlp_rows, so its (tokens x F) buffers are (mlp_rows x F); the LM head runs in
 * chunks of ce_rows loss rows inside the fused cross-entropy.
 */
#ifndef PB_GPU_MEMORY_PLAN_H
#define PB_GPU_MEMORY_PLAN_H

#include <stddef.h>
#include <stdio.h>

#include "../model/model.h"
#include "../strategies/layout.h"

#define GPU_PLAN_ALIGN 256
#define GPU_MLP_CHUNK_ROWS 16384            // tokens per MLP chunk
#define GPU_CE_CHUNK_ROWS 8192              // loss rows per fused cross-entropy chunk
#define GPU_MATMUL_WORKSPACE (64u << 20)    // cuBLASLt workspace (bytes)

typedef enum GpuBuf {
    /* create(): the model, independent of the layout */
    GB_WEIGHTS,          // bf16 (n_params)              table order (model.h)
    GB_GRADS,            // bf16 (n_params)              table order
    GB_NORM_GRAD_ACC,    // fp32 (2L + 1, C)             ln1 (L, C), ln2 (L, C), lnf (C)
    GB_LOSS,             // fp64 (1)
    GB_MATMUL_WORKSPACE, // cuBLASLt workspace (held by kernels/matmul)
    /* prepare(): the layout's inputs (one arena, from GB_TOKENS to GB_DV) */
    GB_TOKENS,           // int32 (T)
    GB_POS,              // int32 (T)
    GB_KV_LO,            // int32 (T)
    GB_SHARED_END,       // int32 (T)
    GB_SEG_LO,           // int32 (T)
    GB_LOSS_ROWS,        // int32 (n_loss)
    GB_LOSS_TARGETS,     // int32 (n_loss)
    GB_EMB_UNIQ_TOK,     // int32 (U)     U = min(V, real tokens): embedding-backward CSR
    GB_EMB_UNIQ_OFF,     // int32 (U + 1)
    GB_EMB_SLOTS,        // int32 (real tokens)
    /* activations */
    GB_CHECKPOINTS,      // bf16 (L + 1, T, C)  layer inputs; [L] = final norm input
    GB_LN1,              // bf16 (T, C)   ln1 output; the final norm's output too
    GB_RSTD1,            // fp32 (T)      ln1 (and final norm) 1/rms
    GB_Q,                // bf16 (T, Hq, D)   after RoPE
    GB_K,                // bf16 (T, Hkv, D)  after RoPE
    GB_V,                // bf16 (T, Hkv, D)
    GB_ATT,              // bf16 (T, Hq, D)   attention output
    GB_LSE,              // fp32 (T, Hq)
    GB_LN2,              // bf16 (T, C)
    GB_RSTD2,            // fp32 (T)
    GB_DRES,             // bf16 (T, C)   gradient of the residual stream
    GB_DLN,              // bf16 (T, C)   gradient of a norm's output
    GB_DATT,             // bf16 (T, Hq, D)
    GB_DQ,               // bf16 (T, Hq, D)
    GB_DK,               // bf16 (T, Hkv, D)
    GB_DV,               // bf16 (T, Hkv, D)
    /* prepare(): the attention backend's own buffers (its prepare reports them) */
    GB_ATTENTION,
    /* prepare(): max(MLP chunk, fused CE scratch, attention scratch), see above */
    GB_SCRATCH,
    GB_COUNT
} GpuBuf;

#define GB_FIRST_MODEL GB_WEIGHTS
#define GB_FIRST_ARENA GB_TOKENS
#define GB_LAST_ARENA GB_DV

typedef struct GpuMemPlan {
    size_t bytes[GB_COUNT]; // each line, aligned
    size_t model;           // GB_WEIGHTS .. GB_MATMUL_WORKSPACE (create)
    size_t arena;           // GB_TOKENS .. GB_DV (prepare, one allocation)
    size_t total;           // everything, the attention backend and the scratch included
    // the shared scratch's users: bf16 (mlp_rows, F) gate, up, h at mlp_line x {0, 1, 2}; the
    // fused CE's scratch (ce_bytes); the attention backend's (attn_scratch_bytes), all at 0
    size_t mlp_line, ce_bytes, attn_scratch_bytes;
    int mlp_rows, ce_rows;  // chunk sizes used
    size_t n_uniq_max;      // U
} GpuMemPlan;

const char *gpu_buf_name(GpuBuf b);

// Chunk sizes for a layout (l may be NULL: the model lines only).
int gpu_plan_mlp_rows(const Layout *l);
int gpu_plan_ce_rows(const Layout *l);

// Fills the table; returns the total bytes. l may be NULL (then only the model lines are set).
// attn_bytes / attn_scratch_bytes: what the attention backend's prepare reported;
// ce_scratch_bytes: fused_ce_scratch_bytes(gpu_plan_ce_rows(l), C, V) (kernels/cross_entropy.h).
size_t gpu_memory_plan(const ModelConfig *m, const Layout *l, size_t attn_bytes, size_t attn_scratch_bytes,
                       size_t ce_scratch_bytes, GpuMemPlan *out);

#endif
