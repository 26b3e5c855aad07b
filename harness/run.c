// run.c: the sweep loop (see run.h).
#include "run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "results.h"

typedef struct StepCtx { const StepBackend *b; Step *s; } StepCtx;

static int step_once(void *ctx, double *ms, double *loss, char *err, size_t errlen) {
    StepCtx *c = ctx;
    return c->b->run(c->s, ms, loss, err, errlen);
}

// One strategy of one cell into r->s[st]. Returns 0, or 1 when the step failed (error).
static int run_strategy(const RunPlan *p, const GroupBatch *g, Strategy st, ResultRow *r, double *flop,
                        double *samples, const volatile sig_atomic_t *stop) {
    StrategyResult *out = &r->s[st];
    Layout l;
    char err[512] = "";
    if (layout_build(&l, st, g)) {
        snprintf(out->status, sizeof out->status, "error");
        fprintf(p->progress, "  %-6s error: layout_build failed (out of memory or bad input)\n", strategy_name(st));
        return 1;
    }
    out->tokens = (int64_t)l.n_slots;
    Flops f = model_flops(&p->model, l.n_slots, l.attn_pairs, l.n_loss_rows);
    *flop = f.total;
    out->model_tflop = f.total * 1e-12;
    int rc = p->backend->prepare(p->step, &l, err, sizeof err);
    MeasureStats ms = {0};
    double loss = NAN;
    if (rc == STEP_OK) rc = measure_run(&p->measure, step_once, &(StepCtx){ p->backend, p->step }, samples, &ms, &loss, stop, err, sizeof err);
    StepMemory mem = {0};
    if (rc == STEP_OK) p->backend->memory(p->step, &mem);
    p->backend->release(p->step);
    layout_free(&l);
    if (rc == STEP_NO_MEMORY) {
        snprintf(out->status, sizeof out->status, "oom");
        fprintf(p->progress, "  %-6s oom: %s\n", strategy_name(st), err);
        return 0;
    }
    if (rc != STEP_OK) {
        snprintf(out->status, sizeof out->status, "error");
        fprintf(p->progress, "  %-6s error: %s\n", strategy_name(st), err);
        return 1;
    }
    snprintf(out->status, sizeof out->status, "ok");
    out->ms = ms.median_ms;
    out->min_ms = ms.min_ms;
    out->iqr_ms = ms.iqr_ms;
    out->reps = ms.reps;
    out->loss = loss;
    out->gb = (double)mem.allocated * 1e-9;
    out->predicted_gb = (double)mem.predicted * 1e-9;
    out->driver_gb = mem.driver_used ? (double)mem.driver_used * 1e-9 : NAN;
    out->tflops = ms.median_ms > 0 ? f.total / (ms.median_ms * 1e-3) * 1e-12 : NAN;
    fprintf(p->progress, "  %-6s %10.3f ms (min %.3f, IQR %.3f, %d reps)  %.3f GB  %.3g TFLOP/s  loss %.9g\n",
            strategy_name(st), ms.median_ms, ms.min_ms, ms.iqr_ms, ms.reps, out->gb, out->tflops, loss);
    return 0;
}

// Finite and equal within loss_rtol across the strategies that ran. 0 ok / n.a., 1 failed.
static int check_losses(const RunPlan *p, ResultRow *r) {
    int n_ok = 0, finite = 1;
    double ref = NAN, worst = 0;
    for (int s = 0; s < STRATEGY_COUNT; s++) {
        if (strcmp(r->s[s].status, "ok")) continue;
        double l = r->s[s].loss;
        if (!isfinite(l)) { finite = 0; continue; }
        if (n_ok++ == 0) ref = l;
        else worst = fmax(worst, fabs(l - ref) / fmax(fabs(ref), 1e-30));
    }
    if (!finite) snprintf(r->loss_check, sizeof r->loss_check, "nonfinite");
    else if (n_ok < 2) snprintf(r->loss_check, sizeof r->loss_check, "n/a");
    else snprintf(r->loss_check, sizeof r->loss_check, worst <= p->loss_rtol ? "ok" : "mismatch");
    if (n_ok >= 2) r->loss_max_rel_diff = worst;
    return !finite || (n_ok >= 2 && worst > p->loss_rtol);
}

static void row_environment(const RunPlan *p, const Cell *c, ResultRow *r) {
    snprintf(r->model, sizeof r->model, "%s", p->model.name);
    snprintf(r->method, sizeof r->method, "nll");
    r->prompt_len = c->prompt_len;
    r->completion_len = c->completion_len;
    r->num_completions = c->k;
    r->batch_size = c->prompts;
    snprintf(r->attention, sizeof r->attention, "%s", p->attention ? p->attention : "");
    snprintf(r->device, sizeof r->device, "%s", p->backend->device);
    p->backend->describe(p->step, r->gpu, sizeof r->gpu, r->versions, sizeof r->versions);
    snprintf(r->git_commit, sizeof r->git_commit, "%s", pb_build_commit());
    snprintf(r->command, sizeof r->command, "%s", p->command);
    r->seed = (int64_t)p->seed;
    snprintf(r->sweep, sizeof r->sweep, "%s", p->sweep_name);
    r->cell = c->index;
    cell_lens_text(c, r->prompt_lens, sizeof r->prompt_lens, r->completion_lens, sizeof r->completion_lens);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(r->time, sizeof r->time, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void fmt_ms(char *buf, size_t n, const StrategyResult *s) {
    if (s->ms > 0) snprintf(buf, n, "%.2f", s->ms);
    else snprintf(buf, n, "%s", s->status[0] ? s->status : "-");
}

static void table_row(FILE *t, const ResultRow *r) {
    char ms[STRATEGY_COUNT][24], sp[24] = "-", ideal[24] = "-", saved[24] = "-";
    for (int s = 0; s < STRATEGY_COUNT; s++) fmt_ms(ms[s], sizeof ms[s], &r->s[s]);
    if (isfinite(r->speedup_pad_prefix)) snprintf(sp, sizeof sp, "%.3f", r->speedup_pad_prefix);
    if (isfinite(r->ideal_speedup_pad_prefix)) snprintf(ideal, sizeof ideal, "%.3f", r->ideal_speedup_pad_prefix);
    if (isfinite(r->s[0].gb) && isfinite(r->s[2].gb)) snprintf(saved, sizeof saved, "%.3f", r->s[0].gb - r->s[2].gb);
    fprintf(t, "| %6d | %6d | %12s | %12s | %12s | %7s | %7s | %9s | %-9s |\n", r->prompt_len, r->completion_len,
            ms[0], ms[1], ms[2], sp, ideal, saved, r->loss_check);
}

int run_sweep(const RunPlan *p, const volatile sig_atomic_t *stop) {
    int failed = 0, interrupted = 0, n_rows = 0;
    ResultRow *rows = malloc((size_t)(p->cells.n ? p->cells.n : 1) * sizeof *rows);
    double *samples = malloc((size_t)p->measure.max_reps * sizeof *samples);
    if (!rows || !samples) { free(rows); free(samples); fprintf(p->progress, "bench: out of memory\n"); return 1; }
    for (int i = 0; i < p->cells.n && !interrupted; i++) {
        const Cell *c = &p->cells.cells[i];
        fprintf(p->progress, "[%d/%d] cell %d: prompt %d x completion %d, %d prompts x %d completions%s\n", i + 1,
                p->cells.n, c->index, c->prompt_len, c->completion_len, c->prompts, c->k, c->random ? " (random lengths)" : "");
        GroupBatch g;
        if (groups_make(&g, c->prompts, c->k, c->prompt_lens, c->comp_lens, p->model.vocab,
                        p->seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(c->index + 1)))) {
            fprintf(p->progress, "  groups_make failed (out of memory or bad lengths)\n");
            failed = 1;
            continue;
        }
        ResultRow *r = &rows[n_rows];
        results_row_init(r);
        row_environment(p, c, r);
        double flop[STRATEGY_COUNT] = { NAN, NAN, NAN };
        for (int s = 0; s < STRATEGY_COUNT && !interrupted; s++) {
            if (p->strategies & (1u << s)) failed |= run_strategy(p, &g, (Strategy)s, r, &flop[s], samples, stop);
            else snprintf(r->s[s].status, sizeof r->s[s].status, "skipped");
            interrupted = stop && *stop;
        }
        groups_free(&g);
        if (interrupted) { fprintf(p->progress, "interrupted: cell %d not recorded (--resume runs it)\n", c->index); break; }
        results_row_derive(r, flop);
        if (check_losses(p, r)) {
            failed = 1;
            fprintf(p->progress, "  LOSS CHECK %s (max relative difference %.3g, tolerance %.1g)\n", r->loss_check,
                    r->loss_max_rel_diff, p->loss_rtol);
        }
        if (results_write_row(p->csv, r)) { fprintf(p->progress, "bench: cannot write the CSV row\n"); failed = 1; }
        n_rows++;
    }
    fprintf(p->table, "\n%s on %s (%s), %d cells\n\n", p->model.name, p->backend->device, p->sweep_name, n_rows);
    fprintf(p->table, "| prompt | compl. |    padded ms |    packed ms |    prefix ms | pad/pre |   ideal | saved GB  | loss      |\n"
                      "|-------:|-------:|-------------:|-------------:|-------------:|--------:|--------:|----------:|-----------|\n");
    for (int i = 0; i < n_rows; i++) table_row(p->table, &rows[i]);
    fflush(p->table);
    free(rows);
    free(samples);
    return interrupted ? 130 : failed;
}
