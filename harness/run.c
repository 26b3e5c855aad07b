// run.c: the sweep loop (see run.h).
#include "run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../strategies/layout_estimate.h"
#include "../model/roofline.h"
#include "profile_report.h"
#include "progress.h"
#include "results.h"

// One strategy's timed steps, and the SM clocks seen around them.
typedef struct StepCtx {
    const StepBackend *b;
    Step *s;
    unsigned mhz_min, mhz_max, mhz_rated; // 0: no reading yet
    int throttled, unknown;               // unknown: some timed step had no clock reading
} StepCtx;

static void clock_seen(StepCtx *c, unsigned mhz) {
    if (!c->mhz_min || mhz < c->mhz_min) c->mhz_min = mhz;
    if (mhz > c->mhz_max) c->mhz_max = mhz;
}

static PbStatus step_once(void *ctx, int timed, double *ms, double *loss, char *err, size_t errlen) {
    StepCtx *c = ctx;
    PbStatus rc = c->b->run(c->s, ms, loss, err, errlen);
    if (rc != PB_OK || !timed || !c->b->clocks) return rc;
    StepClocks k;
    c->b->clocks(c->s, &k);
    if (!k.known) { c->unknown = 1; return rc; }
    clock_seen(c, k.sm_mhz_before);
    clock_seen(c, k.sm_mhz_after);
    c->mhz_rated = k.sm_mhz_rated;
    c->throttled |= k.throttled;
    return rc;
}

// The clock columns: a device without clocks (the CPU) leaves them empty.
static void record_clocks(const StepCtx *c, StrategyResult *out) {
    if (!c->b->clocks) return;
    if (c->unknown || !c->mhz_max) { snprintf(out->clocks, sizeof out->clocks, "unknown"); return; }
    out->sm_mhz_min = c->mhz_min;
    out->sm_mhz_max = c->mhz_max;
    const char *v = c->throttled ? "throttled" : (c->mhz_rated && c->mhz_min < 0.9 * c->mhz_rated) ? "dropped" : "ok";
    snprintf(out->clocks, sizeof out->clocks, "%s", v);
}

static PbStatus strategy_failed(const RunPlan *p, StrategyResult *out, Strategy st, PbStatus rc, const char *err) {
    snprintf(out->status, sizeof out->status, "%s", rc == PB_NO_MEMORY ? "oom" : "error");
    snprintf(out->error, sizeof out->error, "%s", err);
    fprintf(p->progress, "  %-6s %s: %s\n", strategy_name(st), rc == PB_NO_MEMORY ? "oom" : pb_status_name(rc), err);
    return rc;
}

// The profiled step of one strategy (--profile): its table is printed after the cell.
typedef struct CellProfile {
    int have;
    StepProfile prof;
    RoofShape shape;
    unsigned char levels[PB_MODEL_MAX_LAYERS]; // shape.recompute points here
} CellProfile;

// One more step with every op class timed, after the timed ones (so events cannot distort them).
// A profile that fails without a device error loses only its table (said on stderr).
static PbStatus profile_strategy(const RunPlan *p, Strategy st, const Layout *l, const unsigned char *levels,
                                 CellProfile *cp, char *err, size_t errlen) {
    if (!p->profile || !p->backend->profile) return PB_OK;
    PbStatus rc = p->backend->profile(p->step, &cp->prof, err, errlen);
    cp->have = rc == PB_OK;
    memcpy(cp->levels, levels, (size_t)p->model.layers);
    cp->shape = (RoofShape){l->n_slots, l->attn_pairs, l->n_loss, cp->levels};
    if (rc == PB_DEVICE_ERROR) return rc;
    if (rc != PB_OK) fprintf(p->progress, "  %-6s profile: %s (no table)\n", strategy_name(st), err); // prefix may run padded's layout
    return PB_OK;
}

// One strategy of one cell into r->s[st]. PB_NO_MEMORY (recorded "oom") lets the sweep go on,
// PB_ERROR is a failed strategy, PB_DEVICE_ERROR ends the sweep.
/* prefix: what the share rule chose (CSV and log), and the FLOPs of full sharing (*full_flop, the
 * ideal's; the layout run may have unshared groups). */
static void prefix_choice(const RunPlan *p, const Forest *g, const Layout *l, ResultRow *r, double *full_flop) {
    snprintf(r->prefix_share, sizeof r->prefix_share, "%s", prefix_share_mode_name(p->share.mode));
    snprintf(r->prefix_shared_groups, sizeof r->prefix_shared_groups, "%d/%d", l->n_shared_groups, l->n_prefix_groups);
    LayoutCounts n;
    *full_flop = layout_estimate_forest(STRATEGY_PREFIX, g->n_segs, g->len, g->parent, g->loss, &n)
                     ? NAN : model_flops(&p->model, (size_t)n.n_slots, (size_t)n.attn_pairs, (size_t)n.n_loss_rows).total;
    fprintf(p->progress, "  prefix layout: %d of %d groups share their prompt (--prefix-share %s, theta %.3g)%s\n",
            l->n_shared_groups, l->n_prefix_groups, prefix_share_mode_name(p->share.mode), p->share.theta,
            l->strategy == STRATEGY_PADDED ? ": the padded layout" : "");
}

// *flop: the model FLOPs of the layout run; *ideal_flop: those of the strategy's ideal (prefix:
// every group shared; the others: the layout run).
static PbStatus run_strategy(const RunPlan *p, const Forest *g, Strategy st, ResultRow *r, double *flop,
                             double *ideal_flop, double *samples, CellProfile *cp, WarmupAuto warm[STRATEGY_COUNT], const volatile sig_atomic_t *stop) {
    StrategyResult *out = &r->s[st];
    Layout l;
    char err[512] = "";
    if (layout_build_forest_share(&l, st, g, &p->share))
        return strategy_failed(p, out, st, PB_ERROR, "layout_build failed (out of memory or bad input)");
    out->tokens = (int64_t)l.n_slots;
    Flops f = model_flops(&p->model, l.n_slots, l.attn_pairs, l.n_loss_rows);
    *flop = *ideal_flop = f.total;
    if (st == STRATEGY_PREFIX) prefix_choice(p, g, &l, r, ideal_flop);
    out->model_tflop = f.total * 1e-12;
    PbStatus rc = p->backend->prepare(p->step, &l, err, sizeof err);
    if (rc == PB_OK && st == STRATEGY_PREFIX && p->backend->attention_plan)
        p->backend->attention_plan(p->step, r->prefix_attention, sizeof r->prefix_attention);
    // what each layer recomputes (chosen in prepare): the hardware FLOPs and the roofline follow it
    unsigned char levels[PB_MODEL_MAX_LAYERS];
    memset(levels, RECOMPUTE_FULL, (size_t)p->model.layers);
    if (rc == PB_OK && p->backend->recompute)
        p->backend->recompute(p->step, levels, out->recompute, sizeof out->recompute);
    const double hw_flop = model_hw_flops(&p->model, levels, l.n_slots, l.attn_pairs, l.n_loss_rows);
    out->hw_tflop = hw_flop * 1e-12;
    MeasureStats ms = {0};
    double loss = NAN;
    StepCtx ctx = { .b = p->backend, .s = p->step };
    MeasureConfig mc = p->measure; // --warmup auto: this strategy's warm-up, decided from the cells before
    if (mc.warmup_auto) mc.warmup = warmup_auto_skip(warm, STRATEGY_COUNT, st, mc.noise, f.total) ? 0 : 1;
    if (rc == PB_OK) rc = measure_run(&mc, step_once, &ctx, samples, &ms, &loss, stop, err, sizeof err);
    if (rc == PB_OK) rc = profile_strategy(p, st, &l, levels, cp, err, sizeof err);
    RoofShape shape = {l.n_slots, l.attn_pairs, l.n_loss, levels};
    StepMemory mem = {0};
    if (rc == PB_OK) p->backend->memory(p->step, &mem);
    p->backend->release(p->step);
    layout_free(&l);
    if (rc != PB_OK) return strategy_failed(p, out, st, rc, err);
    snprintf(out->status, sizeof out->status, "ok");
    record_clocks(&ctx, out);
    snprintf(out->stopped_at_max_time, sizeof out->stopped_at_max_time, "%s", ms.stopped_at_max_time ? "yes" : "no");
    snprintf(out->stop, sizeof out->stop, "%s", measure_stop_name(ms.stop));
    out->noise = ms.rel_iqr;
    out->warmup_ms = ms.warmup_ms;
    out->ms = ms.median_ms;
    out->min_ms = ms.min_ms;
    out->iqr_ms = ms.iqr_ms;
    out->reps = ms.reps;
    out->loss = loss;
    out->gb = (double)mem.allocated * 1e-9;
    out->predicted_gb = (double)mem.predicted * 1e-9;
    out->gb_accum = mem.predicted_accum ? (double)mem.predicted_accum * 1e-9 : NAN;
    out->driver_gb = mem.driver_used ? (double)mem.driver_used * 1e-9 : NAN;
    out->tflops = ms.median_ms > 0 ? f.total / (ms.median_ms * 1e-3) * 1e-12 : NAN;
    if (warmup_auto_seen(warm, STRATEGY_COUNT, st, ms.warmup_ms, ms.min_ms, out->tflops))
        snprintf(r->warmup_first, sizeof r->warmup_first, "%s", strategy_name(st));
    out->hw_tflops = ms.median_ms > 0 ? hw_flop / (ms.median_ms * 1e-3) * 1e-12 : NAN;
    if (!strcmp(p->backend->device, "gpu") && ms.median_ms > 0) { // the ceilings are the H200's
        RoofCosts costs;
        roofline_costs(&p->model, &shape, &costs);
        out->roofline_eff = roofline_ideal_s(&costs, &roof_h200) * 1e3 / ms.median_ms;
    }
    char noise[32] = "noise ?";
    if (isfinite(ms.rel_iqr)) snprintf(noise, sizeof noise, "noise %.2f%%", 100 * ms.rel_iqr);
    fprintf(p->progress, "  %-6s %10.3f ms (min %.3f, IQR %.3f, %s, %d reps, stop: %s%s)  %.3f GB  %.3g TFLOP/s (hardware %.3g, "
            "recompute %s)  loss %.9g%s%s\n",
            strategy_name(st), ms.median_ms, ms.min_ms, ms.iqr_ms, noise, ms.reps, measure_stop_name(ms.stop),
            mc.warmup ? (ms.stopped_at_max_time ? ", before the noise target" : "") : ", no warm-up", out->gb, out->tflops,
            out->hw_tflops, out->recompute[0] ? out->recompute : "full", loss,
            out->clocks[0] && strcmp(out->clocks, "ok") ? "  clocks " : "", strcmp(out->clocks, "ok") ? out->clocks : "");
    return PB_OK;
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

// 0, or -1 out of memory (the lengths and the command are copied into the row).
static int row_environment(const RunPlan *p, const Cell *c, ResultRow *r) {
    snprintf(r->model, sizeof r->model, "%s", p->model.name);
    snprintf(r->method, sizeof r->method, "nll");
    r->prompt_len = c->prompt_len;
    r->completion_len = c->completion_len;
    r->num_completions = c->k;
    r->batch_size = c->prompts;
    snprintf(r->attention, sizeof r->attention, "%s", p->backend->attention ? p->backend->attention(p->step) : "");
    snprintf(r->gemm_select, sizeof r->gemm_select, "%s", p->gemm_select ? p->gemm_select : "");
    snprintf(r->recompute, sizeof r->recompute, "%s", p->recompute ? p->recompute : "full");
    r->memory_budget_gb = p->memory_budget_gb > 0 ? p->memory_budget_gb : NAN;
    snprintf(r->device, sizeof r->device, "%s", p->backend->device);
    r->noise_target = p->measure.noise;
    measure_rule_text(&p->measure, r->measure_rule, sizeof r->measure_rule);
    p->backend->describe(p->step, r->gpu, sizeof r->gpu, r->versions, sizeof r->versions);
    snprintf(r->git_commit, sizeof r->git_commit, "%s", pb_build_commit());
    r->command = strdup(p->command ? p->command : "");
    r->seed = (int64_t)p->seed;
    snprintf(r->sweep, sizeof r->sweep, "%s", p->sweep_name);
    r->cell = c->index;
    int rc = r->command && !cell_lens_text(c, &r->prompt_lens, &r->completion_lens) && !cell_forest_text(c, &r->forest)
                 ? 0 : -1;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(r->time, sizeof r->time, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return rc;
}

static void fmt_ms(char *buf, size_t n, const StrategyResult *s) {
    if (s->ms > 0) snprintf(buf, n, "%.2f", s->ms);
    else snprintf(buf, n, "%s", s->status[0] ? s->status : "-");
}

static void table_row(FILE *t, const ResultRow *r) {
    char ms[STRATEGY_COUNT][24], sp[24] = "-", ideal[24] = "-", saved[24] = "-", spt[24] = "-", idealt[24] = "-";
    for (int s = 0; s < STRATEGY_COUNT; s++) fmt_ms(ms[s], sizeof ms[s], &r->s[s]);
    if (isfinite(r->speedup_pad_prefix)) snprintf(sp, sizeof sp, "%.3f", r->speedup_pad_prefix);
    if (isfinite(r->ideal_speedup_pad_prefix)) snprintf(ideal, sizeof ideal, "%.3f", r->ideal_speedup_pad_prefix);
    if (isfinite(r->s[0].gb) && isfinite(r->s[2].gb)) snprintf(saved, sizeof saved, "%.3f", r->s[0].gb - r->s[2].gb);
    if (isfinite(r->speedup_pad_tree)) snprintf(spt, sizeof spt, "%.3f", r->speedup_pad_tree);
    if (isfinite(r->ideal_speedup_pad_tree)) snprintf(idealt, sizeof idealt, "%.3f", r->ideal_speedup_pad_tree);
    fprintf(t, "| %6d | %6d | %12s | %12s | %12s | %12s | %7s | %7s | %8s | %7s | %9s | %-9s |\n", r->prompt_len,
            r->completion_len, ms[0], ms[1], ms[2], ms[3], sp, ideal, spt, idealt, saved, r->loss_check);
}

// The cell's batch (sweep.h cell_batch) with its ids seeded by the run's seed and the cell index.
static int make_batch(const RunPlan *p, const Cell *c, Forest *f, char *why, size_t n) {
    return cell_batch(c, p->model.vocab, p->seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(c->index + 1)), f, why, n);
}

double run_cell_flop(const ModelConfig *m, unsigned strategies, const Cell *c) {
    double sum = 0;
    for (int s = 0; s < STRATEGY_COUNT; s++) {
        LayoutCounts n;
        if (!(strategies & (1u << s)) || cell_estimate(c, (Strategy)s, &n))
            continue;
        sum += model_flops(m, (size_t)n.n_slots, (size_t)n.attn_pairs, (size_t)n.n_loss_rows).total;
    }
    return sum;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// "[i/n] cells done, ... ETA ..." after every cell.
static void progress_line(const RunPlan *p, int done, double flop_done, double flop_left, double t0) {
    double elapsed = now_s() - t0, eta = progress_eta_s(flop_done, flop_left, elapsed);
    char e[32], left[32];
    progress_duration(elapsed, e, sizeof e);
    progress_duration(eta, left, sizeof left);
    fprintf(p->progress, "[%d/%d] cells done in %s; %.3g of %.3g PFLOP left at %.3g TFLOP/s so far: ETA %s\n", done,
            p->n_selected, e, flop_left * 1e-15, (flop_done + flop_left) * 1e-15,
            elapsed > 0 ? flop_done / elapsed * 1e-12 : 0.0, left);
}

// Host bytes the cell's token ids and its largest requested layout take, estimated from the
// lengths before anything is built; above half of this host's memory every strategy of the
// cell is recorded "oom" (the GPU step's own size table decides the device side in prepare).
static int cell_too_big_for_host(const RunPlan *p, const Cell *c, ResultRow *r) {
    double ids = 0, worst = 0;
    for (int i = 0; i < c->n_segs; i++) ids += c->seg_len[i]; // a forest cell
    for (int b = 0; !c->n_segs && b < c->prompts; b++) ids += c->prompt_lens[b];
    for (int j = 0; !c->n_segs && j < c->prompts * c->k; j++) ids += c->comp_lens[j];
    for (int s = 0; s < STRATEGY_COUNT; s++) {
        LayoutCounts n;
        if ((p->strategies & (1u << s)) &&
            !cell_estimate(c, (Strategy)s, &n) &&
            (double)layout_host_bytes(&n) > worst)
            worst = (double)layout_host_bytes(&n);
    }
    double host = 4.0 * ids + worst; // int32 token ids, then the layout
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double limit = pages > 0 && page > 0 ? 0.5 * (double)pages * (double)page : 0;
    if (!(limit > 0) || host <= limit) return 0;
    for (int s = 0; s < STRATEGY_COUNT; s++) {
        StrategyResult *out = &r->s[s];
        snprintf(out->status, sizeof out->status, "%s", (p->strategies & (1u << s)) ? "oom" : "skipped");
        if (p->strategies & (1u << s))
            snprintf(out->error, sizeof out->error, "the cell's layouts need about %.3g GB of host memory", host * 1e-9);
    }
    fprintf(p->progress, "  oom: the cell's layouts need about %.3g GB of host memory, more than half of this host's %.3g GB\n",
            host * 1e-9, 2 * limit * 1e-9);
    return 1;
}

// The ETA's work: every selected cell's FLOPs, each cell made and freed in turn. NULL: out of memory.
static double *selected_work(const RunPlan *p, double *total) {
    double *work = malloc((size_t)(p->n_selected ? p->n_selected : 1) * sizeof *work);
    *total = 0;
    for (int i = 0; work && i < p->n_selected; i++) {
        Cell c;
        work[i] = 0;
        if (cell_make(p->cells, p->selected[i], &c)) continue;
        *total += work[i] = run_cell_flop(&p->model, p->strategies, &c);
        cell_free(&c);
    }
    return work;
}

typedef struct CellCostRank { double work; int at; } CellCostRank;

static int by_work(const void *a, const void *b) {
    const CellCostRank *x = a, *y = b;
    if (x->work != y->work) return x->work < y->work ? -1 : 1;
    return (x->at > y->at) - (x->at < y->at);
}

int *run_order(const double *work, int n) {
    CellCostRank *r = malloc((size_t)(n ? n : 1) * sizeof *r);
    int *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!r || !order) { free(r); free(order); return NULL; }
    for (int i = 0; i < n; i++) r[i] = (CellCostRank){ work[i], i };
    qsort(r, (size_t)n, sizeof *r, by_work);
    for (int i = 0; i < n; i++) order[i] = r[i].at;
    free(r);
    return order;
}

int run_sweep(const RunPlan *p, const volatile sig_atomic_t *stop) {
    int failed = 0, interrupted = 0, device_lost = 0, limited = 0, n_rows = 0;
    double s_per_flop = p->pace_start; // the last cell's wall seconds per model FLOP (--time-limit)
    ResultRow *rows = malloc((size_t)(p->n_selected ? p->n_selected : 1) * sizeof *rows);
    double *samples = malloc((size_t)p->measure.max_reps * sizeof *samples);
    double flop_left = 0, flop_done = 0, t0 = now_s();
    WarmupAuto warm[STRATEGY_COUNT]; // --warmup auto: what each strategy's warm-ups cost so far
    memcpy(warm, p->warm_start, sizeof warm);
    double *work = selected_work(p, &flop_left);
    int *order = work ? run_order(work, p->n_selected) : NULL;
    if (!rows || !samples || !work || !order) {
        free(rows); free(samples); free(work); free(order);
        fprintf(p->progress, "bench: out of memory\n");
        return PB_EXIT_FAILED;
    }
    for (int k = 0; k < p->n_selected && !interrupted && !device_lost; k++) {
        const int i = order[k];
        if (p->time_limit_s > 0 && s_per_flop > 0) { // --time-limit: this cell's FLOPs at the last cell's (or the file's) pace
            const double at = now_s() - t0, need = work[i] * s_per_flop;
            if (at + need > p->time_limit_s) {
                fprintf(p->progress, "bench: --time-limit %g s: cell %d would take about %.3g s with %.3g s left; "
                        "%d cell(s) left for --resume\n", p->time_limit_s, p->selected[i], need, p->time_limit_s - at,
                        p->n_selected - k);
                limited = 1;
                break;
            }
        }
        const double t_cell = now_s();
        Cell cell;
        if (cell_make(p->cells, p->selected[i], &cell)) {
            fprintf(p->progress, "bench: out of memory for cell %d's lengths\n", p->selected[i]);
            failed = 1;
            break;
        }
        const Cell *c = &cell;
        fprintf(p->progress, "[%d/%d] cell %d: prompt %d x completion %d, %d prompts x %d completions%s\n", k + 1,
                p->n_selected, c->index, c->prompt_len, c->completion_len, c->prompts, c->k,
                c->n_segs ? " (forest)" : c->random ? " (random lengths)" : "");
        ResultRow *r = &rows[n_rows];
        results_row_init(r);
        if (row_environment(p, c, r)) {
            fprintf(p->progress, "bench: out of memory for cell %d's row\n", c->index);
            results_row_free(r);
            cell_free(&cell);
            failed = 1;
            break;
        }
        Forest g = {0};
        char why[256];
        int too_big = cell_too_big_for_host(p, c, r);
        if (!too_big && make_batch(p, c, &g, why, sizeof why)) {
            fprintf(p->progress, "  cannot make the batch: %s\n", why);
            failed = 1;
            results_row_free(r);
            cell_free(&cell);
            continue;
        }
        double flop[STRATEGY_COUNT] = { NAN, NAN, NAN, NAN }, ideal_flop[STRATEGY_COUNT] = { NAN, NAN, NAN, NAN };
        CellProfile prof[STRATEGY_COUNT] = {{0}};
        for (int s = 0; s < STRATEGY_COUNT && !interrupted && !device_lost && !too_big; s++) {
            if (!(p->strategies & (1u << s))) { snprintf(r->s[s].status, sizeof r->s[s].status, "skipped"); continue; }
            PbStatus rc = run_strategy(p, &g, (Strategy)s, r, &flop[s], &ideal_flop[s], samples, &prof[s], warm, stop);
            failed |= rc != PB_OK && rc != PB_NO_MEMORY;
            device_lost = rc == PB_DEVICE_ERROR;
            interrupted = stop && *stop;
        }
        if (!too_big) forest_free(&g);
        cell_free(&cell);
        if (interrupted) {
            fprintf(p->progress, "interrupted: cell %d not recorded (--resume runs it)\n", r->cell);
            results_row_free(r);
            break;
        }
        results_row_derive(r, ideal_flop, flop[STRATEGY_PREFIX]);
        if (check_losses(p, r)) {
            failed = 1;
            fprintf(p->progress, "  LOSS CHECK %s (max relative difference %.3g, tolerance %.1g)\n", r->loss_check,
                    r->loss_max_rel_diff, p->loss_rtol);
        }
        char err[800];
        int wrote = csv_out_append(p->csv, r, err, sizeof err);
        results_row_free(r); // the table needs the numbers only
        if (wrote) {
            fprintf(p->progress, "bench: %s; stopping the sweep (the file holds the %d rows written before)\n", err, n_rows);
            failed = 1;
            break;
        }
        for (int s = 0; s < STRATEGY_COUNT; s++) { // after the cell: its strategies' profiles
            if (!prof[s].have) continue;
            char title[160];
            snprintf(title, sizeof title, "%s, prompt %d x completion %d, %d prompts x %d completions",
                     strategy_name((Strategy)s), r->prompt_len, r->completion_len, r->batch_size, r->num_completions);
            profile_report_print(p->table, title, &p->model, &prof[s].shape, &prof[s].prof, r->s[s].ms);
        }
        n_rows++;
        flop_done += work[i];
        flop_left -= work[i];
        if (work[i] > 0) s_per_flop = (now_s() - t_cell) / work[i];
        progress_line(p, k + 1, flop_done, flop_left, t0);
    }
    if (device_lost)
        fprintf(p->progress, "bench: device error: the sweep stops (cell recorded as error; exit %d)\n", PB_EXIT_DEVICE);
    fprintf(p->table, "\n%s on %s (%s), %d cells\n\n", p->model.name, p->backend->device, p->sweep_name, n_rows);
    fprintf(p->table, "| prompt | compl. |    padded ms |    packed ms |    prefix ms |      tree ms | pad/pre |   ideal | pad/tree |   ideal | saved GB  | loss      |\n"
                      "|-------:|-------:|-------------:|-------------:|-------------:|-------------:|--------:|--------:|---------:|--------:|----------:|-----------|\n");
    for (int i = 0; i < n_rows; i++) table_row(p->table, &rows[i]);
    fflush(p->table);
    free(rows);
    free(samples);
    free(work);
    free(order);
    if (interrupted) return PB_EXIT_INTERRUPTED;
    if (device_lost) return PB_EXIT_DEVICE;
    if (limited) return PB_EXIT_INTERRUPTED; // the cells left are for --resume
    return failed ? PB_EXIT_FAILED : PB_EXIT_OK;
}
