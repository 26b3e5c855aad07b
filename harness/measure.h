/*
 * measure.h: how one step is timed (DESIGN.md section 4, nvbench's stdrel criterion in
 * spirit). One untimed warm-up step first (cuBLASLt plans are made in the first run, where
 * --gemm-select timed also times its candidates; first launches; the clock after the
 * untimed prepare), its time kept apart (warmup_ms: what the one-time work cost). Then timed
 * steps until the stopping rule holds:
 *
 *   stop when  reps >= max_reps
 *          or  elapsed >= max_time (at least one timed step)
 *          or  reps >= min_reps, elapsed >= min_time and IQR / median <= noise (2 steps at least;
             noise 0: no target, the old rule of min_reps and min_time alone)
 *
 * elapsed is the timed steps' time (the larger of their sum and the wall clock since the first
 * one began). A quiet step stops at min_reps; a noisy one runs to max_reps or max_time, and
 * stop says which limit ended it. The statistics are pure functions of the samples, and the
 * loop takes its steps through a function pointer, so both are testable without a device.
 */
#ifndef PB_MEASURE_H
#define PB_MEASURE_H

#include <signal.h>
#include <stddef.h>

#include "../core/status.h"

typedef struct MeasureConfig {
    int warmup;        // untimed steps first (0: the first step is timed; only --warmup auto decides so)
    int warmup_auto;   // --warmup auto: the run decides per strategy and cell (WarmupAuto below)
    int min_reps;      // default 3
    int max_reps;      // default 100
    double noise;      // IQR / median to reach, default 0.01; 0: no target (min_reps and min_time alone)
    double min_time;   // seconds, default 1
    double max_time;   // seconds, default 10
} MeasureConfig;

// Why the timed loop ended (MEASURE_STOP_NONE: it did not run).
typedef enum MeasureStop {
    MEASURE_STOP_NONE, MEASURE_STOP_NOISE, MEASURE_STOP_MAX_REPS, MEASURE_STOP_MAX_TIME, MEASURE_STOP_INTERRUPTED
} MeasureStop;

typedef struct MeasureStats {
    int reps;
    double median_ms, min_ms, max_ms, mean_ms;
    double q1_ms, q3_ms, iqr_ms; // quartiles, linear interpolation between order statistics
    double rel_iqr;              // iqr / median; NaN below two samples (no spread is known)
    double warmup_ms;            // the first warm-up step's time (NaN: none ran)
    MeasureStop stop;
    int stopped_at_max_time;     // 1: --max-time ended the loop before the rule held (nvbench's "timeout")
} MeasureStats;

void measure_defaults(MeasureConfig *c);
// Command-line or sweep-file overrides onto c: an argument < 0 keeps c's value. Then
// max_reps >= min_reps and max_time >= min_time.
void measure_override(MeasureConfig *c, int min_reps, int max_reps, double noise, double min_time, double max_time);
// "warmup=1 (or auto) min_reps=3 max_reps=100 noise=0.01 min_time=1s max_time=10s" (for the CSV: no
// comma, so the field is never quoted).
void measure_rule_text(const MeasureConfig *c, char *buf, size_t len);
// "noise", "max_reps", "max_time", "interrupted" ("" for MEASURE_STOP_NONE).
const char *measure_stop_name(MeasureStop s);

// Statistics of n > 0 samples (the array is not modified). 0, or -1 when n == 0.
int measure_stats(const double *ms, size_t n, MeasureStats *out);

// The rule after reps samples and elapsed seconds: MEASURE_STOP_NONE (another rep is due) or
// what ends the loop.
MeasureStop measure_rule(const MeasureConfig *c, const double *samples, int reps, double elapsed_s);

// One step: its time in ms and its loss. timed: 0 for a warm-up step, 1 for a recorded one.
typedef PbStatus (*MeasureStepFn)(void *ctx, int timed, double *ms, double *loss, char *err, size_t errlen);

/*
 * Warm-up, then the timed loop. *loss: the warm-up step's loss (the one checked across
 * strategies). samples: room for c->max_reps values. stop (may be NULL): checked before and
 * after every step, warm-up included (SIGINT): the loop ends after the current step and that
 * step's time is dropped (out->reps may then be 0, with PB_OK: the caller drops the cell).
 * Returns PB_OK or the step's status.
 */
PbStatus measure_run(const MeasureConfig *c, MeasureStepFn step, void *ctx, double *samples,
                     MeasureStats *out, double *loss, const volatile sig_atomic_t *stop,
                     char *err, size_t errlen);

/*
 * --warmup auto: a strategy's separate warm-up is skipped, and its first step timed, only where
 * this sweep has measured the warm-up's one-time work (warm-up time less the fastest timed step)
 * in at least WARMUP_AUTO_SEEN earlier cells of that strategy (cells run cheapest first), and the
 * largest of it is at most WARMUP_AUTO_SHARE of the noise target of the step's predicted time
 * (its FLOPs at the strategy's last TFLOP/s). So long steps, where plans and first launches
 * weigh nothing, are not run twice; where the one-time work grows with the shapes (e.g.
 * --gemm-select timed) nothing is skipped. Never without a noise target.
 * The process's first step always has a warm-up, and that warm-up is not counted as a cell's
 * one-time work (its rate is): it also pays for the process's first launches (module loading,
 * library handles), 81-113 ms at the first cell of each of the five processes behind
 * results/nll_2_qwen7b.csv against at most 31 ms for any later warm-up, and it would keep that
 * strategy's warm-up on every cell. With --resume the rows already in the file are earlier
 * cells of the same sweep: they are counted first (warmup_auto_seed), each row's warmup_first
 * strategy by its rate only, so a resumed sweep skips what one process would have skipped.
 */
#define WARMUP_AUTO_SEEN 3
#define WARMUP_AUTO_SHARE 0.25
typedef struct WarmupAuto {
    int seen;            // warm-ups counted
    int timed;           // timings in this process
    double max_excess_ms, last_tflops;
} WarmupAuto;
// 1: skip the warm-up of strategy st's step of flop model FLOPs; all holds every strategy's
// record (n of them), so the process's first step is known.
int warmup_auto_skip(const WarmupAuto *all, int n, int st, double noise, double flop);
// After strategy st's timing in this process: warmup_ms (NaN when skipped), its fastest step and
// TFLOP/s. Returns 1 when it was the process's first timing (its warm-up not counted).
int warmup_auto_seen(WarmupAuto *all, int n, int st, double warmup_ms, double min_ms, double tflops);
// A timing of an earlier process (a row --resume keeps): counted as warmup_auto_seen would,
// except that process_first (the row's warmup_first is this strategy) gives the rate only.
void warmup_auto_seed(WarmupAuto *w, double warmup_ms, double min_ms, double tflops, int process_first);

#endif
