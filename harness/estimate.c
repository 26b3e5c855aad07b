// estimate.c: `bench estimate` (see estimate.h).
#include "estimate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "progress.h"
#include "quote.h"
#include "results.h"
#include "run.h"
#include "sweep.h"

// A step of the simulation: a warm-up takes t_ms + excess_ms; timed samples alternate
// t (1 - noise / 2), t (1 + noise / 2), whose IQR / median is about noise from four samples on.
typedef struct SimStep { double t_ms, noise, excess_ms; int timed; } SimStep;

static PbStatus sim_step(void *ctx, int timed, double *ms, double *loss, char *err, size_t errlen) {
    SimStep *s = ctx;
    (void)err; (void)errlen;
    *ms = timed ? s->t_ms * (1.0 + (s->timed++ % 2 ? 0.5 : -0.5) * s->noise) : s->t_ms + s->excess_ms;
    *loss = 0;
    return PB_OK;
}

double estimate_strategy_s(const MeasureConfig *mc, double t_ms, double noise, double excess_ms, int *steps) {
    double *samples = malloc((size_t)mc->max_reps * sizeof *samples), loss;
    SimStep sim = { t_ms, noise > 0 ? noise : 0, excess_ms > 0 ? excess_ms : 0, 0 };
    MeasureStats st;
    char err[64];
    *steps = 0;
    if (!samples || measure_run(mc, sim_step, &sim, samples, &st, &loss, NULL, err, sizeof err)) { free(samples); return NAN; }
    free(samples);
    *steps = mc->warmup + st.reps;
    return (mc->warmup * (t_ms + sim.excess_ms) + st.mean_ms * st.reps) * 1e-3;
}

// That strategy's median TFLOP/s over the rows that have one (0: none).
static double median_rate(const ResultRow *rows, size_t n, int st) {
    double *v = malloc((n ? n : 1) * sizeof *v), med = 0;
    size_t k = 0;
    for (size_t i = 0; v && i < n; i++) if (rows[i].s[st].tflops > 0) v[k++] = rows[i].s[st].tflops;
    MeasureStats ms;
    if (k && !measure_stats(v, k, &ms)) med = ms.median_ms; // the same median, of rates
    free(v);
    return med;
}

typedef struct Rates {
    const ResultRow *rows;
    size_t n;
    double fallback[STRATEGY_COUNT]; // per strategy: its median over the file
} Rates;

typedef struct CellEstimate { double s[STRATEGY_COUNT], warm_s[STRATEGY_COUNT], total; int steps[STRATEGY_COUNT], matched; } CellEstimate;

// One cell, its strategies' warm-ups decided as the run would (warm: per strategy, across the
// cells in run order). 0, or -1 with a line on stderr (no rate for a strategy).
static int estimate_cell(const ModelConfig *m, unsigned strategies, const MeasureConfig *mc, double overhead,
                         const Rates *rt, WarmupAuto warm[STRATEGY_COUNT], const Cell *c, CellEstimate *e) {
    ResultRow key;
    results_row_init(&key);
    if (cell_row_key(c, m->name, &key)) { results_row_free(&key); fprintf(stderr, "bench estimate: out of memory\n"); return -1; }
    const ResultRow *row = NULL;
    for (size_t i = 0; i < rt->n && !row; i++) if (results_same_cell(&rt->rows[i], &key)) row = &rt->rows[i];
    results_row_free(&key);
    memset(e, 0, sizeof *e);
    e->matched = row != NULL;
    for (int st = 0; st < STRATEGY_COUNT; st++) {
        if (!(strategies & (1u << st))) continue;
        double flop = run_cell_flop(m, 1u << st, c), rate = rt->fallback[st], noise = 0, excess = PB_ESTIMATE_WARMUP_EXCESS_MS;
        if (row && row->s[st].tflops > 0) {
            const StrategyResult *r = &row->s[st];
            rate = r->tflops;
            if (r->ms > 0 && r->iqr_ms >= 0) noise = r->iqr_ms / r->ms;
            // a warm-up that opened its process also paid for the process's first launches
            if (isfinite(r->warmup_ms) && r->min_ms > 0 && !results_warmup_opened(row, (Strategy)st))
                excess = r->warmup_ms - r->min_ms;
        }
        if (!(rate > 0)) {
            fprintf(stderr, "bench estimate: no TFLOP/s in the rates file for %s of cell %d (%d x %d) nor any other\n",
                    strategy_name((Strategy)st), c->index, c->prompt_len, c->completion_len);
            return -1;
        }
        double t_ms = flop / (rate * 1e12) * 1e3;
        MeasureConfig one = *mc;
        if (one.warmup_auto) one.warmup = warmup_auto_skip(warm, STRATEGY_COUNT, st, one.noise, flop) ? 0 : 1;
        e->s[st] = estimate_strategy_s(&one, t_ms, noise, excess, &e->steps[st]) + overhead;
        e->warm_s[st] = one.warmup * (t_ms + fmax(excess, 0)) * 1e-3;
        e->total += e->s[st];
        if (one.warmup_auto) warmup_auto_seen(warm, STRATEGY_COUNT, st, one.warmup ? t_ms + excess : NAN, t_ms * (1 - noise / 2), rate);
    }
    return 0;
}

static int read_rates(const char *path, ResultRow **rows, size_t *n) {
    char err[700];
    *rows = NULL;
    *n = 0;
    if (!path) { fprintf(stderr, "bench estimate: --rates FILE.csv needed (a results CSV: the TFLOP/s and noise per cell)\n"); return -1; }
    if (results_read(path, rows, n, err, sizeof err)) { fprintf(stderr, "bench estimate: %s\n", err); return -1; }
    return 0;
}

static void print_head(FILE *out, const ModelConfig *m, const MeasureConfig *mc, const char *rates, int n_cells,
                       double overhead) {
    char rule[128], shown[PB_QUOTE_BUF] = "none";
    measure_rule_text(mc, rule, sizeof rule);
    if (rates) pb_escape(rates, PB_QUOTE_PATH, shown, sizeof shown);
    fprintf(out, "estimate: %s, %d cells, one GPU; rule %s; rates from %s; %.3g s per strategy and cell besides its steps; "
            "a warm-up %.3g ms longer than a step where the file does not say\n\n", m->name, n_cells, rule, shown, overhead,
            PB_ESTIMATE_WARMUP_EXCESS_MS);
    fprintf(out, "| prompt | compl. |    padded s |    packed s |    prefix s |      tree s |  done at |\n"
                 "|-------:|-------:|------------:|------------:|------------:|------------:|---------:|\n");
}

// The cells in run order, each estimated and printed. Exit code.
static int estimate_cells(const CliOptions *o, const ModelConfig *m, const MeasureConfig *mc, double overhead,
                          const Rates *rt, const CellSource *cells, const int *order, FILE *out) {
    WarmupAuto warm[STRATEGY_COUNT] = {{0}};
    double at = 0, steps_s = 0, warm_s = 0;
    int matched = 0, skipped = 0, strategy_cells = 0;
    for (int k = 0; k < cells->n; k++) {
        Cell c;
        CellEstimate ce;
        if (cell_make(cells, order[k], &c)) { fprintf(stderr, "bench estimate: out of memory\n"); return PB_EXIT_FAILED; }
        int rc = estimate_cell(m, o->strategies, mc, overhead, rt, warm, &c, &ce);
        if (rc) { cell_free(&c); return PB_EXIT_USAGE; }
        char col[STRATEGY_COUNT][24], when[32];
        for (int st = 0; st < STRATEGY_COUNT; st++) {
            if (!(o->strategies & (1u << st))) { snprintf(col[st], sizeof col[st], "-"); continue; }
            snprintf(col[st], sizeof col[st], "%.1f (%d%s)", ce.s[st], ce.steps[st], ce.warm_s[st] > 0 ? "" : "*");
            steps_s += ce.s[st] - overhead;
            warm_s += ce.warm_s[st];
            skipped += !(ce.warm_s[st] > 0);
            strategy_cells++;
        }
        matched += ce.matched;
        at += ce.total;
        progress_duration(at, when, sizeof when);
        fprintf(out, "| %6d | %6d | %11s | %11s | %11s | %11s | %8s |\n", c.prompt_len, c.completion_len, col[0], col[1],
                col[2], col[3], when);
        cell_free(&c);
    }
    char total[32];
    progress_duration(at, total, sizeof total);
    fprintf(out, "\n(seconds per strategy, with the steps the rule runs, warm-up included; *: no warm-up, --warmup auto)\n"
                 "cells: %d of %d matched in the rates file; warm-up skipped for %d of %d strategy cells\n"
                 "total: %s on one GPU (%.1f min): steps %.1f min (of which %.1f min warm-up), other %.1f min\n",
            matched, cells->n, skipped, strategy_cells, total, at / 60, steps_s / 60, warm_s / 60, (at - steps_s) / 60);
    return PB_EXIT_OK;
}

int estimate_main(const CliOptions *o, FILE *out) {
    SweepConfig sw;
    ModelConfig m;
    CellSource cells;
    int rc = bench_load_configs(o, "nll_2_qwen7b", &sw, &m);
    if (rc || (rc = bench_make_cells(o, &sw, &cells))) return rc;
    MeasureConfig mc;
    bench_measure_settings(o, &sw, 1, &mc);
    double overhead = o->overhead >= 0 ? o->overhead : PB_ESTIMATE_OVERHEAD_S;
    ResultRow *rows;
    size_t n_rows;
    if (read_rates(o->rates, &rows, &n_rows)) { cells_source_free(&cells); return PB_EXIT_USAGE; }
    Rates rt = { rows, n_rows, {0} };
    double any = 0; // a strategy the file never ran (tree): the best of the others' medians
    for (int st = 0; st < STRATEGY_COUNT; st++) any = fmax(any, rt.fallback[st] = median_rate(rows, n_rows, st));
    for (int st = 0; st < STRATEGY_COUNT; st++) if (!(rt.fallback[st] > 0)) rt.fallback[st] = any;
    double *work = malloc((size_t)(cells.n ? cells.n : 1) * sizeof *work);
    int *order = NULL;
    for (int i = 0; work && i < cells.n; i++) {
        Cell c;
        if (cell_make(&cells, i, &c)) { free(work); work = NULL; break; }
        work[i] = run_cell_flop(&m, o->strategies, &c);
        cell_free(&c);
    }
    if (!work || !(order = run_order(work, cells.n))) {
        fprintf(stderr, "bench estimate: out of memory\n");
        rc = PB_EXIT_FAILED;
    } else {
        print_head(out, &m, &mc, o->rates, cells.n, overhead);
        rc = estimate_cells(o, &m, &mc, overhead, &rt, &cells, order, out);
    }
    free(order);
    free(work);
    results_rows_free(rows, n_rows);
    cells_source_free(&cells);
    return rc;
}
