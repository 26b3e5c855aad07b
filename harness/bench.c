/*
 * bench.c: the packbench command behind main(). Loads the configs and makes the cell source
 * (cells are made one at a time later), checks the sizes (64-bit bounds) and, on the cpu, the
 * budget before anything is allocated; picks the device (gpu where gpu_step_backend.create
 * succeeds, else cpu with the tiny model and sweep); opens and locks the CSV (csv_out.h),
 * selects the cells (--shard, --resume: resume.h) and hands everything to run_sweep; or runs
 * `bench compare`, `bench plan` (plan.c) or `bench capacity` (capacity_run.c). Exit codes:
 * core/status.h (PB_EXIT_*), listed in cli_usage and the README; a usage error is one line on
 * stderr. Interrupted, the CSV stays valid: every row is one write().
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "budget.h"
#include "capacity_run.h"
#include "cli.h"
#include "compare.h"
#include "config.h"
#include "csv_out.h"
#include "estimate.h"
#include "lengths.h"
#include "plan.h"
#include "model_list.h"
#include "quote.h"
#include "resume.h"
#include "run.h"
#include "share_rule.h"

// The one global: set by the SIGINT handler, read between steps (a handler can reach no other).
static volatile sig_atomic_t stop_requested;

// First Ctrl-C: stop after the current step. Second: exit now (rows are single write()s, so
// the CSV holds whole rows whatever moment this lands).
static void on_sigint(int sig) {
    (void)sig;
    if (stop_requested) {
        static const char msg[] = "\nbench: interrupted again: exiting now\n";
        if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) _exit(130);
        _exit(130);
    }
    stop_requested = 1;
    static const char msg[] = "\nbench: interrupted: stopping after the current step (Ctrl-C again exits now)\n";
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) return;
}
static int list_configs(void) {
    char dir[4096];
    if (config_dir(dir, sizeof dir)) { fprintf(stderr, "bench: configs/ folder not found\n"); return 2; }
    char models[4200];
    snprintf(models, sizeof models, "%s/models", dir);
    if (model_list_print(models, stdout)) { fprintf(stderr, "bench: cannot read %s\n", models); return 2; }
    const char *kinds[1] = { "sweeps" };
    for (int k = 0; k < 1; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, kinds[k]);
        printf("%s (%s):\n", kinds[k], path);
        DIR *d = opendir(path);
        for (struct dirent *e; d && (e = readdir(d));) {
            size_t n = strlen(e->d_name);
            if (n > 5 && !strcmp(e->d_name + n - 5, ".conf")) printf("  %.*s\n", (int)(n - 5), e->d_name);
        }
        if (d) closedir(d);
    }
    printf("strategies:\n  padded\n  packed\n  prefix\n");
    return 0;
}

int bench_load_configs(const CliOptions *o, const char *default_sweep, SweepConfig *sw, ModelConfig *m) {
    char path[4200], err[600];
    if (config_find("sweeps", o->sweep ? o->sweep : default_sweep, path, sizeof path, err, sizeof err) ||
        config_load_sweep(path, sw, err, sizeof err)) {
        fprintf(stderr, "bench: %s\n", err);
        return 2;
    }
    if (config_find("models", o->model ? o->model : sw->model, path, sizeof path, err, sizeof err) ||
        config_load_model(path, m, err, sizeof err)) {
        fprintf(stderr, "bench: %s\n", err);
        return 2;
    }
    if (o->prompts > 0) sw->prompts = o->prompts;
    if (o->completions > 0) sw->completions = o->completions;
    return 0;
}

// The stopping rule (measure.h). On the cpu the noise target is off unless given (--noise):
// the fp32 reference is for correctness and tiny models, and its times on a shared host never
// get quiet, so they would all run to --max-reps.
void bench_measure_settings(const CliOptions *o, const SweepConfig *sw, int on_gpu, MeasureConfig *mc) {
    measure_defaults(mc);
    if (!on_gpu) mc->noise = 0;
    measure_override(mc, sw->min_reps ? sw->min_reps : -1, sw->max_reps ? sw->max_reps : -1, -1,
                     sw->min_time > 0 ? sw->min_time : -1, sw->max_time > 0 ? sw->max_time : -1);
    measure_override(mc, o->min_reps, o->max_reps, o->noise, o->min_time, o->max_time);
    if (o->warmup > 0) mc->warmup = o->warmup;
    mc->warmup_auto = o->warmup == 0;
}

void bench_step_options(const CliOptions *o, StepOptions *so) {
    *so = (StepOptions){ .seed = o->seed >= 0 ? (uint64_t)o->seed : 1, .attention = o->attention,
                         .prefix_attention = o->prefix_attention, .attention_phases = o->attention_phases,
                         .matmul_verbose = o->matmul_verbose, .mlp_chunk = o->mlp_chunk,
                         .gemm_select = o->gemm_select ? o->gemm_select : STEP_GEMM_SELECT_DEFAULT,
                         .profile = o->profile, .recompute = o->recompute,
                         .memory_budget = o->memory_budget_gb > 0 ? (size_t)(o->memory_budget_gb * 1e9) : 0 };
}

// The cells of the run (--lengths, --cells or the sweep's, with the overrides), size-checked. 0 or 2.
int bench_make_cells(const CliOptions *o, const SweepConfig *sw, CellSource *cells) {
    char err[700];
    if (o->cells && o->lengths) {
        fprintf(stderr, "bench: --cells and --lengths both give the cells: use one\n");
        return 2;
    }
    if (o->lengths ? lengths_read(o->lengths, cells, err, sizeof err)
        : o->cells ? cells_from_spec(o->cells, sw->prompts, sw->completions, cells, err, sizeof err)
                   : cells_from_sweep(sw, cells, err, sizeof err)) {
        fprintf(stderr, "bench: %s\n", err);
        return 2;
    }
    if (cells_check_size(cells, NULL, NULL, err, sizeof err)) {
        fprintf(stderr, "bench: %s\n", err);
        cells_source_free(cells);
        return 2;
    }
    return 0;
}

// Picks the device and creates its step, after the configs and cells are loaded and checked
// (the cpu budget before the cpu allocates anything). 0, 1 (no usable device), or 2 (config
// error, over the budget).
static int pick_device(const CliOptions *o, const StepBackend *gpu, const StepBackend **b, Step **step,
                       SweepConfig *sw, ModelConfig *m, CellSource *cells) {
    StepOptions so;
    bench_step_options(o, &so);
    char err[700] = "";
    int rc;
    if (gpu && (!o->device || !strcmp(o->device, "gpu"))) {
        if ((rc = bench_load_configs(o, "nll_2_qwen7b", sw, m)) || (rc = bench_make_cells(o, sw, cells))) return rc;
        *step = gpu->create(m, &so, err, sizeof err);
        if (*step) { *b = gpu; return 0; }
        cells_source_free(cells);
        if (o->device) { pb_one_line(err); fprintf(stderr, "bench: --device gpu: %s\n", err); return 1; }
        pb_one_line(err);
        fprintf(stderr, "bench: not using the gpu (%s): running on the cpu\n", err);
    }
    if (!gpu && o->device && !strcmp(o->device, "gpu")) {
        fprintf(stderr, "bench: --device gpu: this build has no GPU step (CUDA not found at meson setup)\n");
        return 1;
    }
    if ((rc = bench_load_configs(o, "tiny", sw, m)) || (rc = bench_make_cells(o, sw, cells))) return rc;
    if (!o->force && budget_check_cpu(m, cells, o->strategies, err, sizeof err)) {
        fprintf(stderr, "bench: %s\n", err);
        cells_source_free(cells);
        return 2;
    }
    *step = cpu_step_backend.create(m, &so, err, sizeof err);
    if (!*step) { pb_one_line(err); fprintf(stderr, "bench: cpu: %s\n", err); cells_source_free(cells); return 1; }
    *b = &cpu_step_backend;
    return 0;
}

// The cells to run: this shard's, less (with --resume) those rows already hold. *selected:
// malloc'd indices. Cells are made one at a time to be matched, then freed. 0 or 1.
static int select_cells(const CliOptions *o, const CellSource *cells, const ResumeKey *k, const ResultRow *rows,
                        size_t n_rows, const char *shown, int **selected, int *n_selected) {
    *n_selected = 0;
    *selected = malloc((size_t)(cells->n ? cells->n : 1) * sizeof **selected);
    if (!*selected) { fprintf(stderr, "bench: out of memory\n"); return 1; }
    int counts[RESUME_REASON_COUNT] = {0}, in_shard = 0;
    for (int i = 0; i < cells->n; i++) {
        if (o->shard_n > 1 && i % o->shard_n != o->shard_i) continue;
        in_shard++;
        if (o->resume) {
            Cell c;
            if (cell_make(cells, i, &c)) { fprintf(stderr, "bench: out of memory for cell %d\n", i); return 1; }
            ResumeReason why = resume_classify(&c, k, rows, n_rows);
            cell_free(&c);
            counts[why]++;
            if (why == RESUME_DONE) continue;
        }
        (*selected)[(*n_selected)++] = i;
    }
    if (o->resume) resume_report(stderr, shown, counts, in_shard, k);
    return 0;
}

int bench_main(int argc, char **argv, const StepBackend *gpu) {
    CliOptions o;
    char err[1000];
    if (cli_parse(argc, argv, &o, err, sizeof err)) {
        fprintf(stderr, "bench: %s (see --help)\n", err);
        return PB_EXIT_USAGE;
    }
    if (o.action == CLI_HELP) { cli_usage(stdout); return 0; }
    if (o.action == CLI_LIST) return list_configs();
    if (o.action == CLI_COMPARE) return compare_main(o.compare_argc, o.compare_argv, stdout);
    if (o.action == CLI_PLAN) return plan_main(&o, gpu, stdout);
    if (o.action == CLI_ESTIMATE) return estimate_main(&o, stdout);
    if (o.action == CLI_CAPACITY) return capacity_main(argc, argv, &o, gpu, stdout);

    RunPlan p = { .progress = stderr, .table = stdout };
    SweepConfig sw;
    CellSource cells;
    int rc = pick_device(&o, gpu, &p.backend, &p.step, &sw, &p.model, &cells);
    if (rc) return rc;
    int on_gpu = !strcmp(p.backend->device, "gpu");
    char sweep_name[80], out_default[200], lengths_stem[64] = "";
    if (o.lengths) { // the file's name without folder and .csv
        const char *b = strrchr(o.lengths, '/');
        snprintf(lengths_stem, sizeof lengths_stem, "%s", b ? b + 1 : o.lengths);
        char *dot = strrchr(lengths_stem, '.');
        if (dot && dot != lengths_stem) *dot = '\0';
    }
    snprintf(sweep_name, sizeof sweep_name, "%s", o.lengths ? lengths_stem : o.cells ? "cells" : sw.name);
    snprintf(out_default, sizeof out_default, "out/%s-%s.csv", sweep_name, p.backend->device);
    const char *out = o.out ? o.out : out_default;
    p.seed = o.seed >= 0 ? (uint64_t)o.seed : 1;
    CsvOut csv;
    ResultRow *done = NULL;
    size_t n_done = 0;
    int *selected = NULL;
    char *command = NULL;
    rc = csv_out_open(&csv, out, o.resume, stderr, &done, &n_done, err, sizeof err);
    if (rc) fprintf(stderr, "bench: %s\n", err);
    ResumeKey key = { p.model.name, o.strategies, p.seed, p.backend->device,
                      p.backend->attention ? p.backend->attention(p.step) : "",
                      o.prefix_attention ? o.prefix_attention : "auto",
                      on_gpu ? (o.gemm_select ? o.gemm_select : STEP_GEMM_SELECT_DEFAULT) : "", o.recompute,
                      o.memory_budget_gb, o.prefix_share ? o.prefix_share : "auto" };
    if (!rc) rc = select_cells(&o, &cells, &key, done, n_done, csv.shown, &selected, &p.n_selected);
    resume_seed_warmup(&key, done, n_done, p.warm_start); // the rows kept are this sweep's earlier cells
    p.pace_start = resume_pace(&key, done, n_done);
    results_rows_free(done, n_done);
    if (!rc && !(command = cli_command_line(argc, argv))) { fprintf(stderr, "bench: out of memory\n"); rc = 1; }
    if (!rc) {
        p.cells = &cells;
        p.selected = selected;
        p.csv = &csv;
        p.sweep_name = sweep_name;
        p.strategies = o.strategies;
        bench_measure_settings(&o, &sw, on_gpu, &p.measure);
        p.loss_rtol = on_gpu ? 2e-2 : 1e-5;
        p.command = command;
        p.gemm_select = on_gpu ? (o.gemm_select ? o.gemm_select : STEP_GEMM_SELECT_DEFAULT) : NULL;
        p.profile = o.profile;
        PrefixShareMode share_mode = PREFIX_SHARE_AUTO;
        prefix_share_mode_parse(o.prefix_share, &share_mode); // the CLI took auto or always only
        p.share = share_rule(&p.model, share_mode);
        p.recompute = o.recompute;
        p.memory_budget_gb = o.memory_budget_gb;
        p.time_limit_s = o.time_limit;
        if (o.profile && !p.backend->profile)
            fprintf(stderr, "bench: --profile: the %s step has no profiler (ignored)\n", p.backend->device);
        fprintf(stderr, "bench: %s on %s, sweep %s: %d cells -> %s\n", p.model.name, p.backend->device, sweep_name,
                p.n_selected, csv.shown);
        struct sigaction sa = { .sa_handler = on_sigint };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        rc = run_sweep(&p, &stop_requested);
        fprintf(stderr, "bench: results in %s\n", csv.shown);
    }
    if (csv_out_close(&csv, err, sizeof err)) { fprintf(stderr, "bench: %s\n", err); rc = rc ? rc : 1; }
    free(command);
    free(selected);
    cells_source_free(&cells);
    p.backend->destroy(p.step);
    return rc;
}
