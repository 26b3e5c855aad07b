// measure.c: warm-up, adaptive repetition and median / min / IQR (see measure.h).
#include "measure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void measure_defaults(MeasureConfig *c) {
    c->warmup = 1;
    c->min_reps = 3;
    c->max_reps = 1000;
    c->min_time = 1.0;
    c->max_time = 30.0;
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
    free(s);
    return 0;
}

int measure_more(const MeasureConfig *c, int reps, double elapsed_s) {
    if (reps >= c->max_reps) return 0;
    if (reps > 0 && elapsed_s >= c->max_time) return 0;
    return reps < c->min_reps || elapsed_s < c->min_time;
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
    double ms, l;
    for (int i = 0; i < (c->warmup > 0 ? c->warmup : 1); i++) {
        if (stop && *stop) return PB_OK; // stopped before it began: no samples (out stays empty)
        PbStatus rc = step(ctx, 0, &ms, &l, err, errlen);
        if (rc != PB_OK) return rc;
        if (i == 0) *loss = l;
    }
    int reps = 0;
    double summed = 0, t0 = now_s();
    while (!(stop && *stop) && measure_more(c, reps, elapsed_s(summed, t0))) {
        PbStatus rc = step(ctx, 1, &ms, &l, err, errlen);
        if (rc != PB_OK) return rc;
        if (stop && *stop) break; // the stop came during this step: its time is dropped
        samples[reps++] = ms;
        summed += ms * 1e-3;
    }
    int stopped = stop && *stop;
    if (stopped && reps == 0) return PB_OK; // interrupted: out stays empty, the caller drops the cell
    if (measure_stats(samples, (size_t)reps, out)) {
        snprintf(err, errlen, "measure: no timed step (out of host memory?)");
        return PB_ERROR;
    }
    double elapsed = elapsed_s(summed, t0);
    out->stopped_at_max_time = !stopped && reps < c->max_reps && elapsed >= c->max_time &&
                               (reps < c->min_reps || elapsed < c->min_time);
    return PB_OK;
}
