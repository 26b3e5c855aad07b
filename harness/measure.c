// measure.c: warm-up, the noise-based stopping rule and median / min / IQR (see measure.h).
#include "measure.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void measure_defaults(MeasureConfig *c) {
    c->warmup = 1;
    c->min_reps = 3;
    c->max_reps = 100;
    c->noise = 0.01;
    c->min_time = 1.0;
    c->max_time = 10.0;
}

void measure_override(MeasureConfig *c, int min_reps, int max_reps, double noise, double min_time, double max_time) {
    if (min_reps >= 0) c->min_reps = min_reps;
    if (max_reps >= 0) c->max_reps = max_reps;
    if (noise >= 0) c->noise = noise;
    if (min_time >= 0) c->min_time = min_time;
    if (max_time >= 0) c->max_time = max_time;
    if (c->max_reps < c->min_reps) c->max_reps = c->min_reps;
    if (c->max_time < c->min_time) c->max_time = c->min_time;
}

void measure_rule_text(const MeasureConfig *c, char *buf, size_t len) {
    char w[16] = "auto";
    if (!c->warmup_auto) snprintf(w, sizeof w, "%d", c->warmup);
    snprintf(buf, len, "warmup=%s min_reps=%d max_reps=%d noise=%g min_time=%gs max_time=%gs", w, c->min_reps,
             c->max_reps, c->noise, c->min_time, c->max_time);
}

const char *measure_stop_name(MeasureStop s) {
    static const char *const names[] = { "", "noise", "max_reps", "max_time", "interrupted" };
    return names[s];
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Quantile q of sorted samples, linear between order statistics (R type 7, NumPy default).
static double quantile_sorted(const double *s, size_t n, double q) {
    double h = q * (double)(n - 1);
    size_t i = (size_t)h;
    if (i + 1 >= n) return s[n - 1];
    return s[i] + (h - (double)i) * (s[i + 1] - s[i]);
}

int measure_stats(const double *ms, size_t n, MeasureStats *out) {
    memset(out, 0, sizeof *out);
    out->rel_iqr = out->warmup_ms = NAN;
    if (n == 0) return -1;
    double *s = malloc(n * sizeof *s);
    if (!s) return -1;
    memcpy(s, ms, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += s[i];
    out->reps = (int)n;
    out->min_ms = s[0];
    out->max_ms = s[n - 1];
    out->mean_ms = sum / (double)n;
    out->median_ms = quantile_sorted(s, n, 0.5);
    out->q1_ms = quantile_sorted(s, n, 0.25);
    out->q3_ms = quantile_sorted(s, n, 0.75);
    out->iqr_ms = out->q3_ms - out->q1_ms;
    if (n >= 2 && out->median_ms > 0) out->rel_iqr = out->iqr_ms / out->median_ms;
    free(s);
    return 0;
}

// The noise part of the rule: IQR / median of the samples at most the target (two samples at
// least; NaN, out of host memory, counts as not reached), or no target.
static int quiet(const MeasureConfig *c, const double *samples, int reps) {
    MeasureStats st;
    if (c->noise <= 0) return 1; // no noise target: min_reps and min_time alone
    if (reps < 2 || measure_stats(samples, (size_t)reps, &st)) return 0;
    return st.rel_iqr <= c->noise;
}

MeasureStop measure_rule(const MeasureConfig *c, const double *samples, int reps, double elapsed_s) {
    if (reps >= c->min_reps && elapsed_s >= c->min_time && quiet(c, samples, reps)) return MEASURE_STOP_NOISE;
    if (reps >= c->max_reps) return MEASURE_STOP_MAX_REPS;
    if (reps > 0 && elapsed_s >= c->max_time) return MEASURE_STOP_MAX_TIME;
    return MEASURE_STOP_NONE;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double elapsed_s(double summed, double t0) {
    double wall = now_s() - t0;
    return summed > wall ? summed : wall;
}

PbStatus measure_run(const MeasureConfig *c, MeasureStepFn step, void *ctx, double *samples,
                     MeasureStats *out, double *loss, const volatile sig_atomic_t *stop,
                     char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    out->rel_iqr = out->warmup_ms = NAN;
    double ms, l, warmup_ms = NAN;
    int first = 1; // the loss comes from the first step, warm-up or not
    for (int i = 0; i < c->warmup; i++) {
        if (stop && *stop) return PB_OK; // stopped before it began: no samples (out stays empty)
        PbStatus rc = step(ctx, 0, &ms, &l, err, errlen);
        if (rc != PB_OK) return rc;
        if (i == 0) { *loss = l; warmup_ms = ms; first = 0; }
    }
    int reps = 0;
    double summed = 0, t0 = now_s();
    MeasureStop why;
    while ((why = measure_rule(c, samples, reps, elapsed_s(summed, t0))) == MEASURE_STOP_NONE) {
        if (stop && *stop) { why = MEASURE_STOP_INTERRUPTED; break; }
        PbStatus rc = step(ctx, 1, &ms, &l, err, errlen);
        if (rc != PB_OK) return rc;
        if (stop && *stop) { why = MEASURE_STOP_INTERRUPTED; break; } // the stop came during this step: its time is dropped
        if (first) { *loss = l; first = 0; }
        samples[reps++] = ms;
        summed += ms * 1e-3;
    }
    if (why == MEASURE_STOP_INTERRUPTED && reps == 0) return PB_OK; // out stays empty, the caller drops the cell
    if (measure_stats(samples, (size_t)reps, out)) {
        snprintf(err, errlen, "measure: no timed step (out of host memory?)");
        return PB_ERROR;
    }
    out->warmup_ms = warmup_ms;
    out->stop = why;
    out->stopped_at_max_time = why == MEASURE_STOP_MAX_TIME;
    return PB_OK;
}

static int none_timed(const WarmupAuto *all, int n) {
    for (int i = 0; i < n; i++)
        if (all[i].timed) return 0;
    return 1;
}

int warmup_auto_skip(const WarmupAuto *all, int n, int st, double noise, double flop) {
    const WarmupAuto *w = &all[st];
    if (none_timed(all, n) || w->seen < WARMUP_AUTO_SEEN || !(noise > 0) || !(w->last_tflops > 0)) return 0;
    double predicted_ms = flop / (w->last_tflops * 1e12) * 1e3;
    return w->max_excess_ms <= WARMUP_AUTO_SHARE * noise * predicted_ms;
}

void warmup_auto_seed(WarmupAuto *w, double warmup_ms, double min_ms, double tflops, int process_first) {
    if (tflops > 0) w->last_tflops = tflops;
    if (process_first || !isfinite(warmup_ms) || !(min_ms > 0)) return;
    double excess = warmup_ms - min_ms;
    if (!w->seen++ || excess > w->max_excess_ms) w->max_excess_ms = excess;
}

int warmup_auto_seen(WarmupAuto *all, int n, int st, double warmup_ms, double min_ms, double tflops) {
    int first = none_timed(all, n);
    all[st].timed++;
    warmup_auto_seed(&all[st], warmup_ms, min_ms, tflops, first);
    return first;
}
