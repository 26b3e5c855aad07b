/*
 * step.h: the seam between the harness and a device (below the harness: reference/ and gpu/
 * implement it, harness/ drives it). A StepBackend runs the unit of work
 * (forward + backward of the completion NLL) for one Layout and times it. The CPU backend
 * (reference/) and the GPU backend (gpu/) both implement it; the harness knows nothing else.
 */
#ifndef PB_STEP_H
#define PB_STEP_H

#include <stddef.h>
#include <stdint.h>

#include "pb_config.h"

#include "../core/status.h"
#include "../model/model.h"
#include "../model/recompute.h"
#include "../model/roofline.h"
#include "../strategies/layout.h"

typedef struct StepOptions {
    uint64_t seed;         // weight initialisation
    const char *attention; // GPU attention backend: "cudnn" or "simple"; NULL = default
    const char *prefix_attention; // cudnn prefix / tree forward: "auto", "gather", "merge"; NULL = auto
    int attention_phases;  // cudnn, development: print the prefix backward's phase times at destroy
    int matmul_verbose;    // 1: the GPU step prints every cuBLASLt plan as it builds it (./bench --matmul-verbose)
    int mlp_chunk;         // GPU: MLP chunk cap in tokens (./bench --mlp-chunk); 0: the memory plan's choice
    int poison;            // debug (GPU): fill every buffer with NaN when it is born and when it dies, so a
                           // read outside a buffer's planned lifetime shows in the loss and gradients
    const char *gemm_select; // GPU: "timed" (time the heuristic's candidates per shape, keep the fastest) or
                             // "heuristic" (its first answer); NULL = STEP_GEMM_SELECT_DEFAULT
    int profile;           // 1: the GPU step can time its op classes (the profile entry; ./bench --profile)
    const char *recompute; // "full" (NULL: the default), "selective", "none", "auto" (model/recompute.h); the CPU
                           // runs the first three
    size_t memory_budget;  // auto: the planned peak's bound in bytes; 0: the device's free memory less a margin
    const unsigned char *recompute_levels; // tests: a RecomputeLevel per layer, overriding recompute; NULL: none
} StepOptions;

// heuristic by default: the timed choice allocates a temporary output outside the memory plan
// while it times an accumulating GEMM (up to 1.4 GB in warm-up at 16k x 16k), and its gain is
// measured per run with --gemm-select timed (results/runs/), not assumed.
#define STEP_GEMM_SELECT_DEFAULT "heuristic"

// One step's time per op class (model/roofline.h), from CUDA events around every op.
typedef struct StepProfile {
    double step_ms;                      // the whole profiled step (its own events, profiling included)
    double ms[OPK_COUNT][OPP_COUNT];     // summed event-pair times per class
    int calls[OPK_COUNT][OPP_COUNT];     // event pairs per class
} StepProfile;

// The SM clock around the last run (nvbench style: the clock the step ran at, not the rated one).
typedef struct StepClocks {
    int known;             // 0: not readable (CPU, or no NVML from the driver); the rest is 0
    unsigned sm_mhz_before, sm_mhz_after; // read just before the start event and just after the stop event
    unsigned sm_mhz_rated; // the device's maximum SM clock (what cudaDevAttrClockRate reports)
    int throttled;         // 1: NVML named a power, thermal or hardware slowdown at either reading
} StepClocks;

typedef struct StepMemory {
    size_t predicted;      // peak bytes the memory plan says the step needs (weights, grads, activations, workspaces)
    size_t predicted_accum;// the same step's planned peak with every gradient held from the start (accumulation)
    size_t allocated;      // bytes actually allocated by the program's accounting
    size_t driver_used;    // device bytes in use per cudaMemGetInfo at the step's end, minus the context baseline; 0 on the CPU
} StepMemory;

typedef struct Step Step; // opaque, one per backend instance

typedef struct StepBackend {
    const char *device; // "cpu" or "gpu"
    // Allocates weights (seeded) and gradients. NULL with a one-line reason in err.
    Step *(*create)(const ModelConfig *m, const StepOptions *o, char *err, size_t errlen);
    // Makes everything the step needs for this layout (device copies, plans, buffers). Not timed.
    // PB_NO_MEMORY when the cell does not fit; the Step stays usable for another layout.
    // PB_DEVICE_ERROR (a failed CUDA / cuBLAS / cuDNN call, message in err): the Step is not
    // usable any more except for destroy. Every entry returns a PbStatus (core/status.h).
    PbStatus (*prepare)(Step *s, const Layout *l, char *err, size_t errlen);
    // One full step. *ms: its time (CUDA events on the GPU, a monotonic clock on the CPU);
    // *loss: the summed NLL. PB_ERROR / PB_NO_MEMORY / PB_DEVICE_ERROR with a reason on failure.
    PbStatus (*run)(Step *s, double *ms, double *loss, char *err, size_t errlen);
    void (*memory)(Step *s, StepMemory *out);
    // Copies of the parameters / gradients as fp32, in model.h table order (for tests).
    PbStatus (*params)(Step *s, float *out);
    PbStatus (*grads)(Step *s, float *out);
    // Releases the layout's buffers (prepare may be called again).
    void (*release)(Step *s);
    void (*destroy)(Step *s);
    // Environment strings for the CSV ("" where not applicable).
    void (*describe)(Step *s, char *gpu_name, size_t n1, char *versions, size_t n2);
    // The clocks around the last run; NULL where the device has none to report (the CPU).
    void (*clocks)(Step *s, StepClocks *out);
    // The attention backend that runs ("cudnn", "simple"; "" on the CPU), for the CSV.
    const char *(*attention)(Step *s);
    // How the prepared layout's attention runs ("" where there is nothing to choose); NULL: never.
    void (*attention_plan)(Step *s, char *out, size_t len);
    // One extra step, after the timed ones, with every op class timed (StepOptions.profile must
    // have been set at create); NULL where the device has no profiler (the CPU).
    PbStatus (*profile)(Step *s, StepProfile *out, char *err, size_t errlen);
    // The recompute level of every layer for the prepared layout (levels[m->layers], RecomputeLevel)
    // and what ran as text (recompute_describe); NULL where the backend has no policy.
    void (*recompute)(Step *s, unsigned char *levels, char *what, size_t len);
} StepBackend;

extern const StepBackend cpu_step_backend;
#if PB_HAVE_CUDA
extern const StepBackend gpu_step_backend;
#endif

#endif
