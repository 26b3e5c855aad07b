/*
 * plan.h: `bench plan`: the memory plan of the GPU step per cell and strategy, without a GPU
 * (gpu/memory_plan.h, with the attention backend's figures from attention/attn_memory.h): the
 * planned peak with no gradients held and with every gradient held (accumulation), the chunk
 * sizes, and the largest buffers live at the peak. With --device gpu it also prepares and runs
 * the step for every row and prints what was allocated and what the driver sees next to the
 * plan; --out appends those rows to a CSV (its header written when the file is new).
 */
#ifndef PB_PLAN_H
#define PB_PLAN_H

#include <stdio.h>

#include "cli.h"
#include "../step/step.h"

// Exit status as bench_main's. gpu: the GPU backend, or NULL in a build without one.
int plan_main(const CliOptions *o, const StepBackend *gpu, FILE *out);

#endif
