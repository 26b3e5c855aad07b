/*
 * estimate.h: `bench estimate`: how long a sweep will take on one GPU under the stopping rule
 * (measure.h), without a GPU. Every cell and strategy: its model FLOPs (from the lengths,
 * run_cell_flop's source: layout_estimate and model_flops) at the TFLOP/s its row in a results
 * CSV (--rates) measured, or that strategy's median TFLOP/s over the file where the cell is not
 * there (a strategy the file never ran: the best of the others' medians); its steps' times then
 * go through measure_run itself, the warm-up included, with that row's noise (IQR / median) as
 * alternating samples, so the estimate counts the steps the rule would take; --warmup auto is
 * decided as the run decides it (measure.h WarmupAuto), cell after cell in the run order. Plus
 * --overhead seconds per strategy and cell (layout, prepare: not steps). Cells in the run order
 * (run_order), with the time at which each would be done.
 */
#ifndef PB_ESTIMATE_H
#define PB_ESTIMATE_H

#include <stdio.h>

#include "cli.h"
#include "measure.h"

// Seconds per strategy and cell that are not steps, by default. At d78e661 on the H200 the
// progress lines less the steps give 0.2-0.5 s per strategy and cell (results/runs/
// profile_d78e661.txt, system_shard0of5_d78e661.csv: 512x512 0.2 s, the system cells 0.33 and
// 0.5 s; layout, plan, arena, cuDNN graphs); at d69a914 the grid's wall clock less its steps
// came to 2.1 s (53 GPU-minutes for 46.5 of steps; the allocator then held every buffer at once).
#define PB_ESTIMATE_OVERHEAD_S 0.5

// What a warm-up costs beyond a step (plans, first launches) where the rates row does not say
// (S_warmup_ms - S_min_ms, recorded since the stopping rule): an assumption, not a measurement.
#define PB_ESTIMATE_WARMUP_EXCESS_MS 20.0

// One strategy of one cell under the rule: step time t_ms, relative noise (IQR / median, 0:
// quiet), each warm-up step t_ms + excess_ms. *steps: steps run (warm-up included); returns
// their summed seconds.
double estimate_strategy_s(const MeasureConfig *mc, double t_ms, double noise, double excess_ms, int *steps);

// The whole command. Exit status as bench_main's (2: bad input, one line on stderr).
int estimate_main(const CliOptions *o, FILE *out);

#endif
