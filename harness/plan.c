// plan.c: `bench plan` (see plan.h).
#include "plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../attention/attn_memory.h"
#include "../gpu/memory_plan.h"
#include "../gpu/recompute_plan.h"
#include "bench.h"
#include "config.h"
#include "lengths.h"
#include "measure.h"
#include "quote.h"
#include "run.h"
#include "share_rule.h"
#include "sweep.h"

#define PLAN_LARGEST 8

typedef struct PlanCtx { const StepBackend *b; Step *s; } PlanCtx;

static PbStatus plan_step(void *ctx, int timed, double *ms, double *loss, char *err, size_t errlen) {
    PlanCtx *c = ctx;
    (void)timed;
    return c->b->run(c->s, ms, loss, err, errlen);
}

static const char csv_header[] =
    "model,attention,prompt_len,completion_len,prompts,completions,strategy,tokens,plan_gb,plan_accum_gb,"
    "mlp_rows,ce_rows,peak_at,status,gpu_plan_gb,gpu_plan_accum_gb,allocated_gb,driver_gb,driver_vs_plan_pct,"
    "median_ms,min_ms,reps,loss,git_commit,recompute,memory_budget_gb";

// The host plan of one layout, both ways, under the recompute policy's choice (*rc: the levels;
// auto held to budget bytes). 0 or -1 with a line on stderr.
static int host_plans(const ModelConfig *m, const Layout *l, const char *attention, AttnPrefixMode mode, int mlp_cap,
                      RecomputePolicy policy, size_t budget, RecomputeChoice *rc, GpuMemPlan p[2]) {
    GpuPlanInput in = {.m = m, .l = l, .mode = GPU_PLAN_DEFAULT, .mlp_cap = mlp_cap, .attn_tight = -1};
    char err[256];
    const AttnMemoryAsk ask = {mode, 0, 0}; // the step's AttnOptions
    if (gpu_plan_attn_figures(attention, m, l, &ask, &in)) {
        fprintf(stderr, "bench plan: unknown attention backend '%s'\n", attention);
        return -1;
    }
    if (gpu_recompute_choose(&in, policy, budget, rc, err, sizeof err)) { fprintf(stderr, "bench plan: %s\n", err); return -1; }
    in.recompute = &rc->keep;
    if (gpu_memory_plan(&in, &p[0], err, sizeof err)) { fprintf(stderr, "bench plan: %s\n", err); return -1; }
    in.mode = GPU_PLAN_ACCUMULATE;
    in.mlp_rows = p[0].mlp_rows;
    in.ce_rows = p[0].ce_rows;
    in.attn_tight = p[0].attn_tight;
    if (gpu_memory_plan(&in, &p[1], err, sizeof err)) {
        gpu_memory_plan_free(&p[0]);
        fprintf(stderr, "bench plan: %s\n", err);
        return -1;
    }
    return 0;
}

// On the GPU: prepare, warm up and time the step, then the step's own accounting and the
// driver's view. Prints one line; fills the CSV fields. Returns an exit code (PB_EXIT_OK for a
// cell that does not fit: recorded as oom).
static int measure_on_gpu(const StepBackend *b, Step *s, const Layout *l, const CliOptions *o, FILE *fp_line,
                          char *fields, size_t len) {
    char err[600] = "";
    PbStatus rc = b->prepare(s, l, err, sizeof err);
    MeasureConfig mc;
    measure_defaults(&mc);
    measure_override(&mc, o->min_reps, o->max_reps, o->noise, o->min_time, o->max_time);
    double *samples = malloc((size_t)mc.max_reps * sizeof *samples), loss = NAN;
    MeasureStats ms = {0};
    if (rc == PB_OK && !samples) { snprintf(err, sizeof err, "out of host memory"); rc = PB_ERROR; }
    if (rc == PB_OK) rc = measure_run(&mc, plan_step, &(PlanCtx){b, s}, samples, &ms, &loss, NULL, err, sizeof err);
    free(samples);
    StepMemory mem = {0};
    if (rc == PB_OK) b->memory(s, &mem);
    b->release(s);
    if (rc != PB_OK) {
        const char *st = rc == PB_NO_MEMORY ? "oom" : "error";
        fprintf(fp_line, "    gpu: %s: %s\n", st, err);
        snprintf(fields, len, "%s,,,,,,,,,", st);
        return rc == PB_NO_MEMORY ? PB_EXIT_OK : rc == PB_DEVICE_ERROR ? PB_EXIT_DEVICE : PB_EXIT_FAILED;
    }
    double pct = mem.driver_used ? 100.0 * ((double)mem.driver_used - (double)mem.predicted) / (double)mem.driver_used : NAN;
    fprintf(fp_line, "    gpu: plan %.3f GB (accum %.3f), allocated %.3f GB, driver %.3f GB (%+.2f%% of the driver's "
            "view above the plan), %.1f ms median of %d, loss %.6g\n", mem.predicted / 1e9, mem.predicted_accum / 1e9,
            mem.allocated / 1e9, mem.driver_used / 1e9, pct, ms.median_ms, ms.reps, loss);
    snprintf(fields, len, "ok,%.4f,%.4f,%.4f,%.4f,%.3f,%.3f,%.3f,%d,%.9g", mem.predicted / 1e9, mem.predicted_accum / 1e9,
             mem.allocated / 1e9, mem.driver_used / 1e9, pct, ms.median_ms, ms.min_ms, ms.reps, loss);
    return mem.allocated == mem.predicted ? PB_EXIT_OK : PB_EXIT_FAILED;
}

static FILE *open_csv(const char *path) {
    FILE *fp = fopen(path, "a+");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    if (ftell(fp) == 0) fprintf(fp, "%s\n", csv_header);
    return fp;
}

/* The cell's FLOP-ideal speedups over padded (model FLOPs padded / the strategy's, from the
 * lengths alone: run_cell_flop, the sweep's unit of work; prefix with every group shared, as
 * the CSV's ideal_speedup_pad_prefix) for the strategies asked besides padded: what sharing
 * could save on this batch before anything runs. */
static void print_ideal(const ModelConfig *m, const Cell *c, unsigned strategies, FILE *out) {
    const double pad = run_cell_flop(m, 1u << STRATEGY_PADDED, c);
    int any = 0;
    for (int st = 0; st < STRATEGY_COUNT; st++) {
        if (st == STRATEGY_PADDED || !(strategies & (1u << st))) continue;
        const double f = run_cell_flop(m, 1u << st, c);
        fprintf(out, "%s %s ", any++ ? "," : "  FLOP-ideal speedup over padded:", strategy_name((Strategy)st));
        if (pad > 0 && f > 0) fprintf(out, "%.3f", pad / f); else fputc('-', out);
    }
    if (any) fputc('\n', out);
}

int plan_main(const CliOptions *o, const StepBackend *gpu, FILE *out) {
    SweepConfig sw;
    ModelConfig m;
    char err[600];
    int rc = bench_load_configs(o, "nll_2_qwen7b", &sw, &m);
    if (rc) return rc;
    CellSource cells;
    if (o->lengths ? lengths_read(o->lengths, &cells, err, sizeof err)
        : o->cells ? cells_from_spec(o->cells, sw.prompts, sw.completions, &cells, err, sizeof err)
                   : cells_from_sweep(&sw, &cells, err, sizeof err)) {
        fprintf(stderr, "bench plan: %s\n", err);
        return PB_EXIT_USAGE;
    }
    if (cells_check_size(&cells, NULL, NULL, err, sizeof err)) {
        fprintf(stderr, "bench plan: %s\n", err);
        cells_source_free(&cells);
        return PB_EXIT_USAGE;
    }
    const char *attention = o->attention ? o->attention : "cudnn";
    AttnPrefixMode mode;
    if (attn_prefix_mode_parse(o->prefix_attention, &mode)) {
        char q[PB_QUOTE_BUF];
        fprintf(stderr, "bench plan: unknown --prefix-attention %s\n", pb_quote(o->prefix_attention, PB_QUOTE_VALUE, q, sizeof q));
        cells_source_free(&cells);
        return PB_EXIT_USAGE;
    }
    PrefixShareMode share_mode = PREFIX_SHARE_AUTO;
    prefix_share_mode_parse(o->prefix_share, &share_mode); // the CLI took auto or always only
    const PrefixShare share = share_rule(&m, share_mode);
    RecomputePolicy policy;
    if (recompute_policy_parse(o->recompute, &policy)) { // the CLI admits only the four names
        fprintf(stderr, "bench plan: unknown --recompute\n");
        cells_source_free(&cells);
        return PB_EXIT_USAGE;
    }
    // the host's budget: --memory-budget, else an H200's (the GPU step asks its device instead)
    const size_t budget = o->memory_budget_gb > 0 ? (size_t)(o->memory_budget_gb * 1e9) : GPU_RECOMPUTE_HOST_BUDGET;
    const StepBackend *b = NULL;
    Step *s = NULL;
    if (o->device && !strcmp(o->device, "gpu")) {
        StepOptions so = {.seed = o->seed >= 0 ? (uint64_t)o->seed : 1, .attention = attention,
                          .prefix_attention = o->prefix_attention, .mlp_chunk = o->mlp_chunk,
                          .recompute = o->recompute,
                          .memory_budget = o->memory_budget_gb > 0 ? (size_t)(o->memory_budget_gb * 1e9) : 0};
        if (!gpu) { fprintf(stderr, "bench plan: --device gpu: this build has no GPU step\n"); cells_source_free(&cells); return PB_EXIT_FAILED; }
        if (!(s = gpu->create(&m, &so, err, sizeof err))) {
            fprintf(stderr, "bench plan: --device gpu: %s\n", err);
            cells_source_free(&cells);
            return PB_EXIT_FAILED;
        }
        b = gpu;
    }
    FILE *csv = NULL;
    if (o->out && !(csv = open_csv(o->out))) {
        fprintf(stderr, "bench plan: cannot write %s\n", o->out);
        if (s) b->destroy(s);
        cells_source_free(&cells);
        return PB_EXIT_USAGE;
    }
    fprintf(out, "memory plan of the GPU step: %s, attention %s, recompute %s%s\n", m.name, attention,
            recompute_policy_name(policy),
            s ? ", measured on the GPU" : " (host figures; cuDNN workspace reserved, see attention/attn_memory.h)");
    if (policy == POLICY_AUTO)
        fprintf(out, "auto's budget: %.3f GB (%s)\n", budget / 1e9,
                o->memory_budget_gb > 0 ? "--memory-budget" : "an H200's 141 GB; on the GPU the device's free memory less 1 GiB");
    int failed = 0;
    for (int i = 0; i < cells.n && !failed; i++) {
        Cell cell;
        const Cell *c = &cell;
        Forest g; // a group cell as its depth-2 forest
        char why[256];
        if (cell_make(&cells, i, &cell)) { fprintf(stderr, "bench plan: out of memory\n"); failed = PB_EXIT_FAILED; break; }
        if (cell_batch(c, m.vocab, 1, &g, why, sizeof why)) {
            fprintf(stderr, "bench plan: cannot make the batch: %s\n", why);
            cell_free(&cell);
            failed = PB_EXIT_FAILED;
            break;
        }
        fprintf(out, "cell %d x %d, %d prompts x %d completions\n", c->prompt_len, c->completion_len, c->prompts, c->k);
        for (int st = 0; st < STRATEGY_COUNT; st++) {
            if (!(o->strategies & (1u << st))) continue;
            Layout l;
            GpuMemPlan p[2];
            RecomputeChoice choice;
            if (layout_build_forest_share(&l, (Strategy)st, &g, &share)) {
                fprintf(stderr, "bench plan: layout_build failed\n");
                failed = PB_EXIT_FAILED;
                break;
            }
            if (host_plans(&m, &l, attention, mode, o->mlp_chunk, policy, budget, &choice, p)) {
                layout_free(&l);
                failed = PB_EXIT_FAILED;
                break;
            }
            char what[320];
            recompute_describe(policy, choice.level, m.layers, what, sizeof what);
            const double hw = model_hw_flops(&m, choice.level, l.n_slots, l.attn_pairs, l.n_loss_rows),
                         mf = model_flops(&m, l.n_slots, l.attn_pairs, l.n_loss_rows).total;
            fprintf(out, "  %-6s %7zu slots: peak %.3f GB, with gradients held %.3f GB", strategy_name((Strategy)st),
                    l.n_slots, p[0].peak / 1e9, p[1].peak / 1e9);
            if (st == STRATEGY_PREFIX)
                fprintf(out, " (%d/%d groups shared, --prefix-share %s%s)", l.n_shared_groups, l.n_prefix_groups,
                        prefix_share_mode_name(share_mode), l.strategy == STRATEGY_PADDED ? ": the padded layout" : "");
            fputc('\n', out);
            fprintf(out, "  recompute %s%s; hardware FLOPs %.4g = %.4f x model FLOPs %.4g\n", what,
                    choice.fits ? "" : policy == POLICY_AUTO ? " (nothing fits the budget: full)" : " (over the budget)",
                    hw, hw / mf, mf);
            gpu_memory_plan_print(&p[0], PLAN_LARGEST, out);
            char fields[512] = ",,,,,,,,,", peak_at[96];
            gpu_plan_tick_name(&p[0], p[0].peak_tick, peak_at, sizeof peak_at);
            int rc_gpu = s ? measure_on_gpu(b, s, &l, o, out, fields, sizeof fields) : PB_EXIT_OK;
            if (rc_gpu) failed = rc_gpu;
            char budget_gb[32] = ""; // auto's only
            if (policy == POLICY_AUTO) snprintf(budget_gb, sizeof budget_gb, "%.4f", budget / 1e9);
            if (csv)
                fprintf(csv, "%s,%s,%d,%d,%d,%d,%s,%zu,%.4f,%.4f,%d,%d,\"%s\",%s,%s,\"%s\",%s\n", m.name, attention,
                        c->prompt_len, c->completion_len, c->prompts, c->k, strategy_name((Strategy)st), l.n_slots,
                        p[0].peak / 1e9, p[1].peak / 1e9, p[0].mlp_rows, p[0].ce_rows, peak_at,
                        s ? fields : "host,,,,,,,,,", pb_build_commit(), what, budget_gb);
            gpu_memory_plan_free(&p[0]);
            gpu_memory_plan_free(&p[1]);
            layout_free(&l);
        }
        if (!failed) print_ideal(&m, c, o->strategies, out);
        forest_free(&g);
        cell_free(&cell);
    }
    if (csv && fclose(csv)) { fprintf(stderr, "bench plan: cannot write %s\n", o->out); failed = PB_EXIT_FAILED; }
    if (s) b->destroy(s);
    cells_source_free(&cells);
    return failed;
}
