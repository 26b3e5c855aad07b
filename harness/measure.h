/*
 * measure.h: how one step is timed (DESIGN.md section 4, nvbench style). Warm-up steps first
 * (not recorded: plans, heuristics, first touch), then steps until both min_reps and min_time
 * are reached, capped by max_time and max_reps. The statistics are pure functions of the
 * samples, testable without a device.
 */
#ifndef PB_MEASURE_H
#define PB_MEASURE_H

#include <signal.h>
#include <stddef.h>

#include "../core/status.h"

typedef struct MeasureConfig {
    int warmup;        // >= 1
    int min_reps;      // default 3
    int max_reps;      // default 1000
    double min_time;   // seconds, default 1
    double max_time;   // seconds, default 30
} MeasureConfig;

typedef struct MeasureStats {
    int reps;
    double median_ms, min_ms, max_ms, mean_ms;
    double q1_ms, q3_ms, iqr_ms; // quartiles, linear interpolation between order statistics
    int stopped_at_max_time;     // 1: --max-time ended the loop before min_reps were reached (nvbench's "timeout")
} MeasureStats;

void measure_defaults(MeasureConfig *c);

// Statistics of n > 0 samples (the array is not modified). 0, or -1 when n == 0.
int measure_stats(const double *ms, size_t n, MeasureStats *out);

// Whether another rep is due after reps samples and elapsed seconds.
int measure_more(const MeasureConfig *c, int reps, double elapsed_s);

// One step: its time in ms and its loss. timed: 0 for a warm-up step, 1 for a recorded one.
typedef PbStatus (*MeasureStepFn)(void *ctx, int timed, double *ms, double *loss, char *err, size_t errlen);

/*
 * Warm-up, then the timed loop. *loss: the warm-up step's loss (the one checked across
 * strategies). samples: room for c->max_reps values. stop (may be NULL): checked before and
 * after every step, warm-up included (SIGINT): the loop ends after the current step and that
 * step's time is dropped (out->reps may then be 0, with PB_OK: the caller drops the cell).
 * Elapsed time is the larger of the summed step times and the wall clock. Returns PB_OK or the
 * step's status.
 */
PbStatus measure_run(const MeasureConfig *c, MeasureStepFn step, void *ctx, double *samples,
                     MeasureStats *out, double *loss, const volatile sig_atomic_t *stop,
                     char *err, size_t errlen);

#endif
