/*
 * test_measure.c: the measurement statistics and loop without a device: median, min, IQR of
 * known samples; warm-up not recorded; the loop stops at min_reps and min_time, at max_time,
 * at max_reps, on a stop request, and passes a step error through; stopped_at_max_time is set
 * exactly when max_time ended the loop before min_reps or min_time were reached.
 */
#include <math.h>
#include <stdio.h>

#include "../../harness/measure.h"
#include "../test_util.h"



typedef struct Fake { int calls; double ms; int fail_at; volatile sig_atomic_t *stop_at_call; int stop_call; } Fake;

static PbStatus fake_step(void *ctx, int timed, double *ms, double *loss, char *err, size_t errlen) {
    Fake *f = ctx;
    f->calls++;
    if (timed != (f->calls > 1)) { snprintf(err, errlen, "timed %d at call %d", timed, f->calls); return PB_ERROR; }
    if (f->fail_at && f->calls == f->fail_at) { snprintf(err, errlen, "boom"); return PB_DEVICE_ERROR; }
    if (f->stop_at_call && f->calls == f->stop_call) *f->stop_at_call = 1;
    *ms = f->calls == 1 ? 1000.0 : f->ms; // the warm-up is slow and must not be recorded
    *loss = 3.5 + f->calls;
    return PB_OK;
}

int main(void) {
    MeasureStats st;
    double s1[] = { 5, 1, 4, 2, 3 };
    CHECK(measure_stats(s1, 5, &st) == 0, "stats");
    CHECK(st.median_ms == 3 && st.min_ms == 1 && st.max_ms == 5 && st.q1_ms == 2 && st.q3_ms == 4 && st.iqr_ms == 2 &&
          st.mean_ms == 3 && st.reps == 5, "odd: median %g q1 %g q3 %g", st.median_ms, st.q1_ms, st.q3_ms);
    CHECK(s1[0] == 5 && s1[1] == 1, "samples modified");
    double s2[] = { 4, 1, 3, 2 };
    measure_stats(s2, 4, &st);
    CHECK(st.median_ms == 2.5 && fabs(st.q1_ms - 1.75) < 1e-12 && fabs(st.q3_ms - 3.25) < 1e-12 && fabs(st.iqr_ms - 1.5) < 1e-12,
          "even: median %g q1 %g q3 %g", st.median_ms, st.q1_ms, st.q3_ms);
    double s3[] = { 7 };
    measure_stats(s3, 1, &st);
    CHECK(st.median_ms == 7 && st.iqr_ms == 0, "single");
    CHECK(measure_stats(s3, 0, &st) == -1, "empty accepted");

    MeasureConfig c;
    measure_defaults(&c);
    CHECK(c.warmup >= 1 && c.min_reps == 3 && c.min_time == 1.0 && c.max_time == 30.0, "defaults");
    CHECK(measure_more(&c, 0, 0) && measure_more(&c, 2, 5) && measure_more(&c, 3, 0.5), "more: below a minimum");
    CHECK(!measure_more(&c, 3, 1.0), "more: both minimums reached");
    CHECK(!measure_more(&c, 1, 31), "more: max_time caps");
    CHECK(!measure_more(&c, c.max_reps, 0), "more: max_reps caps");

    double samples[1000], loss = 0;
    char err[64];
    Fake f = { .ms = 125 }; // 125 ms steps: min_time 1 s needs 8 reps
    CHECK(measure_run(&c, fake_step, &f, samples, &st, &loss, NULL, err, sizeof err) == 0, "run");
    CHECK(st.reps == 8 && f.calls == 9 && st.median_ms == 125 && st.max_ms == 125, "reps %d calls %d max %g", st.reps, f.calls, st.max_ms);
    CHECK(loss == 4.5, "loss is the warm-up's: %g", loss);
    CHECK(!st.stopped_at_max_time, "minimums reached, yet reported as stopped at max_time");

    Fake g = { .ms = 2000 }; // slow steps: min_reps wins over min_time
    measure_run(&c, fake_step, &g, samples, &st, &loss, NULL, err, sizeof err);
    CHECK(st.reps == 3 && !st.stopped_at_max_time, "slow: reps %d, stopped at max_time %d", st.reps,
          st.stopped_at_max_time);

    Fake u = { .ms = 20000 }; // 20 s steps: max_time (30 s) ends the loop before min_reps
    CHECK(measure_run(&c, fake_step, &u, samples, &st, &loss, NULL, err, sizeof err) == PB_OK, "run: %s", err);
    CHECK(st.reps == 2 && st.stopped_at_max_time, "cut short: reps %d, stopped at max_time %d", st.reps,
          st.stopped_at_max_time);

    c.max_time = 5;
    c.min_time = 100;
    Fake h = { .ms = 1000 }; // max_time caps
    measure_run(&c, fake_step, &h, samples, &st, &loss, NULL, err, sizeof err);
    CHECK(st.reps == 5 && st.stopped_at_max_time, "capped before min_time: reps %d, stopped at max_time %d",
          st.reps, st.stopped_at_max_time);

    volatile sig_atomic_t stop = 0;
    Fake k = { .ms = 1, .stop_at_call = &stop, .stop_call = 3 };
    measure_run(&c, fake_step, &k, samples, &st, &loss, &stop, err, sizeof err);
    CHECK(st.reps == 1 && k.calls == 3 && !st.stopped_at_max_time, "stop in a timed step: reps %d calls %d (that step is dropped)", st.reps, k.calls);
    // issue 15 case 10: a stop during the warm-up ends there (on main the warm-up and one
    // timed step ran: a 300 s step meant a 10-minute wait)
    stop = 0;
    Fake w = { .ms = 1, .stop_at_call = &stop, .stop_call = 1 };
    CHECK(measure_run(&c, fake_step, &w, samples, &st, &loss, &stop, err, sizeof err) == 0 && w.calls == 1 && st.reps == 0,
          "stop in the warm-up: calls %d reps %d", w.calls, st.reps);
    Fake z = { .ms = 1 };
    CHECK(measure_run(&c, fake_step, &z, samples, &st, &loss, &stop, err, sizeof err) == 0 && z.calls == 0,
          "stopped before: %d steps ran", z.calls);

    Fake e = { .ms = 1, .fail_at = 4 };
    CHECK(measure_run(&c, fake_step, &e, samples, &st, &loss, NULL, err, sizeof err) == PB_DEVICE_ERROR, "error not passed through");
    printf("test_measure: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
