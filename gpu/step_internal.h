/*
 * step_internal.h: the GPU step's state, shared by its two files and nothing else:
 *   step.cu          the spine: create, prepare (the arena, the recompute choice), run (timed)
 *   step_layer.cu    one layer's forward and backward under its recompute level
 *   step_backend.cu  the StepBackend face: every entry point under a CheckTrap, accounting,
 *                    copies, environment and clocks
 */
#ifndef PB_GPU_STEP_INTERNAL_H
#define PB_GPU_STEP_INTERNAL_H

#include <string.h>

#include "../kernels/bf16_host.h"
#include "../kernels/matmul.h"
#include "profile.h"
#include "sm_clock.h"

extern "C" {
#include "../attention/attention.h"
#include "../model/model.h"
#include "../step/step.h"
#include "memory_plan.h"
#include "recompute_plan.h"
#include "weight_layout.h"
}

struct Step {
    ModelConfig m;
    StepOptions opt;
    const AttnOps *attn_ops;
    AttnBackend *attn;
    cudaStream_t stream;
    cudaEvent_t ev_start, ev_stop;
    Matmul *mm;
    Profile *prof;             // op-class ranges: NVTX always, events in the profiled step (profile.h)
    size_t baseline_used;      // device bytes in use before our allocations (context included)
    int device_lost;           // 1: a device call failed; only host memory may be touched now
    char lost_why[512];        // that call's message
    SmClock *clock;            // NULL: NVML not reachable, the clocks are unknown
    StepClocks last_clocks;    // around the last run

    // model (create)
    bf16_t *weights;           // flat, in the GPU step's per-layer order (weight_layout.h)
    bf16_t *w[P_COUNT];        // the tensors of no layer (P_EMBED, P_LNF, P_LMHEAD); per-layer ones: layer_w
    size_t weight_bytes;       // allocated (the plan's weights line)

    // layout (prepare)
    const Layout *layout;
    char *arena;               // the plan's lines but the outside ones, at offset - plan.outside
    GpuMemPlan plan, plan_accum;
    AttnMemory attn_mem;       // what the backend's prepare reported
    AttnMemoryAsk attn_ask;    // the attention options its host memory figures depend on
    size_t T, n_loss;
    int n_uniq;
    int tick_now;              // the plan's tick being run (poisoning)

    // recompute policy (create: StepOptions.recompute; prepare: the choice per layout)
    RecomputePolicy policy;
    int levels_given;          // StepOptions.recompute_levels (tests): these levels, not the policy's
    unsigned char levels_asked[GPU_PLAN_MAX_LAYERS];
    RecomputeChoice recompute; // the prepared layout's levels and keep sets
};

// The prepared layout's recompute level of layer l.
static inline RecomputeLevel layer_level(const Step *s, int l) { return (RecomputeLevel)s->recompute.level[l]; }

// StepOptions.gemm_select as the matmul's choice: "heuristic", else timed (NULL is the default,
// STEP_GEMM_SELECT_DEFAULT; the CLI admits only the two names).
static inline MatmulSelect gemm_select_of(const StepOptions *o) {
    return o->gemm_select && !strcmp(o->gemm_select, "heuristic") ? MATMUL_SELECT_HEURISTIC : MATMUL_SELECT_TIMED;
}

// step.cu. create: *keep gets the Step as soon as it exists (a device error mid-create can still
// free it). destroy frees host memory only once the Step is lost.
Step *gpu_create_step(const ModelConfig *m, const StepOptions *o, Step **keep, char *err, size_t errlen);
PbStatus gpu_prepare_layout(Step *s, const Layout *l, char *err, size_t errlen);
PbStatus gpu_run_timed(Step *s, double *ms, double *loss, char *err, size_t errlen);
void gpu_release_layout(Step *s);
void gpu_destroy_step(Step *s);
size_t gpu_device_used(void); // bytes in use on the device (cudaMemGetInfo)
char *gpu_line_ptr(Step *s, const GpuPlanLine *ln); // a plan line's device address (prepared Step)

// A plan line's device address, by (kind, layer, pass); a layer's slice of a weight (NULL for a
// tensor the variant lacks: biases, q/k norms); a gradient's line (per layer, or the whole tensor).
static inline char *line_ptr(Step *s, const GpuPlanLine *ln) { return gpu_line_ptr(s, ln); }
// A step-level line (checkpoints by layer), or a layer's line in a pass.
static inline char *buf_at(Step *s, GpuBuf b, int layer, GpuPass pass) { return line_ptr(s, gpu_plan_buf(&s->plan, b, layer, pass)); }
static inline bf16_t *bb(Step *s, GpuBuf b, int l, GpuPass p) { return (bf16_t *)buf_at(s, b, l, p); }
static inline float *fb(Step *s, GpuBuf b, int l, GpuPass p) { return (float *)buf_at(s, b, l, p); }
static inline int32_t *ib(Step *s, GpuBuf b) { return (int32_t *)buf_at(s, b, -1, PASS_NONE); }
static inline bf16_t *ckpt(Step *s, int l) { return bb(s, GB_CHECKPOINT, l, PASS_NONE); }

// One layer's slice of a weight; NULL for a tensor the variant lacks (biases, q/k norms). A fused
// group's lead (P_WQ, P_BQ, P_WGATE) is the group's slice: [wq; wk; wv], [bq; bk; bv], [wgate; wup].
static inline bf16_t *layer_w(Step *s, ParamId id, int l) {
    size_t n = model_param_layer_size(&s->m, id);
    return n ? s->weights + gpu_weight_offset(&s->m, id, l) : NULL;
}
// fp32 gradient accumulators of the q/k norm weights (GB_NORM_GRAD_ACC after ln1, ln2, lnf).
static inline float *norm_acc_qnorm(Step *s, int l) {
    return (float *)buf_at(s, GB_NORM_GRAD_ACC, -1, PASS_NONE) + (2 * (size_t)s->m.layers + 1) * s->m.hidden +
           (size_t)l * s->m.head_dim;
}
static inline float *norm_acc_knorm(Step *s, int l) { return norm_acc_qnorm(s, s->m.layers + l); }
// A weight's gradient (layer l's slice, or the whole tensor for l -1): inside its fused group's line
// at the tensor's offset in the group (so grad(s, P_WQ, l) is the whole [dwq; dwk; dwv]); NULL where
// the variant lacks the tensor.
static inline bf16_t *grad(Step *s, ParamId id, int l) {
    bf16_t *g = (bf16_t *)line_ptr(s, gpu_plan_grad(&s->plan, id, l));
    return g && l >= 0 ? g + gpu_weight_group_offset(&s->m, id) : g;
}

// The plan's tick t begins (poisoning: lines that died at t - 1 or are born at t become NaN).
void gpu_tick(Step *s, int t);
static inline void tick_fwd(Step *s, int l, int sub) { gpu_tick(s, gpu_plan_tick_fwd(l, sub)); }
static inline void tick_bwd(Step *s, int l, int sub) { gpu_tick(s, gpu_plan_tick_bwd(s->m.layers, l, sub)); }

// step_layer.cu: layer l's forward (input checkpoint l, output checkpoint l + 1), and its backward
// (dres: the gradient of its output in, of its input out), each as the layer's recompute level says.
PbStatus gpu_layer_forward(Step *s, int l, char *err, size_t errlen);
PbStatus gpu_layer_backward(Step *s, int l, char *err, size_t errlen);

#endif
