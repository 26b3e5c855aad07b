/*
 * bench.c: the packbench command behind main(). Picks the device (gpu where gpu_step_backend.create
 * succeeds, else cpu with the tiny model and sweep), loads the configs, selects the cells
 * (--cells, --shard, --resume), opens the CSV and hands everything to run_sweep; or runs
 * `bench compare`, or `bench plan` (plan.c). Exit codes: core/status.h (PB_EXIT_*), listed in cli_usage and the README; a
 * usage error is one line on stderr. Interrupted, the CSV stays valid: rows are written whole.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"
#include "cli.h"
#include "compare.h"
#include "config.h"
#include "plan.h"
#include "run.h"

// The one global: set by the SIGINT handler, read between steps (a handler can reach no other).
static volatile sig_atomic_t stop_requested;

static void on_sigint(int sig) { (void)sig; stop_requested = 1; }

static int list_configs(void) {
    char dir[4096];
    if (config_dir(dir, sizeof dir)) { fprintf(stderr, "bench: configs/ folder not found\n"); return 2; }
    const char *kinds[2] = { "models", "sweeps" };
    for (int k = 0; k < 2; k++) {
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

static int make_parent_dir(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = '\0';
    if (mkdir(dir, 0777) && errno != EEXIST) return -1;
    return 0;
}

// --resume: drops cells already in the CSV; checks its header is ours. 0, or 2 on bad input.
static int drop_done_cells(const char *out, const ModelConfig *m, CellList *cells, int *exists) {
    FILE *fp = fopen(out, "r");
    *exists = fp != NULL;
    if (!fp) return 0;
    char line[8192], header[4096];
    results_header(header, sizeof header);
    int same = fgets(line, sizeof line, fp) && !strncmp(line, header, strlen(header)) && line[strlen(header)] == '\n';
    fclose(fp);
    if (!same) { fprintf(stderr, "bench: --resume: %s has another header (not written by this version)\n", out); return 2; }
    ResultRow *rows;
    size_t n;
    char err[600];
    if (results_read(out, &rows, &n, err, sizeof err)) { fprintf(stderr, "bench: --resume: %s\n", err); return 2; }
    int kept = 0;
    for (int i = 0; i < cells->n; i++) {
        if (cell_done(&cells->cells[i], m->name, rows, n)) {
            free(cells->cells[i].prompt_lens);
            free(cells->cells[i].comp_lens);
        } else {
            cells->cells[kept++] = cells->cells[i];
        }
    }
    fprintf(stderr, "bench: --resume: %d of %d cells already in %s\n", cells->n - kept, cells->n, out);
    cells->n = kept;
    free(rows);
    return 0;
}

static void keep_shard(CellList *cells, int shard_i, int shard_n) {
    int kept = 0;
    for (int i = 0; i < cells->n; i++) {
        if (cell_in_shard(&cells->cells[i], shard_i, shard_n)) cells->cells[kept++] = cells->cells[i];
        else { free(cells->cells[i].prompt_lens); free(cells->cells[i].comp_lens); }
    }
    cells->n = kept;
}

static void measure_settings(const CliOptions *o, const SweepConfig *sw, MeasureConfig *mc) {
    measure_defaults(mc);
    if (sw->min_reps) mc->min_reps = sw->min_reps;
    if (sw->max_reps) mc->max_reps = sw->max_reps;
    if (sw->min_time > 0) mc->min_time = sw->min_time;
    if (sw->max_time > 0) mc->max_time = sw->max_time;
    if (o->min_reps > 0) mc->min_reps = o->min_reps;
    if (o->min_time >= 0) mc->min_time = o->min_time;
    if (o->max_time >= 0) mc->max_time = o->max_time;
    if (mc->max_reps < mc->min_reps) mc->max_reps = mc->min_reps;
    if (mc->max_time < mc->min_time) mc->max_time = mc->min_time;
}

// Picks the device and creates its step. 0, 1 (no usable device), or 2 (config error).
static int pick_device(const CliOptions *o, const StepBackend *gpu, const StepBackend **b, Step **step,
                       SweepConfig *sw, ModelConfig *m) {
    StepOptions so = { .seed = o->seed >= 0 ? (uint64_t)o->seed : 1, .attention = o->attention,
                       .prefix_attention = o->prefix_attention, .attention_phases = o->attention_phases,
                       .checkpoint = 1, .matmul_verbose = o->matmul_verbose, .mlp_chunk = o->mlp_chunk };
    char err[600] = "";
    int rc;
    if (gpu && (!o->device || !strcmp(o->device, "gpu"))) {
        if ((rc = bench_load_configs(o, "nll_2_qwen7b", sw, m))) return rc;
        *step = gpu->create(m, &so, err, sizeof err);
        if (*step) { *b = gpu; return 0; }
        if (o->device) { fprintf(stderr, "bench: --device gpu: %s\n", err); return 1; }
        fprintf(stderr, "bench: not using the gpu (%s): running on the cpu\n", err);
    }
    if (!gpu && o->device && !strcmp(o->device, "gpu")) {
        fprintf(stderr, "bench: --device gpu: this build has no GPU step (CUDA not found at meson setup)\n");
        return 1;
    }
    if ((rc = bench_load_configs(o, "tiny", sw, m))) return rc;
    *step = cpu_step_backend.create(m, &so, err, sizeof err);
    if (!*step) { fprintf(stderr, "bench: cpu: %s\n", err); return 1; }
    *b = &cpu_step_backend;
    return 0;
}

int bench_main(int argc, char **argv, const StepBackend *gpu) {
    CliOptions o;
    char err[600];
    if (cli_parse(argc, argv, &o, err, sizeof err)) {
        fprintf(stderr, "bench: %s (see --help)\n", err);
        return PB_EXIT_USAGE;
    }
    if (o.action == CLI_HELP) { cli_usage(stdout); return 0; }
    if (o.action == CLI_LIST) return list_configs();
    if (o.action == CLI_COMPARE) return compare_main(o.compare_argc, o.compare_argv, stdout);
    if (o.action == CLI_PLAN) return plan_main(&o, gpu, stdout);

    RunPlan p = { .progress = stderr, .table = stdout };
    SweepConfig sw;
    int rc = pick_device(&o, gpu, &p.backend, &p.step, &sw, &p.model);
    if (rc) return rc;
    int on_gpu = !strcmp(p.backend->device, "gpu");
    if (o.cells ? sweep_cells_parse(o.cells, sw.prompts, sw.completions, &p.cells, err, sizeof err)
                : sweep_cells(&sw, &p.cells, err, sizeof err)) {
        fprintf(stderr, "bench: %s\n", err);
        p.backend->destroy(p.step);
        return 2;
    }
    char sweep_name[80], out_default[200], command[4096];
    snprintf(sweep_name, sizeof sweep_name, "%s", o.cells ? "cells" : sw.name);
    snprintf(out_default, sizeof out_default, "out/%s-%s.csv", sweep_name, p.backend->device);
    const char *out = o.out ? o.out : out_default;
    keep_shard(&p.cells, o.shard_i, o.shard_n);
    int exists = 0;
    if (o.resume && (rc = drop_done_cells(out, &p.model, &p.cells, &exists))) {
        cells_free(&p.cells);
        p.backend->destroy(p.step);
        return rc;
    }
    if (make_parent_dir(out) || !(p.csv = fopen(out, exists ? "a" : "w")) || (!exists && results_write_header(p.csv))) {
        fprintf(stderr, "bench: cannot write %s: %s\n", out, strerror(errno));
        cells_free(&p.cells);
        p.backend->destroy(p.step);
        return 2;
    }
    cli_command_line(argc, argv, command, sizeof command);
    p.sweep_name = sweep_name;
    p.strategies = o.strategies;
    measure_settings(&o, &sw, &p.measure);
    p.seed = o.seed >= 0 ? (uint64_t)o.seed : 1;
    p.loss_rtol = on_gpu ? 2e-2 : 1e-5;
    p.command = command;
    fprintf(stderr, "bench: %s on %s, sweep %s: %d cells -> %s\n", p.model.name, p.backend->device, sweep_name, p.cells.n, out);
    struct sigaction sa = { .sa_handler = on_sigint };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    rc = run_sweep(&p, &stop_requested);
    if (fclose(p.csv)) { fprintf(stderr, "bench: cannot write %s\n", out); rc = rc ? rc : 1; }
    fprintf(stderr, "bench: results in %s\n", out);
    cells_free(&p.cells);
    p.backend->destroy(p.step);
    return rc;
}
