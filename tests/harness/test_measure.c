/*
 * test_measure.c: the measurement statistics and the stopping rule without a device, the
 * samples injected through the step function: median, min, IQR and IQR / median of known
 * samples; the warm-up not recorded but its time kept; quiet samples stop at min_reps, noisy
 * ones run to max_reps (or to max_time, then reported as stopped there); min_time still holds;
 * one timed step past max_time; a stop request; a step error passed through.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../harness/measure.h"
#include "../test_util.h"

// A step whose timed samples come from a list (cycled); the warm-up takes warm_ms.
typedef struct Fake {
    int calls;
    double warm_ms;
    const double *ms; int n_ms;
    int fail_at;
    int no_warmup; // 1: every call is timed
    volatile sig_atomic_t *stop_at_call; int stop_call;
} Fake;

static PbStatus fake_step(void *ctx, int timed, double *ms, double *loss, char *err, size_t errlen) {
    Fake *f = ctx;
    f->calls++;
    if (timed != (f->no_warmup || f->calls > 1)) { snprintf(err, errlen, "timed %d at call %d", timed, f->calls); return PB_ERROR; }
    if (f->fail_at && f->calls == f->fail_at) { snprintf(err, errlen, "boom"); return PB_DEVICE_ERROR; }
    if (f->stop_at_call && f->calls == f->stop_call) *f->stop_at_call = 1;
    int k = f->calls - 1 - !f->no_warmup; // the timed step's index
    *ms = k < 0 ? f->warm_ms : f->ms[k % f->n_ms]; // the warm-up must not be recorded
    *loss = 3.5 + f->calls;
    return PB_OK;
}

static const double quiet[] = { 100.0, 100.2, 99.9, 100.1 };      // IQR / median about 0.1%
static const double noisy[] = { 100.0, 112.0, 95.0, 108.0, 91.0 }; // about 13%
static const double flat[] = { 125.0 };

int main(void) {
    MeasureStats st;
    double s1[] = { 5, 1, 4, 2, 3 };
    CHECK(measure_stats(s1, 5, &st) == 0, "stats");
    CHECK(st.median_ms == 3 && st.min_ms == 1 && st.max_ms == 5 && st.q1_ms == 2 && st.q3_ms == 4 && st.iqr_ms == 2 &&
          st.mean_ms == 3 && st.reps == 5 && fabs(st.rel_iqr - 2.0 / 3.0) < 1e-15, "odd: median %g q1 %g q3 %g rel %g",
          st.median_ms, st.q1_ms, st.q3_ms, st.rel_iqr);
    CHECK(s1[0] == 5 && s1[1] == 1, "samples modified");
    double s2[] = { 4, 1, 3, 2 };
    measure_stats(s2, 4, &st);
    CHECK(st.median_ms == 2.5 && fabs(st.q1_ms - 1.75) < 1e-12 && fabs(st.q3_ms - 3.25) < 1e-12 && fabs(st.iqr_ms - 1.5) < 1e-12,
          "even: median %g q1 %g q3 %g", st.median_ms, st.q1_ms, st.q3_ms);
    double s3[] = { 7 };
    measure_stats(s3, 1, &st);
    CHECK(st.median_ms == 7 && st.iqr_ms == 0 && isnan(st.rel_iqr), "single: no spread known (rel %g)", st.rel_iqr);
    CHECK(measure_stats(s3, 0, &st) == -1, "empty accepted");

    MeasureConfig c;
    measure_defaults(&c);
    CHECK(c.warmup == 1 && c.min_reps == 3 && c.max_reps == 100 && c.noise == 0.01 && c.min_time == 1.0 &&
          c.max_time == 10.0, "defaults");
    char rule[128];
    measure_rule_text(&c, rule, sizeof rule);
    CHECK(!strcmp(rule, "warmup=1 min_reps=3 max_reps=100 noise=0.01 min_time=1s max_time=10s"), "rule text: %s", rule);
    MeasureConfig o = c;
    measure_override(&o, 5, 2, 0.02, -1, 0.5); // max below min is raised to it
    CHECK(o.min_reps == 5 && o.max_reps == 5 && o.noise == 0.02 && o.min_time == 1.0 && o.max_time == 1.0, "override");

    // the rule itself, on given samples
    CHECK(measure_rule(&c, quiet, 2, 5) == MEASURE_STOP_NONE, "rule: below min_reps");
    CHECK(measure_rule(&c, quiet, 3, 0.5) == MEASURE_STOP_NONE, "rule: below min_time");
    CHECK(measure_rule(&c, quiet, 3, 1.0) == MEASURE_STOP_NOISE, "rule: quiet at min_reps");
    CHECK(measure_rule(&c, noisy, 5, 1.0) == MEASURE_STOP_NONE, "rule: noisy goes on");
    CHECK(measure_rule(&c, noisy, 5, 10.0) == MEASURE_STOP_MAX_TIME, "rule: max_time caps a noisy run");
    CHECK(measure_rule(&c, quiet, 1, 10.0) == MEASURE_STOP_MAX_TIME, "rule: max_time caps below min_reps");
    CHECK(measure_rule(&c, quiet, 0, 50.0) == MEASURE_STOP_NONE, "rule: one timed step at least");
    MeasureConfig z = c;
    z.noise = 0;
    z.min_time = 0;
    CHECK(measure_rule(&z, noisy, 3, 1) == MEASURE_STOP_NOISE, "rule: noise 0 is no target");
    z.noise = 0.5;
    CHECK(measure_rule(&z, flat, 1, 1) == MEASURE_STOP_NONE, "rule: one sample is no noise figure");
    z.min_reps = 1;
    CHECK(measure_rule(&z, quiet, 1, 1) == MEASURE_STOP_NONE && measure_rule(&z, quiet, 2, 1) == MEASURE_STOP_NOISE,
          "rule: two samples at least for a noise figure");

    double samples[1000], loss = 0;
    char err[64];
    c.min_time = 0;
    Fake q = { .warm_ms = 1000, .ms = quiet, .n_ms = 4 }; // quiet: stops at min_reps
    CHECK(measure_run(&c, fake_step, &q, samples, &st, &loss, NULL, err, sizeof err) == 0, "run");
    CHECK(st.reps == 3 && q.calls == 4 && st.stop == MEASURE_STOP_NOISE && !st.stopped_at_max_time && st.rel_iqr <= 0.01,
          "quiet: reps %d calls %d stop %s noise %g", st.reps, q.calls, measure_stop_name(st.stop), st.rel_iqr);
    CHECK(st.max_ms < 1000 && st.warmup_ms == 1000, "warm-up recorded as a sample, or its time lost: %g", st.warmup_ms);
    CHECK(loss == 4.5, "loss is the warm-up's: %g", loss);

    MeasureConfig r = c;
    r.max_reps = 20; // noisy 100 ms steps: max_reps (20) before max_time (10 s)
    Fake n = { .warm_ms = 100, .ms = noisy, .n_ms = 5 };
    measure_run(&r, fake_step, &n, samples, &st, &loss, NULL, err, sizeof err);
    CHECK(st.reps == 20 && st.stop == MEASURE_STOP_MAX_REPS && !st.stopped_at_max_time && st.rel_iqr > 0.01,
          "noisy: reps %d stop %s noise %g", st.reps, measure_stop_name(st.stop), st.rel_iqr);

    MeasureConfig t = c;
    t.max_time = 1.0; // noisy 100 ms steps, 1 s: max_time first, reported
    Fake n2 = { .warm_ms = 100, .ms = noisy, .n_ms = 5 };
    measure_run(&t, fake_step, &n2, samples, &st, &loss, NULL, err, sizeof err);
    CHECK(st.reps == 10 && st.stop == MEASURE_STOP_MAX_TIME && st.stopped_at_max_time, "noisy, max_time: reps %d stop %s",
          st.reps, measure_stop_name(st.stop));

    MeasureConfig mt = c;
    mt.min_time = 1.0; // quiet 125 ms steps: min_time 1 s needs 8 reps
    Fake f = { .warm_ms = 1000, .ms = flat, .n_ms = 1 };
    measure_run(&mt, fake_step, &f, samples, &st, &loss, NULL, err, sizeof err);
    CHECK(st.reps == 8 && f.calls == 9 && st.median_ms == 125 && st.stop == MEASURE_STOP_NOISE, "min_time: reps %d calls %d",
          st.reps, f.calls);

    const double long_step[] = { 70000 }; // a 70 s step: one timed step, then max_time (10 s) ends it
    Fake u = { .warm_ms = 71000, .ms = long_step, .n_ms = 1 };
    CHECK(measure_run(&c, fake_step, &u, samples, &st, &loss, NULL, err, sizeof err) == PB_OK, "run: %s", err);
    CHECK(st.reps == 1 && u.calls == 2 && st.stopped_at_max_time && isnan(st.rel_iqr), "long step: reps %d calls %d",
          st.reps, u.calls);

    volatile sig_atomic_t stop = 0;
    Fake k = { .ms = noisy, .n_ms = 5, .stop_at_call = &stop, .stop_call = 3 };
    measure_run(&c, fake_step, &k, samples, &st, &loss, &stop, err, sizeof err);
    CHECK(st.reps == 1 && k.calls == 3 && !st.stopped_at_max_time && st.stop == MEASURE_STOP_INTERRUPTED,
          "stop in a timed step: reps %d calls %d (that step is dropped)", st.reps, k.calls);
    // issue 15 case 10: a stop during the warm-up ends there (on main the warm-up and one
    // timed step ran: a 300 s step meant a 10-minute wait)
    stop = 0;
    Fake w = { .ms = flat, .n_ms = 1, .stop_at_call = &stop, .stop_call = 1 };
    CHECK(measure_run(&c, fake_step, &w, samples, &st, &loss, &stop, err, sizeof err) == 0 && w.calls == 1 && st.reps == 0,
          "stop in the warm-up: calls %d reps %d", w.calls, st.reps);
    Fake zz = { .ms = flat, .n_ms = 1 };
    CHECK(measure_run(&c, fake_step, &zz, samples, &st, &loss, &stop, err, sizeof err) == 0 && zz.calls == 0,
          "stopped before: %d steps ran", zz.calls);

    // --warmup 0 (what --warmup auto decides for a long step): the first step is timed and gives the loss
    MeasureConfig nw = c;
    nw.warmup = 0;
    Fake v = { .ms = long_step, .n_ms = 1, .no_warmup = 1 };
    CHECK(measure_run(&nw, fake_step, &v, samples, &st, &loss, NULL, err, sizeof err) == PB_OK, "no warm-up: %s", err);
    CHECK(v.calls == 1 && st.reps == 1 && isnan(st.warmup_ms) && loss == 4.5 && st.median_ms == 70000,
          "no warm-up: calls %d reps %d loss %g", v.calls, st.reps, loss);

    // --warmup auto's decision: three cells seen, the largest excess (warm-up - fastest step) at
    // most a quarter of the noise target of the predicted step (flop at the last TFLOP/s); the
    // process's first step always warms up, and its warm-up (whichever strategy) gives its rate only
    WarmupAuto all[2] = {{0}}, *wa = &all[0];
    CHECK(!warmup_auto_skip(all, 2, 0, 0.01, 1e15), "auto: skipped before any cell was seen");
    CHECK(warmup_auto_seen(all, 2, 1, 400, 100, 300) == 1, "auto: the process's first timing not reported"); // 300 ms
    CHECK(all[1].seen == 0 && all[1].last_tflops == 300, "auto: the process's first warm-up counted (seen %d)", all[1].seen);
    CHECK(warmup_auto_seen(all, 2, 1, 150, 100, 300) == 0, "auto: a second timing reported as the first"); // counted
    CHECK(all[1].seen == 1 && all[1].max_excess_ms == 50, "auto: strategy 1 seen %d, max %g", all[1].seen, all[1].max_excess_ms);
    warmup_auto_seen(all, 2, 0, 130, 100, 500);   // strategy 0's first, not the process's: 30 ms
    warmup_auto_seen(all, 2, 0, 1010, 1000, 500); // 10 ms
    CHECK(!warmup_auto_skip(all, 2, 0, 0.01, 1e16), "auto: skipped after two cells");
    warmup_auto_seen(all, 2, 0, NAN, 900, 400);   // a cell without a warm-up: the rate only
    CHECK(wa->seen == 2 && wa->last_tflops == 400, "auto: a skipped warm-up counted as seen");
    warmup_auto_seen(all, 2, 0, 2020, 2000, 500); // 20 ms; largest 30
    CHECK(wa->seen == 3 && wa->max_excess_ms == 30, "auto: seen %d, max excess %g", wa->seen, wa->max_excess_ms);
    // 30 ms <= 0.25 * 0.01 * t: t >= 12 s, i.e. 6e15 FLOPs at 500 TFLOP/s
    CHECK(warmup_auto_skip(all, 2, 0, 0.01, 6.01e15) && !warmup_auto_skip(all, 2, 0, 0.01, 5.99e15), "auto: the 12 s boundary");
    CHECK(!warmup_auto_skip(all, 2, 0, 0, 1e18), "auto: skipped without a noise target");
    // a later process seeded from the rows --resume keeps: three warm-ups of 30, 10, 20 ms (one
    // row's 500 ms opened its process: rate only); its own first step still warms up
    WarmupAuto next[2] = {{0}};
    warmup_auto_seed(&next[0], 600, 100, 450, 1);
    warmup_auto_seed(&next[0], 130, 100, 500, 0);
    warmup_auto_seed(&next[0], 1010, 1000, 500, 0);
    warmup_auto_seed(&next[0], 2020, 2000, 500, 0);
    CHECK(next[0].seen == 3 && next[0].max_excess_ms == 30 && next[0].timed == 0, "seed: seen %d max %g timed %d",
          next[0].seen, next[0].max_excess_ms, next[0].timed);
    CHECK(!warmup_auto_skip(next, 2, 0, 0.01, 1e18), "seed: the process's first step skipped its warm-up");
    CHECK(warmup_auto_seen(next, 2, 1, 200, 100, 300) == 1, "seed: the process's first timing not reported");
    CHECK(next[1].seen == 0, "seed: the new process's first warm-up counted");
    CHECK(warmup_auto_skip(next, 2, 0, 0.01, 6.01e15) && !warmup_auto_skip(next, 2, 0, 0.01, 5.99e15),
          "seed: the 12 s boundary after the seeded rows");
    MeasureConfig ac = c;
    ac.warmup_auto = 1;
    measure_rule_text(&ac, rule, sizeof rule);
    CHECK(!strncmp(rule, "warmup=auto ", 12), "auto rule text: %s", rule);

    Fake e = { .ms = noisy, .n_ms = 5, .fail_at = 4 };
    CHECK(measure_run(&c, fake_step, &e, samples, &st, &loss, NULL, err, sizeof err) == PB_DEVICE_ERROR, "error not passed through");
    printf("test_measure: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
