/*
 * step_internal.h: the GPU step's state, shared by its two files and nothing else:
 *   step.cu          the spine: create, prepare (the arena), the layer, run (timed)
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
    bf16_t *weights;           // flat, model.h table order
    bf16_t *w[P_COUNT];
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
};

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

#endif
