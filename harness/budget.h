/*
 * budget.h: the CPU device's budget. The CPU step is the fp32 reference, meant for tiny
 * models: a Qwen2.5-7B cell or 32k tokens there would run for hours. Before anything is
 * allocated, the size table (cpu_step_activation_bytes, fp32 weights and gradients, the
 * layout) and the FLOP count (model_flops) of the largest cell are estimated from the lengths
 * (layout_estimate); beyond PB_CPU_MAX_BYTES or PB_CPU_MAX_FLOP the run is refused in one line
 * (exit 2) unless --force. A random sweep is judged by its largest possible cell.
 */
#ifndef PB_BUDGET_H
#define PB_BUDGET_H

#include <stddef.h>

#include "../model/model.h"
#include "sweep.h"

#define PB_CPU_MAX_BYTES 4e9  // host bytes of one CPU step (weights, gradients, activations, layout)
#define PB_CPU_MAX_FLOP 5e10  // model FLOPs of one CPU step: about 30 s at the 1.6 GFLOP/s the reference
                              // reached on tiny 4096x4096 (237 s for 0.39 TFLOP)

typedef struct CellCost {
    double bytes;  // host bytes of the step
    double flop;   // model FLOPs of one step
} CellCost;

// The costliest requested strategy of cell c on the CPU. 0, or -1 on bad lengths.
int budget_cpu_cell(const ModelConfig *m, const Cell *c, unsigned strategies, CellCost *out);
// The whole run on the CPU: the model alone, then the largest cell of src. 0, or -1 with a
// line naming what is over the budget (and --force).
int budget_check_cpu(const ModelConfig *m, const CellSource *src, unsigned strategies, char *err, size_t errlen);

#endif
