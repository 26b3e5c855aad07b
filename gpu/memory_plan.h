/*
 * memory_plan.h: the GPU step's device memory over the step's lifetime (plain host C; builds and
 * is tested without CUDA). DESIGN.md section 8.
 *
 * Every device buffer the step uses is a line of one table with a live interval in ticks of the
 * step: embedding; forward of layer 0..L-1 (FWD_* sub-steps); final norm and loss (LOSS_*);
 * backward of layer L-1..0 (BWD_*: the layer is recomputed from its checkpoint, then
 * differentiated); embedding backward. An interval planner (gpu/arena_plan.h) places every line
 * in ONE arena; its size, plus the buffers that live outside it (weights, the cuBLASLt
 * workspace, the attention backend's own), is the step's peak, known before anything is
 * allocated. prepare() allocates exactly that and carves it; nothing is allocated in run.
 *
 * Per-layer working buffers have one line per layer and pass (forward, backward), each live
 * only inside its sub-steps, so the planner may put layer l's q where layer l-1's MLP chunk was.
 * A layer's weight gradients are born in its backward (nothing is held at the start: PyTorch's
 * zero_grad(set_to_none=True)) and may reuse dead checkpoints; GPU_PLAN_ACCUMULATE plans the
 * same step with every gradient held from the start, as gradient accumulation over
 * micro-batches needs (reported as S_gb_accum; the step itself runs the default plan).
 *
 * Recompute policy (issue 11): GpuRecompute.keep[l] is a bit set of GpuBuf kinds whose forward
 * line of layer l is kept for the backward instead of recomputed. A kept kind's forward line
 * lives until its last backward use and no backward line is made; gpu_plan_buf() then answers
 * the forward line for the backward pass. The step runs the three levels of model/recompute.h,
 * whose keep sets are gpu_recompute_keep's (any other set plans, but the step does not run it):
 * selective keeps q, k, v (+ the q/k norm's lines: its rstd, and GB_QKV as its input; without
 * the norm GB_QKV is not kept, its backward reads nothing of it), att, lse and x1 (a forward line of its own
 * then, T x C); none also ln1, ln2, their rstd and the MLP's gate, up, h of every token (one
 * line of 3 x mlp_full_line instead of the chunk). A layer whose attention output is kept runs
 * no attention forward in backward: no backward attention-forward scratch line. Kept lines are
 * born layer by layer and die in reverse, like the checkpoints, so they share their bottom stack
 * (ARENA_UP): placed anywhere they left holes (2048x512 padded selective: 32.78 GB planned for
 * 31.37 GB live; stacked, the two are equal).
 */
#ifndef PB_GPU_MEMORY_PLAN_H
#define PB_GPU_MEMORY_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../attention/attn_memory.h"
#include "../model/model.h"
#include "../model/recompute.h"
#include "../strategies/layout.h"
#include "arena_plan.h"

#define GPU_PLAN_ALIGN 256
#define GPU_MLP_CHUNK_MAX 16384             // tokens per MLP chunk, at most
// MLP chunk caps tried: GPU_MLP_CHUNK_MAX, its half and its quarter, a smaller cap only while it
// makes at most GPU_MLP_CHUNKS_GROWTH times the chunks of the largest: each chunk costs a pass of
// weight-gradient accumulation and launches, and with no bound 4096x4096 ran 1.9-2.1% slower on
// the H200 (12 chunks per layer instead of 3; results/runs/memplan_time_after_ef7e388.csv) to
// save at most 0.47 GB of the plan.
#define GPU_MLP_CHUNKS_GROWTH 2
#define GPU_CE_CHUNK_MAX 8192               // loss rows per fused cross-entropy chunk, at most
#define GPU_MATMUL_WORKSPACE (64u << 20)    // cuBLASLt workspace (bytes)
#define GPU_PLAN_MAX_LAYERS 256
// An H200 SXM's memory as the driver reports it (143771 MiB), less 1 GiB for the CUDA context
// and the libraries' own allocations: what `bench --list` holds a step's plan against.
#define GPU_H200_USABLE_BYTES (((size_t)143771 << 20) - ((size_t)1 << 30))

typedef enum GpuBuf {
    /* outside the arena, live always: allocated in create (weights, workspace) or by the
     * attention backend's prepare */
    GB_WEIGHTS, GB_MATMUL_WORKSPACE, GB_ATTN_HELD,
    /* in the arena, live always (written in prepare, read by every step) */
    GB_LOSS,             // fp64 (1)
    GB_TOKENS, GB_POS, GB_KV_LO, GB_SHARED_END, GB_SEG_LO,  // int32 (T)
    GB_LOSS_ROWS, GB_LOSS_TARGETS, GB_LOSS_WEIGHTS,         // int32 (n_loss); weights: paths per pair (layout.h)
    GB_EMB_UNIQ_TOK,     // int32 (U)     U = min(V, real tokens): embedding-backward CSR
    GB_EMB_UNIQ_OFF,     // int32 (U + 1)
    GB_EMB_SLOTS,        // int32 (real tokens)
    GB_ROPE_FREQ,        // fp64 (D / 2)  RoPE inverse frequencies (model.h rope_inv_freq)
    /* the step's own lines */
    GB_CHECKPOINT,       // bf16 (T, C) per layer 0..L: layer inputs; [L] = final norm input
    GB_NORM_GRAD_ACC,    // fp32 (2L + 1, C) + (2L, D): ln1, ln2, lnf, q_norm, k_norm weight gradients
    GB_LNF,              // bf16 (T, C) final norm output
    GB_RSTDF,            // fp32 (T)
    GB_DLNF,             // bf16 (T, C) its gradient (the fused CE adds into it)
    GB_CE_SCRATCH,       // fused CE chunk (kernels/cross_entropy.h)
    GB_DRES,             // bf16 (T, C) gradient of the residual stream, through all of backward
    /* per layer and pass */
    GB_LN1,              // bf16 (T, C)
    GB_RSTD1,            // fp32 (T)
    GB_QKV,              // bf16 (T, Hq*D + 2*Hkv*D) the fused projection's output, rows [q | k | v] before
                         //   RoPE (and the q/k norm): RoPE / the norm read q and k from it, v is copied out;
                         //   with the q/k norm it lives on as the norm's input (its backward reads it)
    GB_Q,                // bf16 (T, Hq, D)   after RoPE
    GB_K, GB_V,          // bf16 (T, Hkv, D)
    GB_QRSTD,            // fp32 (T, Hq)      (qk_norm only)
    GB_KRSTD,            // fp32 (T, Hkv)     (qk_norm only)
    GB_ATT,              // bf16 (T, Hq, D)   attention output
    GB_LSE,              // fp32 (T, Hq)
    GB_LN2,              // bf16 (T, C)
    GB_RSTD2,            // fp32 (T)
    GB_MLP_CHUNK,        // bf16 (mlp_rows, 2F) gate | up (the fused GEMM's rows) at 0, h (mlp_rows, F) at
                         //   2 x mlp_line: 3 x mlp_line bytes
    GB_ATTN_FWD_SCRATCH, // lent to one attention forward call
    /* per layer, backward pass only */
    GB_X1,               // bf16 (T, C) recomputed residual after attention
    GB_DLN_MLP,          // bf16 (T, C) gradient of ln2's output
    GB_DATT,             // bf16 (T, Hq, D)
    GB_DQ,               // bf16 (T, Hq, D)
    GB_DK, GB_DV,        // bf16 (T, Hkv, D)
    GB_DQKV,             // bf16 (T, Hq*D + 2*Hkv*D) gradient of GB_QKV: RoPE's (the q/k norm's) backward writes
                         //   its q and k parts, dv is copied in; ONE GEMM each for dln1 and the weights
    GB_ATTN_BWD_SCRATCH, // lent to one attention backward call
    GB_DLN_ATT,          // bf16 (T, C) gradient of ln1's output
    /* weight gradients: one line per layer and fused group (GB_GRAD, group lead, layer; the
     * groups of gpu/weight_layout.h: wq|wk|wv, bq|bk|bv, wgate|wup, else one tensor), else per tensor */
    GB_GRAD,
    GB_COUNT
} GpuBuf;

typedef enum GpuPass { PASS_FWD, PASS_BWD, PASS_NONE } GpuPass;

// Sub-steps of a layer's forward and backward, in order.
enum { FWD_LN1, FWD_QKV, FWD_ATTN, FWD_OPROJ, FWD_MLP, FWD_STEPS };
enum { BWD_LN1, BWD_QKV, BWD_ATTN, BWD_OPROJ, BWD_MLP, BWD_OGRAD, BWD_ATTN_BWD, BWD_QKV_BWD, BWD_LN1_BWD, BWD_STEPS };
enum { LOSS_NORM, LOSS_CE, LOSS_NORM_BWD, LOSS_STEPS };

typedef enum GpuPlanMode { GPU_PLAN_DEFAULT, GPU_PLAN_ACCUMULATE } GpuPlanMode;

typedef struct GpuRecompute { uint64_t keep[GPU_PLAN_MAX_LAYERS]; } GpuRecompute; // bit (1 << kind)
// The kinds a layer at level lv keeps; a policy's GpuRecompute from per-layer levels.
uint64_t gpu_recompute_keep(RecomputeLevel lv);
void gpu_recompute_of_levels(const unsigned char *levels, int layers, GpuRecompute *out);
// Bytes one layer's kept forward lines take for T token slots (a kept MLP at its full-T size).
size_t gpu_plan_keep_bytes(const ModelConfig *m, size_t T, uint64_t keep);

typedef struct GpuPlanLine {
    GpuBuf kind;
    int layer;           // -1 where not per layer
    int param;           // GB_GRAD: the ParamId; else -1
    GpuPass pass;
    ArenaBuf a;          // bytes, live ticks, offset in the plan (outside lines first, at 0)
} GpuPlanLine;

typedef struct GpuMemPlan {
    int n_lines, cap_lines;
    GpuPlanLine *lines;
    int n_ticks;
    size_t peak;         // the plan's size: every byte the step holds at its fullest moment
    size_t outside;      // bytes of the lines outside the arena (they sit at [0, outside))
    size_t arena;        // peak - outside: the one allocation prepare makes
    int peak_tick;       // a tick where the live bytes are largest
    size_t live_peak;    // the largest sum of live bytes (arena_live_peak), <= peak
    int mlp_rows, ce_rows;
    size_t mlp_line;     // bytes of one third of the MLP chunk: rows [gate | up] take two at 0, h one at 2 x mlp_line
    size_t mlp_full_line;// the same for all T tokens (a layer that keeps its MLP: rows [gate | up] at 0, h at x 2)
    size_t n_uniq_max;   // U
    AttnMemory attn;     // the attention backend's figures the plan used
    int attn_tight;      // how tight its backward's parts are (AttnMask.tight_parts; 0: few)
    GpuPlanMode mode;
    int L;
    // line index by (kind, layer, pass) and (param, layer): -1 where absent
    int *index;
} GpuMemPlan;

typedef struct GpuPlanInput {
    const ModelConfig *m;
    const Layout *l;
    AttnMemory attn[ATTN_TIGHT_LEVELS]; // [tight]: attn_memory() on the host (gpu_plan_attn_figures), or
                                 // what the backend's prepare reported
    GpuPlanMode mode;
    const GpuRecompute *recompute; // NULL: keep nothing but the checkpoints
    int mlp_rows, ce_rows;       // 0: chosen by gpu_memory_plan (gpu_plan_chunks)
    int mlp_cap;                 // > 0: the MLP chunks' only cap (StepOptions.mlp_chunk)
    int attn_tight;              // 0 .. ATTN_TIGHT_LEVELS - 1 fixed; -1: chosen with the chunks
} GpuPlanInput;

// in->attn[0 .. ATTN_TIGHT_LEVELS - 1]: the backend's host figures with its parts as few as
// possible, then tight at each level (attention/attn_memory.h). 0, or -1 (unknown backend, out of
// host memory). ask: the backend's prefix choices (its tight field is ignored: all are computed).
int gpu_plan_attn_figures(const char *backend, const ModelConfig *m, const Layout *l, const AttnMemoryAsk *ask,
                          GpuPlanInput *in);

// Fills the table and places it. 0, or -1 with one line in err. Free with gpu_memory_plan_free.
int gpu_memory_plan(const GpuPlanInput *in, GpuMemPlan *out, char *err, size_t errlen);
void gpu_memory_plan_free(GpuMemPlan *p);

// Chunk sizes that fit the cell, balanced (the fewest equal chunks under a cap): the MLP's
// chunks under GPU_MLP_CHUNK_MAX, half or a quarter of it tokens (GPU_MLP_CHUNKS_GROWTH), the fused CE's under
// GPU_CE_CHUNK_MAX, half or a quarter of it loss rows; and the attention's parts, few or tight at
// a level (a level whose figures equal the one below is skipped); of these, the choice with the
// lowest default-mode peak, ties to the fewer parts and the larger chunks (more parts cost calls,
// smaller chunks cost GEMM efficiency).
int gpu_plan_chunks(const GpuPlanInput *in, int *mlp_rows, int *ce_rows, int *attn_tight, char *err, size_t errlen);

// Floats of GB_NORM_GRAD_ACC: ln1 (L, C), ln2 (L, C), lnf (C), then q_norm (L, D) and k_norm (L, D)
// where the model has the q/k norm.
size_t gpu_plan_norm_acc_floats(const ModelConfig *m);

// Rows per chunk when n rows are cut into the fewest chunks of at most cap rows, balanced.
int gpu_plan_balanced_rows(size_t n, int cap);

// The line of (kind, layer, pass) or of a gradient (param, layer; layer -1 for a whole tensor).
// A fused tensor's gradient is inside its group's line, at gpu_weight_group_offset elements.
const GpuPlanLine *gpu_plan_buf(const GpuMemPlan *p, GpuBuf kind, int layer, GpuPass pass);
const GpuPlanLine *gpu_plan_grad(const GpuMemPlan *p, int param, int layer);

const char *gpu_buf_name(GpuBuf b);
// "ckpt[3]", "q fwd[5]", "grad wq[2]" ...
void gpu_plan_line_name(const GpuPlanLine *ln, char *buf, size_t len);
// Ticks: the phase a tick belongs to, as text ("forward of layer 3, attention").
void gpu_plan_tick_name(const GpuMemPlan *p, int tick, char *buf, size_t len);
int gpu_plan_tick_fwd(int l, int sub);
int gpu_plan_tick_bwd(int L, int l, int sub);
int gpu_plan_tick_loss(int L, int sub);
int gpu_plan_tick_embed_bwd(int L);

// The peak, the outside lines, the chunks, and the n largest lines live at the peak tick.
void gpu_memory_plan_print(const GpuMemPlan *p, int n_largest, FILE *f);

#endif
