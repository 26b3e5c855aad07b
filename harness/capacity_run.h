/*
 * capacity_run.h: `bench capacity` (issue 11). For each cell shape (--cells PxC or a grid
 * sweep's, K = --completions) and each strategy: the largest number of prompts B whose step's
 * planned peak fits the budget (capacity.h, from the size table: no device needed), then, with
 * a device, that step timed like a sweep cell: completions and tokens per second at capacity,
 * the planned and the measured peak. Without a device (no --device, no usable GPU) it plans
 * only. --device cpu times the fp32 reference (tiny models; the CPU budget applies unless
 * --force). A cell where even B = 1 does not fit is a row with status `skipped` and the reason.
 *
 * The CSV (--out, default out/capacity-<gpu|cpu|host>.csv; appended, the header written when
 * the file is new, another header refused) has one row per strategy and cell, each one write();
 * the columns are CAPACITY_CSV_HEADER (README "Capacity").
 */
#ifndef PB_CAPACITY_RUN_H
#define PB_CAPACITY_RUN_H

#include <stdio.h>

#include "../step/step.h"
#include "cli.h"

#define CAPACITY_CSV_HEADER                                                                                       \
    "model,strategy,prompt_len,completion_len,num_completions,budget_gb,budget_from,recompute,attention,status,"   \
    "batch_size,plan_batch_size,completions,limit,slots,plan_gb,plan_next_gb,gpu_plan_gb,measured_gb,driver_gb,"   \
    "median_ms,min_ms,iqr_ms,reps,completions_per_s,tokens_per_s,model_tflops,hw_tflops,loss,note,device,gpu,versions,"    \
    "git_commit,command,time"

// Exit status as bench_main's: 0; 1 a step failed; 2 bad input; 3 a device error (the run stops).
// argv: the command line (for the CSV). gpu: the GPU backend, or NULL in a build without one.
int capacity_main(int argc, char **argv, const CliOptions *o, const StepBackend *gpu, FILE *out);

#endif
