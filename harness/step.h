/*
 * step.h: the seam between the harness and a device. A StepBackend runs the unit of work
 * (forward + backward of the completion NLL) for one Layout and times it. The CPU backend
 * (reference/) and the GPU backend (gpu/) both implement it; the harness knows nothing else.
 */
#ifndef PB_STEP_H
#define PB_STEP_H

#include <stddef.h>
#include <stdint.h>

#include "../model/model.h"
#include "../strategies/layout.h"

enum { STEP_OK = 0, STEP_ERROR = -1, STEP_NO_MEMORY = -2 };

typedef struct StepOptions {
    uint64_t seed;         // weight initialisation
    const char *attention; // GPU attention backend: "cudnn" or "simple"; NULL = default
    int checkpoint;        // 1: layer checkpointing (the benchmark's setting); the GPU step always checkpoints
} StepOptions;

typedef struct StepMemory {
    size_t predicted;      // bytes the size table says the step needs (weights, grads, activations, workspaces)
    size_t allocated;      // bytes actually allocated by the program's accounting
    size_t driver_used;    // device bytes in use per cudaMemGetInfo at the step's end, minus the context baseline; 0 on the CPU
} StepMemory;

typedef struct Step Step; // opaque, one per backend instance

typedef struct StepBackend {
    const char *device; // "cpu" or "gpu"
    // Allocates weights (seeded) and gradients. NULL with a one-line reason in err.
    Step *(*create)(const ModelConfig *m, const StepOptions *o, char *err, size_t errlen);
    // Makes everything the step needs for this layout (device copies, plans, buffers). Not timed.
    // STEP_NO_MEMORY when the cell does not fit; the Step stays usable for another layout.
    int (*prepare)(Step *s, const Layout *l, char *err, size_t errlen);
    // One full step. *ms: its time (CUDA events on the GPU, a monotonic clock on the CPU);
    // *loss: the summed NLL. STEP_ERROR with a reason on failure.
    int (*run)(Step *s, double *ms, double *loss, char *err, size_t errlen);
    void (*memory)(Step *s, StepMemory *out);
    // Copies of the parameters / gradients as fp32, in model.h table order (for tests). 0 or -1.
    int (*params)(Step *s, float *out);
    int (*grads)(Step *s, float *out);
    // Releases the layout's buffers (prepare may be called again).
    void (*release)(Step *s);
    void (*destroy)(Step *s);
    // Environment strings for the CSV ("" where not applicable).
    void (*describe)(Step *s, char *gpu_name, size_t n1, char *versions, size_t n2);
} StepBackend;

extern const StepBackend cpu_step_backend;
#ifdef PB_HAVE_CUDA
extern const StepBackend gpu_step_backend;
#endif

#endif
