/*
 * test_estimate.c: the estimate's count of steps under the stopping rule (estimate.h), on
 * steps of known length and noise: a quiet short step runs until min_time, a quiet 2 s step
 * stops at min_reps, a noisy one runs to max_reps or max_time, a 70 s step is timed once after
 * its warm-up; every count includes the one warm-up step.
 */
#include <math.h>
#include <stdio.h>

#include "../../harness/estimate.h"
#include "../test_util.h"

int main(void) {
    MeasureConfig c;
    measure_defaults(&c); // warmup 1, min_reps 3, max_reps 100, noise 0.01, min_time 1 s, max_time 10 s
    int steps;
    double s = estimate_strategy_s(&c, 125, 0, 0, &steps);
    CHECK(steps == 9 && fabs(s - 1.125) < 1e-9, "quiet 125 ms: %d steps, %g s (want warm-up + 8 for min_time)", steps, s);
    s = estimate_strategy_s(&c, 2000, 0.002, 0, &steps);
    CHECK(steps == 4 && fabs(s - 8.0) < 0.01, "quiet 2 s: %d steps, %g s (want warm-up + 3)", steps, s);
    s = estimate_strategy_s(&c, 2000, 0.05, 0, &steps);
    CHECK(steps == 7 && fabs(s - 14.0) < 0.1, "noisy 2 s: %d steps, %g s (want warm-up + 6: 5 make 9.95 s, under max_time)",
          steps, s);
    s = estimate_strategy_s(&c, 50, 0.05, 0, &steps);
    CHECK(steps == 101 && fabs(s - 5.05) < 0.01, "noisy 50 ms: %d steps, %g s (want warm-up + 100, max_reps)", steps, s);
    s = estimate_strategy_s(&c, 70000, 0, 0, &steps);
    CHECK(steps == 2 && fabs(s - 140.0) < 1e-9, "70 s: %d steps, %g s (want warm-up + 1)", steps, s);
    c.noise = 0.1; // the same 5% noise is quiet for a 10% target
    s = estimate_strategy_s(&c, 2000, 0.05, 0, &steps);
    CHECK(steps == 4, "5%% noise, 10%% target: %d steps (want warm-up + 3)", steps);
    printf("test_estimate: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
