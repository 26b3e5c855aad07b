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

// A step of the simulation: t_ms, timed samples alternating t (1 - noise / 2), t (1 + noise / 2),
// whose IQR / median is about noise from four samples on.
typedef struct SimStep { double t_ms, noise; int timed; } SimStep;

static PbStatus sim_step(void *ctx, int timed, double *ms, double *loss, char *err, size_t errlen) {
    SimStep *s = ctx;
    (void)err; (void)errlen;
    *ms = s->t_ms;
    if (timed) *ms *= 1.0 + (s->timed++ % 2 ? 0.5 : -0.5) * s->noise;
    *loss = 0;
    return PB_OK;
}

double estimate_strategy_s(const MeasureConfig *mc, double t_ms, double noise, int *steps) {
    double *samples = malloc((size_t)mc->max_reps * sizeof *samples), loss;
    SimStep sim = { t_ms, noise > 0 ? noise : 0, 0 };
    MeasureStats st;
    char err[64];
    *steps = 0;
    if (!samples || measure_run(mc, sim_step, &sim, samples, &st, &loss, NULL, err, sizeof err)) { free(samples); return NAN; }
    free(samples);
    int warm = mc->warmup > 0 ? mc->warmup : 1;
    *steps = warm + st.reps;
    return (warm * t_ms + st.mean_ms * st.reps) * 1e-3;
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

typedef struct CellEstimate { double s[STRATEGY_COUNT], warm_s[STRATEGY_COUNT], total; int steps[STRATEGY_COUNT], matched; } CellEstimate;

// One cell: 0, or -1 with a line on stderr (no rate for a strategy).
static int estimate_cell(const ModelConfig *m, unsigned strategies, const MeasureConfig *mc, double overhead,
                         const ResultRow *rates, size_t n_rates, const double *fallback, const Cell *c, CellEstimate *e) {
    ResultRow key;
    results_row_init(&key);
    if (cell_row_key(c, m->name, &key)) { results_row_free(&key); fprintf(stderr, "bench estimate: out of memory\n"); return -1; }
    const ResultRow *row = NULL;
    for (size_t i = 0; i < n_rates && !row; i++) if (results_same_cell(&rates[i], &key)) row = &rates[i];
    results_row_free(&key);
    memset(e, 0, sizeof *e);
    e->matched = row != NULL;
    for (int st = 0; st < STRATEGY_COUNT; st++) {
        if (!(strategies & (1u << st))) continue;
        double flop = run_cell_flop(m, 1u << st, c), rate = fallback[st], noise = 0;
        if (row && row->s[st].tflops > 0) {
            rate = row->s[st].tflops;
            if (row->s[st].ms > 0 && row->s[st].iqr_ms >= 0) noise = row->s[st].iqr_ms / row->s[st].ms;
        }
        if (!(rate > 0)) {
            fprintf(stderr, "bench estimate: no TFLOP/s in the rates file for %s of cell %d (%d x %d) nor any other\n",
                    strategy_name((Strategy)st), c->index, c->prompt_len, c->completion_len);
            return -1;
        }
        double t_ms = flop / (rate * 1e12) * 1e3;
        e->s[st] = estimate_strategy_s(mc, t_ms, noise, &e->steps[st]) + overhead;
        e->warm_s[st] = (mc->warmup > 0 ? mc->warmup : 1) * t_ms * 1e-3;
        e->total += e->s[st];
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

int estimate_main(const CliOptions *o, FILE *out) {
    SweepConfig sw;
    ModelConfig m;
    CellSource cells;
    int rc = bench_load_configs(o, "nll_2_qwen7b", &sw, &m);
    if (rc || (rc = bench_make_cells(o, &sw, &cells))) return rc;
    MeasureConfig mc;
    bench_measure_settings(o, &sw, 1, &mc);
    double overhead = o->overhead >= 0 ? o->overhead : PB_ESTIMATE_OVERHEAD_S;
    ResultRow *rates;
    size_t n_rates;
    if (read_rates(o->rates, &rates, &n_rates)) { cells_source_free(&cells); return PB_EXIT_USAGE; }
    double fallback[STRATEGY_COUNT], any = 0; // a strategy the file never ran (tree): the others' best median
    for (int st = 0; st < STRATEGY_COUNT; st++) any = fmax(any, fallback[st] = median_rate(rates, n_rates, st));
    for (int st = 0; st < STRATEGY_COUNT; st++) if (!(fallback[st] > 0)) fallback[st] = any;
    CellEstimate *e = malloc((size_t)(cells.n ? cells.n : 1) * sizeof *e);
    double *work = malloc((size_t)(cells.n ? cells.n : 1) * sizeof *work);
    int *order = NULL, matched = 0;
    rc = e && work ? PB_EXIT_OK : PB_EXIT_FAILED;
    for (int i = 0; i < cells.n && rc == PB_EXIT_OK; i++) {
        Cell c;
        if (cell_make(&cells, i, &c)) { rc = PB_EXIT_FAILED; break; }
        work[i] = run_cell_flop(&m, o->strategies, &c);
        if (estimate_cell(&m, o->strategies, &mc, overhead, rates, n_rates, fallback, &c, &e[i])) rc = PB_EXIT_USAGE;
        matched += e[i].matched;
        cell_free(&c);
    }
    if (rc == PB_EXIT_OK && !(order = run_order(work, cells.n))) rc = PB_EXIT_FAILED;
    if (rc == PB_EXIT_FAILED) fprintf(stderr, "bench estimate: out of memory\n");
    if (rc == PB_EXIT_OK) {
        char rule[128], shown[PB_QUOTE_BUF] = "none";
        measure_rule_text(&mc, rule, sizeof rule);
        if (o->rates) pb_escape(o->rates, PB_QUOTE_PATH, shown, sizeof shown);
        fprintf(out, "estimate: %s, %d cells, one GPU; rule %s; rates from %s (%d of %d cells matched); "
                "%.3g s per strategy and cell besides its steps\n\n", m.name, cells.n, rule, shown, matched, cells.n, overhead);
        fprintf(out, "| prompt | compl. |    padded s |    packed s |    prefix s |      tree s |  done at |\n"
                     "|-------:|-------:|------------:|------------:|------------:|------------:|---------:|\n");
        double at = 0, steps_s = 0, warm_s = 0;
        for (int k = 0; k < cells.n; k++) {
            const CellEstimate *ce = &e[order[k]];
            Cell c;
            if (cell_make(&cells, order[k], &c)) { rc = PB_EXIT_FAILED; break; }
            char col[STRATEGY_COUNT][24], when[32];
            for (int st = 0; st < STRATEGY_COUNT; st++) {
                if (!(o->strategies & (1u << st))) { snprintf(col[st], sizeof col[st], "-"); continue; }
                snprintf(col[st], sizeof col[st], "%.1f (%d)", ce->s[st], ce->steps[st]);
                steps_s += ce->s[st] - overhead;
            }
            at += ce->total;
            progress_duration(at, when, sizeof when);
            fprintf(out, "| %6d | %6d | %11s | %11s | %11s | %11s | %8s |\n", c.prompt_len, c.completion_len, col[0], col[1],
                    col[2], col[3], when);
            cell_free(&c);
        }
        for (int i = 0; i < cells.n; i++)
            for (int st = 0; st < STRATEGY_COUNT; st++)
                warm_s += e[i].warm_s[st];
        char total[32];
        progress_duration(at, total, sizeof total);
        fprintf(out, "\n(seconds per strategy with the steps the rule runs, warm-up included)\n"
                     "total: %s on one GPU (%.1f min): steps %.1f min (of which %.1f min warm-up), other %.1f min\n",
                total, at / 60, steps_s / 60, warm_s / 60, (at - steps_s) / 60);
    }
    free(order);
    free(work);
    free(e);
    results_rows_free(rates, n_rates);
    cells_source_free(&cells);
    return rc;
}
