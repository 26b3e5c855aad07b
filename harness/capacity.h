/*
 * capacity.h: the largest batch that fits a memory budget (issue 11, `bench capacity`).
 *
 * For a cell shape (prompt length p, completion length c, K completions per prompt) and a
 * strategy, the capacity is the largest number of prompts B whose step's planned peak (the GPU
 * step's memory plan, gpu/memory_plan.h, computed on the host from the size table, nothing
 * allocated) is at most the budget. Found by doubling B until a plan does not fit, then
 * bisecting; the planned peak grows with B (more slots: more bytes in every line), which the
 * tests check at the answer: B fits and B + 1 does not.
 *
 * What the step keeps and recomputes (the recompute policy) and the budget reach the planner
 * in ONE call, capacity_plan_peak: the StepOptions the step is created with (StepOptions.recompute,
 * gpu/recompute_plan.h's choice at each B), and the budget (which auto holds the plan to).
 */
#ifndef PB_CAPACITY_H
#define PB_CAPACITY_H

#include <stddef.h>

#include "../model/model.h"
#include "../step/step.h"
#include "../strategies/layout.h"


// The step's planned peak for layout l under the step's options so (attention backend, prefix
// attention mode, MLP chunk cap; the recompute policy) and the budget. 0, or -1 with one line
// in err (an unknown backend or mode, out of host memory).
int capacity_plan_peak(const ModelConfig *m, const Layout *l, const StepOptions *so, size_t budget, size_t *peak,
                       char *err, size_t errlen);
// 1 when the planned peak is at most budget, 0 when not, -1 with err. *peak: the planned peak.
int capacity_fits(const ModelConfig *m, const Layout *l, const StepOptions *so, size_t budget, size_t *peak,
                  char *err, size_t errlen);
// The recompute policy the plan used, for the CSV: "full" (layer checkpointing) today.
const char *capacity_policy_name(const StepOptions *so);

// What bounds B at the answer.
typedef enum CapacityLimit {
    CAP_LIMIT_BUDGET,      // B + 1 plans over the budget
    CAP_LIMIT_PROMPTS,     // B is PB_MAX_PROMPTS
    CAP_LIMIT_SLOTS,       // B + 1 would make the layout longer than PB_MAX_SLOTS slots
    CAP_LIMIT_HOST,        // B + 1's layout would take more than half of this host's memory
    CAP_LIMIT_COUNT
} CapacityLimit;
const char *capacity_limit_name(CapacityLimit l); // "budget", "prompts", "slots", "host"

typedef struct CapacityShape { int prompt_len, completion_len, k; } CapacityShape;

typedef struct CapacityResult {
    int b;                // the largest B that fits; 0 when B = 1 does not
    size_t peak;          // planned peak at b (b = 0: at B = 1, over the budget)
    size_t peak_next;     // planned peak at b + 1 (0 when another limit than the budget stops B)
    int64_t slots;        // the layout's token slots at b (b = 0: at 1)
    CapacityLimit limit;
    int probes;           // plans made
} CapacityResult;

// The layout of B prompts of the given shape for strategy s (token ids seeded by seed; the plan
// does not depend on them). 0, or -1 with err.
int capacity_layout(const ModelConfig *m, const CapacityShape *sh, int b, Strategy s, uint64_t seed, Layout *out,
                    char *err, size_t errlen);
// The largest B that fits (see the top). 0, or -1 with err (a plan or a layout failed).
int capacity_search(const ModelConfig *m, const CapacityShape *sh, Strategy s, const StepOptions *so, size_t budget,
                    CapacityResult *out, char *err, size_t errlen);

// The budget in bytes: gb > 0 as given, else with a usable GPU its free memory (cudaMemGetInfo,
// before the step is created) less GPU_RECOMPUTE_MARGIN (*from: "device"), else one H200's 141 GB,
// GPU_RECOMPUTE_HOST_BUDGET (*from: "host"), as the recompute policy's (gpu/recompute_plan.h).
// want_gpu: 0 never asks the device.
size_t capacity_default_budget(double gb, int want_gpu, const char **from);

#endif
