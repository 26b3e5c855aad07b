// capacity_run.c: `bench capacity` (see capacity_run.h).
#include "capacity_run.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "budget.h"
#include "capacity.h"
#include "quote.h"
#include "run.h"
#include "sweep.h"

// A prepare that does not fit on the device at the planned B (the device's figures can exceed
// the host's: the cuDNN workspace) is retried at B - 1, at most this many times.
#define CAPACITY_OOM_RETRIES 3

// One row of the CSV: a strategy of a cell.
typedef struct CapRow {
    Strategy st;
    CapacityShape sh;
    char status[12];       // ok | planned | skipped | oom | error
    CapacityResult cap;    // the host plan's answer
    int b;                 // B timed (the plan's, or less after an oom on the device); -1: not timed
    double gpu_plan_gb, measured_gb, driver_gb; // the device's own accounting at b (NaN: not timed)
    MeasureStats ms;
    double cps, tps, tflops, hw_tflops, loss;
    char recompute[320];   // what ran (the device's levels at b, recompute_describe); else the policy
    char note[400];        // why skipped, oom or error; else what to know (timed below the plan's B, ...)
} CapRow;

// The run's fixed context.
typedef struct CapRun {
    ModelConfig m;
    StepOptions so;        // the step's options; so.attention: the backend the plan uses
    size_t budget;
    const char *budget_from;
    const StepBackend *b;  // NULL: plan only
    Step *s;
    MeasureConfig mc;
    const CliOptions *o;
    const char *command;
    char gpu[128], versions[256];
    FILE *csv, *out;
} CapRun;

/* ---- the CSV ----------------------------------------------------------------------------- */

// A field: control bytes escaped (a row is one line), quoted by libcsv when it needs it.
static void put_field(FILE *fp, const char *s, int first) {
    if (!first) fputc(',', fp);
    size_t n = strlen(s);
    int ctrl = 0;
    for (size_t i = 0; i < n; i++) ctrl |= (unsigned char)s[i] < 0x20 || s[i] == 0x7f;
    char *esc = ctrl ? malloc(4 * n + 8) : NULL; // pb_escape's room: 4 bytes a character, and its margin
    if (ctrl && !esc) { fputs("?", fp); return; }
    if (ctrl) { pb_escape(s, n, esc, 4 * n + 8); s = esc; n = strlen(s); }
    if (strcspn(s, ",\"") == n) fputs(s, fp);
    else csv_fwrite(fp, s, n);
    free(esc);
}
static void put_num(FILE *fp, double v, const char *fmt) {
    char b[64] = "";
    if (isfinite(v)) snprintf(b, sizeof b, fmt, v);
    put_field(fp, b, 0);
}
static void put_int(FILE *fp, long long v) {
    char b[32] = "";
    if (v >= 0) snprintf(b, sizeof b, "%lld", v);
    put_field(fp, b, 0);
}

// The row as one line, written with one fwrite and flushed. 0 or -1.
static int write_row(const CapRun *run, const CapRow *r) {
    char *line = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&line, &len);
    if (!fp) return -1;
    const int timed = r->b > 0 && !strcmp(r->status, "ok");
    put_field(fp, run->m.name, 1);
    put_field(fp, strategy_name(r->st), 0);
    put_int(fp, r->sh.prompt_len);
    put_int(fp, r->sh.completion_len);
    put_int(fp, r->sh.k);
    put_num(fp, (double)run->budget / 1e9, "%.4f");
    put_field(fp, run->budget_from, 0);
    put_field(fp, r->recompute[0] ? r->recompute : capacity_policy_name(&run->so), 0);
    put_field(fp, run->so.attention, 0);
    put_field(fp, r->status, 0);
    put_int(fp, r->b >= 0 ? r->b : r->cap.b);
    put_int(fp, r->cap.b);
    put_int(fp, (long long)(r->b >= 0 ? r->b : r->cap.b) * r->sh.k);
    put_field(fp, capacity_limit_name(r->cap.limit), 0);
    put_int(fp, r->cap.slots);
    put_num(fp, (double)r->cap.peak / 1e9, "%.6f");
    put_num(fp, r->cap.peak_next ? (double)r->cap.peak_next / 1e9 : NAN, "%.6f");
    put_num(fp, r->gpu_plan_gb, "%.6f");
    put_num(fp, r->measured_gb, "%.6f");
    put_num(fp, r->driver_gb, "%.6f");
    put_num(fp, timed ? r->ms.median_ms : NAN, "%.3f");
    put_num(fp, timed ? r->ms.min_ms : NAN, "%.3f");
    put_num(fp, timed ? r->ms.iqr_ms : NAN, "%.3f");
    put_int(fp, timed ? r->ms.reps : -1);
    put_num(fp, timed ? r->cps : NAN, "%.6g");
    put_num(fp, timed ? r->tps : NAN, "%.6g");
    put_num(fp, timed ? r->tflops : NAN, "%.6g");
    put_num(fp, timed ? r->hw_tflops : NAN, "%.6g");
    put_num(fp, timed ? r->loss : NAN, "%.9g");
    put_field(fp, r->note, 0);
    put_field(fp, run->b ? run->b->device : "host", 0);
    put_field(fp, run->gpu, 0);
    put_field(fp, run->versions, 0);
    put_field(fp, pb_build_commit(), 0);
    put_field(fp, run->command, 0);
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    put_field(fp, when, 0);
    fputc('\n', fp);
    int bad = ferror(fp);
    if (fclose(fp) || bad) { free(line); return -1; }
    int rc = write(fileno(run->csv), line, len) == (ssize_t)len ? 0 : -1; // one write(): whole rows only
    free(line);
    return rc;
}

// Opens the CSV to append (as `bench plan --out`: several runs, e.g. cells split over commands,
// go into one file), writing the header when the file is new; makes the file's folder when it is
// missing. NULL with the reason in why: cannot open, or the file holds another header.
static FILE *open_csv(const char *path, char *why, size_t len) {
    char dir[4096], first[sizeof CAPACITY_CSV_HEADER + 2] = "";
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    snprintf(why, len, "cannot write it");
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0777) && errno != EEXIST) return NULL;
    }
    FILE *fp = fopen(path, "a+");
    if (!fp) return NULL;
    rewind(fp);
    if (fgets(first, sizeof first, fp) && strcmp(first, CAPACITY_CSV_HEADER "\n")) {
        snprintf(why, len, "it holds another header than bench capacity's");
        fclose(fp);
        return NULL;
    }
    fseek(fp, 0, SEEK_END);
    if (ftell(fp) == 0 && (fprintf(fp, "%s\n", CAPACITY_CSV_HEADER) < 0 || fflush(fp))) { fclose(fp); return NULL; }
    return fp;
}

/* ---- timing at capacity ------------------------------------------------------------------- */

typedef struct TimeCtx { const StepBackend *b; Step *s; } TimeCtx;

static PbStatus step_once(void *ctx, int timed, double *ms, double *loss, char *err, size_t errlen) {
    TimeCtx *c = ctx;
    (void)timed;
    return c->b->run(c->s, ms, loss, err, errlen);
}

// Prepares, times and measures B prompts on the run's device. The step's status.
static PbStatus time_b(const CapRun *run, CapRow *r, int b, uint64_t seed, char *err, size_t errlen) {
    Layout l;
    if (capacity_layout(&run->m, &r->sh, b, r->st, seed, &l, err, errlen)) return PB_ERROR;
    double *samples = malloc((size_t)run->mc.max_reps * sizeof *samples);
    PbStatus rc = samples ? run->b->prepare(run->s, &l, err, errlen) : PB_ERROR;
    if (!samples) snprintf(err, errlen, "out of host memory");
    double loss = NAN;
    if (rc == PB_OK)
        rc = measure_run(&run->mc, step_once, &(TimeCtx){run->b, run->s}, samples, &r->ms, &loss, NULL, err, errlen);
    if (rc == PB_OK && !isfinite(loss)) { snprintf(err, errlen, "non-finite loss %g", loss); rc = PB_ERROR; }
    StepMemory mem = {0};
    unsigned char levels[PB_MODEL_MAX_LAYERS] = {0}; // what ran (RecomputeLevel per layer): its hardware FLOPs
    if (rc == PB_OK) run->b->memory(run->s, &mem);
    if (rc == PB_OK && run->b->recompute) run->b->recompute(run->s, levels, r->recompute, sizeof r->recompute);
    if (samples) run->b->release(run->s);
    free(samples);
    if (rc == PB_OK) {
        const double s = r->ms.median_ms * 1e-3;
        r->loss = loss;
        r->gpu_plan_gb = (double)mem.predicted / 1e9;
        r->measured_gb = (double)mem.allocated / 1e9;
        r->driver_gb = mem.driver_used ? (double)mem.driver_used / 1e9 : NAN;
        // completions and the tokens of their logical sequences [P, c] trained per second: the
        // same work whatever the layout, so strategies compare by these directly
        r->cps = (double)b * r->sh.k / s;
        r->tps = (double)b * r->sh.k * (double)(r->sh.prompt_len + r->sh.completion_len) / s;
        r->tflops = model_flops(&run->m, l.n_slots, l.attn_pairs, l.n_loss_rows).total / s * 1e-12;
        r->hw_tflops = model_hw_flops(&run->m, levels, l.n_slots, l.attn_pairs, l.n_loss_rows) / s * 1e-12;
    }
    layout_free(&l);
    return rc;
}

// Times the row at its planned B, one less after an oom (CAPACITY_OOM_RETRIES). The status.
static PbStatus time_row(const CapRun *run, CapRow *r, uint64_t seed) {
    char err[400] = "";
    PbStatus rc = PB_NO_MEMORY;
    for (int b = r->cap.b; b >= 1 && b > r->cap.b - 1 - CAPACITY_OOM_RETRIES && rc == PB_NO_MEMORY; b--) {
        r->b = b;
        rc = time_b(run, r, b, seed, err, sizeof err);
        if (rc == PB_NO_MEMORY) fprintf(stderr, "  %-6s B = %d: oom on the device: %s\n", strategy_name(r->st), b, err);
    }
    if (rc == PB_OK && r->b < r->cap.b)
        snprintf(r->note, sizeof r->note, "the plan's B = %d did not fit on the device; timed at %d", r->cap.b, r->b);
    if (rc != PB_OK) {
        snprintf(r->status, sizeof r->status, "%s", rc == PB_NO_MEMORY ? "oom" : "error");
        snprintf(r->note, sizeof r->note, "%s", err);
        return rc;
    }
    snprintf(r->status, sizeof r->status, "ok");
    return PB_OK;
}

// On the CPU, B prompts must be within its budget (budget.h) unless --force. 1 within, 0 not (reason in r).
static int within_cpu_budget(const CapRun *run, CapRow *r) {
    if (strcmp(run->b->device, "cpu") || run->o->force) return 1;
    Cell c;
    CellCost cost;
    if (cell_make_uniform(0, r->cap.b, r->sh.k, r->sh.prompt_len, r->sh.completion_len, &c)) return 1;
    int rc = budget_cpu_cell(&run->m, &c, 1u << r->st, &cost);
    cell_free(&c);
    if (rc || (cost.bytes <= PB_CPU_MAX_BYTES && cost.flop <= PB_CPU_MAX_FLOP)) return 1;
    snprintf(r->status, sizeof r->status, "skipped");
    snprintf(r->note, sizeof r->note, "B = %d needs about %.3g GB and %.3g TFLOP per step on the cpu, over its budget "
             "(--force runs it)", r->cap.b, cost.bytes * 1e-9, cost.flop * 1e-12);
    return 0;
}

/* ---- the command -------------------------------------------------------------------------- */

// One strategy of one cell: searched, then timed where there is a device. The exit status.
static int run_row(const CapRun *run, CapRow *r, uint64_t seed) {
    char err[400];
    if (capacity_search(&run->m, &r->sh, r->st, &run->so, run->budget, &r->cap, err, sizeof err)) {
        fprintf(stderr, "bench capacity: %s\n", err);
        snprintf(r->status, sizeof r->status, "error");
        snprintf(r->note, sizeof r->note, "%s", err);
        return PB_EXIT_FAILED;
    }
    snprintf(r->status, sizeof r->status, "%s", run->b ? "ok" : "planned");
    if (r->cap.b == 0) {
        snprintf(r->status, sizeof r->status, "skipped");
        snprintf(r->note, sizeof r->note, "does not fit: one prompt plans %.6g GB, over the budget of %.6g GB",
                 (double)r->cap.peak / 1e9, (double)run->budget / 1e9);
    }
    fprintf(run->out, "  %-6s B = %5d (%d completions, %lld slots): plan %.6g GB", strategy_name(r->st), r->cap.b,
            r->cap.b * r->sh.k, (long long)r->cap.slots, (double)r->cap.peak / 1e9);
    if (r->cap.peak_next) fprintf(run->out, ", B + 1 plans %.6g GB", (double)r->cap.peak_next / 1e9);
    else if (r->cap.b) fprintf(run->out, ", bounded by %s", capacity_limit_name(r->cap.limit));
    fprintf(run->out, "%s%s\n", r->cap.b ? "" : ": skipped, ", r->cap.b ? "" : "even one prompt does not fit");
    if (!run->b || r->cap.b == 0 || !within_cpu_budget(run, r)) return PB_EXIT_OK;
    fprintf(stderr, "  %-6s timing B = %d ...\n", strategy_name(r->st), r->cap.b);
    PbStatus rc = time_row(run, r, seed);
    if (rc == PB_OK)
        fprintf(run->out, "         timed at B = %d: %.1f ms (min %.1f, %d reps), %.4g completions/s, %.4g tokens/s, "
                "%.4g TFLOP/s, plan %.6g GB, measured %.6g GB\n", r->b, r->ms.median_ms, r->ms.min_ms, r->ms.reps,
                r->cps, r->tps, r->tflops, r->gpu_plan_gb, r->measured_gb);
    else
        fprintf(run->out, "         %s: %s\n", r->status, r->note);
    return rc == PB_OK || rc == PB_NO_MEMORY ? PB_EXIT_OK : rc == PB_DEVICE_ERROR ? PB_EXIT_DEVICE : PB_EXIT_FAILED;
}

// A cell of prompts and completions is a two-level forest, whose tree layout is the prefix
// layout (DESIGN.md section 7): tree's row is prefix's, not searched or timed again.
static void same_as_prefix(FILE *out, const CapRow *prefix, CapRow *tree) {
    *tree = *prefix;
    tree->st = STRATEGY_TREE;
    if (!tree->note[0]) snprintf(tree->note, sizeof tree->note, "two levels: the tree layout is prefix's (its row)");
    fprintf(out, "  %-6s two levels: the prefix layout (as above)\n", strategy_name(STRATEGY_TREE));
}

// prefix over padded (the two rows of the cell, when both have them): B and completions/s.
static void print_ratios(FILE *out, const CapRow rows[STRATEGY_COUNT], unsigned strategies) {
    const unsigned want = (1u << STRATEGY_PADDED) | (1u << STRATEGY_PREFIX);
    if ((strategies & want) != want) return;
    const CapRow *pad = &rows[STRATEGY_PADDED], *pre = &rows[STRATEGY_PREFIX];
    if (pad->cap.b <= 0 || pre->cap.b <= 0) return;
    fprintf(out, "  prefix / padded: B %.3fx", (double)pre->cap.b / pad->cap.b);
    if (!strcmp(pad->status, "ok") && !strcmp(pre->status, "ok")) fprintf(out, ", completions/s %.3fx", pre->cps / pad->cps);
    fputc('\n', out);
}

// Strategies timed at the same B ran the same batch: their losses must agree (the sweep's
// check, DESIGN.md section 1). 0, or 1 with a line when they do not.
static int check_losses(FILE *out, const CapRow rows[STRATEGY_COUNT], double rtol) {
    int bad = 0;
    for (int a = 0; a < STRATEGY_COUNT; a++)
        for (int b = a + 1; b < STRATEGY_COUNT; b++) {
            const CapRow *x = &rows[a], *y = &rows[b];
            if (strcmp(x->status, "ok") || strcmp(y->status, "ok") || x->b != y->b) continue;
            double d = fabs(x->loss - y->loss) / fmax(fabs(x->loss), 1e-30);
            if (d <= rtol) continue;
            fprintf(out, "  LOSS CHECK mismatch: %s and %s at B = %d: %.9g vs %.9g (relative %.3g, tolerance %.1g)\n",
                    strategy_name(x->st), strategy_name(y->st), x->b, x->loss, y->loss, d, rtol);
            bad = 1;
        }
    return bad;
}

// The device and its step: --device cpu the reference, gpu (or none given, with a usable GPU) the
// GPU step, else none (plan only). 0, or an exit status with a line on stderr.
static int open_device(CapRun *run, const StepBackend *gpu, const CellSource *cells) {
    const char *dev = run->o->device;
    char err[700] = "";
    run->b = NULL;
    if (dev && !strcmp(dev, "gpu") && !gpu) {
        fprintf(stderr, "bench capacity: --device gpu: this build has no GPU step (CUDA not found at meson setup)\n");
        return PB_EXIT_FAILED;
    }
    const StepBackend *b = dev && !strcmp(dev, "cpu") ? &cpu_step_backend : gpu;
    if (!b) return 0;
    // the model and one prompt of every cell within the cpu's budget (each B is checked when timed)
    if (b == &cpu_step_backend && !run->o->force && budget_check_cpu(&run->m, cells, run->o->strategies, err, sizeof err)) {
        fprintf(stderr, "bench capacity: %s\n", err);
        return PB_EXIT_USAGE;
    }
    if (!(run->s = b->create(&run->m, &run->so, err, sizeof err))) {
        pb_one_line(err);
        if (dev) { fprintf(stderr, "bench capacity: --device %s: %s\n", dev, err); return PB_EXIT_FAILED; }
        fprintf(stderr, "bench capacity: not using the gpu (%s): planning only\n", err);
        return 0;
    }
    run->b = b;
    b->describe(run->s, run->gpu, sizeof run->gpu, run->versions, sizeof run->versions);
    const char *ran = b->attention ? b->attention(run->s) : "";
    if (ran[0]) run->so.attention = ran; // plan what runs (a build without cuDNN runs simple)
    return 0;
}

// The cells: --cells or a grid sweep's (capacity needs one length per prompt and completion).
static int make_cells(const CliOptions *o, const SweepConfig *sw, CellSource *cells) {
    char err[700];
    if (o->lengths || o->prompts > 0) {
        fprintf(stderr, "bench capacity: %s: capacity searches the number of prompts of uniform cells "
                "(--cells PxC or a grid sweep)\n", o->lengths ? "--lengths" : "--prompts");
        return PB_EXIT_USAGE;
    }
    if (!o->cells && sw->kind != SWEEP_GRID) {
        fprintf(stderr, "bench capacity: sweep %s is not a grid: give --cells PxC,...\n", sw->name);
        return PB_EXIT_USAGE;
    }
    if (o->cells ? cells_from_spec(o->cells, 1, sw->completions, cells, err, sizeof err)
                 : cells_from_sweep(sw, cells, err, sizeof err)) {
        fprintf(stderr, "bench capacity: %s\n", err);
        return PB_EXIT_USAGE;
    }
    return 0;
}

int capacity_main(int argc, char **argv, const CliOptions *o, const StepBackend *gpu, FILE *out) {
    CapRun run = {.o = o, .out = out};
    SweepConfig sw;
    CellSource cells;
    int failed = 0;
    const int on_cpu = o->device && !strcmp(o->device, "cpu");
    int rc = bench_load_configs(o, on_cpu ? "tiny" : "nll_2_qwen7b", &sw, &run.m);
    if (rc || (rc = make_cells(o, &sw, &cells))) return rc;
    bench_step_options(o, &run.so);
    if (!run.so.attention) run.so.attention = "cudnn";
    bench_measure_settings(o, &sw, !on_cpu, &run.mc);
    // the budget before the step exists: the device's free memory then is what the step may take
    run.budget = capacity_default_budget(o->memory_budget_gb, gpu && !on_cpu, &run.budget_from);
    run.so.memory_budget = run.budget; // the device's auto holds its plan to the same budget
    if ((rc = open_device(&run, gpu, &cells))) { cells_source_free(&cells); return rc; }
    char out_default[64];
    snprintf(out_default, sizeof out_default, "out/capacity-%s.csv", run.b ? run.b->device : "host");
    const char *path = o->out ? o->out : out_default;
    char *command = cli_command_line(argc, argv);
    run.command = command ? command : "";
    char why[80];
    if (!(run.csv = open_csv(path, why, sizeof why))) {
        char q[PB_QUOTE_BUF];
        fprintf(stderr, "bench capacity: --out %s: %s\n", pb_quote(path, PB_QUOTE_PATH, q, sizeof q), why);
        rc = PB_EXIT_USAGE;
    }
    if (!rc)
        fprintf(out, "capacity of %s at a budget of %.6g GB (%s), recompute %s, attention %s, %s\n", run.m.name,
                (double)run.budget / 1e9, run.budget_from, capacity_policy_name(&run.so), run.so.attention,
                run.b ? (strcmp(run.b->device, "gpu") ? "timed on the cpu (fp32 reference)" : "timed on the gpu")
                      : "planned on the host (no device: nothing timed)");
    for (int i = 0; !rc && i < cells.n; i++) {
        Cell c;
        if (cell_make(&cells, i, &c)) { fprintf(stderr, "bench capacity: out of memory\n"); rc = PB_EXIT_FAILED; break; }
        CapacityShape sh = {c.prompt_len, c.completion_len, c.k};
        cell_free(&c);
        fprintf(out, "cell %d x %d, %d completions per prompt\n", sh.prompt_len, sh.completion_len, sh.k);
        CapRow rows[STRATEGY_COUNT];
        for (int st = 0; st < STRATEGY_COUNT && !rc; st++) {
            rows[st] = (CapRow){.st = (Strategy)st, .sh = sh, .b = -1, .gpu_plan_gb = NAN, .measured_gb = NAN,
                                .driver_gb = NAN};
            if (!(o->strategies & (1u << st))) continue;
            int r = PB_EXIT_OK;
            if (st == STRATEGY_TREE && (o->strategies & (1u << STRATEGY_PREFIX)))
                same_as_prefix(out, &rows[STRATEGY_PREFIX], &rows[st]);
            else
                r = run_row(&run, &rows[st], run.so.seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(i + 1)));
            failed |= r == PB_EXIT_FAILED; // a failed row is recorded and the run goes on
            if (r == PB_EXIT_DEVICE) rc = r; // the device cannot be trusted after it: the run stops
            if (write_row(&run, &rows[st])) {
                fprintf(stderr, "bench capacity: cannot write a row to %s\n", path);
                rc = PB_EXIT_FAILED;
                break;
            }
        }
        print_ratios(out, rows, o->strategies);
        if (run.b) failed |= check_losses(out, rows, strcmp(run.b->device, "gpu") ? 1e-5 : 2e-2);
    }
    if (run.csv && fclose(run.csv) && !rc) { fprintf(stderr, "bench capacity: cannot write %s\n", path); rc = PB_EXIT_FAILED; }
    if (run.csv) fprintf(stderr, "bench capacity: rows in %s\n", path);
    if (run.b) run.b->destroy(run.s);
    free(command);
    cells_source_free(&cells);
    if (rc == PB_EXIT_DEVICE) fprintf(stderr, "bench capacity: device error: the run stops (exit %d)\n", rc);
    return rc ? rc : failed ? PB_EXIT_FAILED : PB_EXIT_OK;
}
