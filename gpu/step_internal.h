/*
 * step_internal.h: the GPU step's state, shared by its two files and nothing else:
 *   step.cu          the spine: create, prepare (the arena), the layer, run (timed)
 *   step_backend.cu  the StepBackend face: every entry point under a CheckTrap, accounting,
 *                    copies, environment and clocks
 */
#ifndef PB_GPU_STEP_INTERNAL_H
#define PB_GPU_STEP_INTERNAL_H

#include "../kernels/bf16_host.h"
#include "../kernels/matmul.h"
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
    size_t baseline_used;      // device bytes in use before our allocations (context included)
    int device_lost;           // 1: a device call failed; only host memory may be touched now
    char lost_why[512];        // that call's message
    SmClock *clock;            // NULL: NVML not reachable, the clocks are unknown
    StepClocks last_clocks;    // around the last run

    // model (create)
    bf16_t *weights, *grads;   // flat, model.h table order
    bf16_t *w[P_COUNT], *g[P_COUNT];
    float *norm_acc;           // (2L + 1, C): ln1, ln2, lnf
    double *loss;              // device
    void *small;               // the allocation holding norm_acc and loss

    // layout (prepare)
    const Layout *layout;
    void *arena;
    size_t attn_bytes;
    void *scratch;             // GB_SCRATCH: the MLP chunk, the fused CE and the attention backend
    bf16_t *gate, *up, *h;     // (mlp_rows, F) each, in scratch
    GpuMemPlan plan;
    size_t T, n_loss;
    int n_uniq;
    char *buf[GB_COUNT];       // arena lines (NULL for model lines)
};

// step.cu. create: *keep gets the Step as soon as it exists (a device error mid-create can still
// free it). destroy frees host memory only once the Step is lost.
Step *gpu_create_step(const ModelConfig *m, const StepOptions *o, Step **keep, char *err, size_t errlen);
PbStatus gpu_prepare_layout(Step *s, const Layout *l, char *err, size_t errlen);
PbStatus gpu_run_timed(Step *s, double *ms, double *loss, char *err, size_t errlen);
void gpu_release_layout(Step *s);
void gpu_destroy_step(Step *s);
size_t gpu_device_used(void); // bytes in use on the device (cudaMemGetInfo)

#endif
