/*
 * test_capacity_gpu: `bench capacity` on the GPU (suite gpu; exit 77 without one).
 *   1. The host's capacity is the device's: for the tiny model (0.0855 GB budget) and
 *      Qwen2.5-0.5B (12 GB), cells of K = 2 and 4, padded / packed / prefix: the B the host
 *      search answers prepares on the GPU (PB_OK), the step's own plan (with the attention
 *      backend's figures, cuDNN's workspace included) equals the host's peak and is within
 *      the budget, what was allocated equals it, and the step's loss is finite.
 *   2. Without --memory-budget the budget is the device's free memory less the margin.
 *   3. The command end to end: `bench capacity --device gpu` on the tiny model writes one row
 *      per strategy with status ok, the timed B equal to the plan's, device gpu, the device's
 *      planned and allocated peaks within the budget, and completions/s = B K / median.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pb_config.h"

#include "../../harness/bench.h"
#include "../../harness/capacity.h"
#include "../../harness/config.h"
#include "../../gpu/recompute_plan.h"
#include "../gpu_test.h"
#include "../test_util.h"

// configs/ as packbench finds it (beside the binary, else the source tree): the test runs from
// a copy of the build on the GPU machine, where the source tree's path may not exist
static void model_path(const char *name, char *path, size_t len) {
    char dir[900];
    if (config_dir(dir, sizeof dir)) { printf("configs/ folder not found\n"); exit(1); }
    snprintf(path, len, "%s/models/%s.conf", dir, name);
}

static void load(const char *name, ModelConfig *m) {
    char path[1024], err[600] = "";
    model_path(name, path, sizeof path);
    if (config_load_model(path, m, err, sizeof err)) { printf("cannot load %s: %s\n", name, err); exit(1); }
}

static void host_is_device(const char *model, double budget_gb, const CapacityShape *sh, int n_shapes) {
    ModelConfig m;
    load(model, &m);
    StepOptions so = {.seed = 1, .gemm_select = "heuristic"};
    char err[600] = "";
    Step *s = gpu_step_backend.create(&m, &so, err, sizeof err);
    CHECK(s != NULL, "%s: create: %s", model, err);
    if (!s) return;
    so.attention = gpu_step_backend.attention(s); // plan what runs
    const size_t budget = (size_t)(budget_gb * 1e9);
    for (int i = 0; i < n_shapes; i++)
        for (int st = STRATEGY_PADDED; st <= STRATEGY_PREFIX; st++) {
            CapacityResult r;
            CHECK(capacity_search(&m, &sh[i], (Strategy)st, &so, budget, &r, err, sizeof err) == 0, "search: %s", err);
            const char *what = strategy_name((Strategy)st);
            CHECK(r.b >= 1, "%s %s %dx%d K=%d: B = %d at %.4g GB", model, what, sh[i].prompt_len, sh[i].completion_len,
                  sh[i].k, r.b, budget_gb);
            if (r.b < 1) continue;
            Layout l;
            CHECK(capacity_layout(&m, &sh[i], r.b, (Strategy)st, 3, &l, err, sizeof err) == 0, "layout: %s", err);
            PbStatus rc = gpu_step_backend.prepare(s, &l, err, sizeof err);
            CHECK(rc == PB_OK, "%s %s B = %d: prepare: %s", model, what, r.b, err);
            double ms = 0, loss = NAN;
            StepMemory mem = {0};
            if (rc == PB_OK) {
                gpu_step_backend.memory(s, &mem);
                rc = gpu_step_backend.run(s, &ms, &loss, err, sizeof err);
                CHECK(rc == PB_OK && isfinite(loss), "%s %s B = %d: run: %s loss %g", model, what, r.b, err, loss);
                gpu_step_backend.release(s);
            }
            printf("%s %s %dx%d K=%d: B = %d, host plan %.6f GB, device plan %.6f GB, allocated %.6f GB, %.1f ms\n",
                   model, what, sh[i].prompt_len, sh[i].completion_len, sh[i].k, r.b, r.peak / 1e9, mem.predicted / 1e9,
                   mem.allocated / 1e9, ms);
            CHECK(mem.predicted == r.peak, "%s %s: device plan %zu != host plan %zu (the host's B is not the device's)",
                  model, what, mem.predicted, r.peak);
            CHECK(mem.predicted <= budget && mem.allocated == mem.predicted, "%s %s: plan %zu, allocated %zu, budget %zu",
                  model, what, mem.predicted, mem.allocated, budget);
            layout_free(&l);
        }
    gpu_step_backend.destroy(s);
}

// The command on the GPU, its CSV read back (the first 28 fields hold no comma).
static void command_end_to_end(void) {
    char out[] = "/tmp/test_capacity_gpu_XXXXXX", csv[600], model[1024];
    CHECK(mkdtemp(out) != NULL, "mkdtemp");
    snprintf(csv, sizeof csv, "%s/cap.csv", out);
    model_path("tiny", model, sizeof model);
    char *argv[] = {"bench", "capacity", "--device", "gpu", "--model", model, "--cells", "16x8,5x40", "--completions", "2",
                    "--strategy", "padded,packed,prefix", "--memory-budget", "0.0855", "--min-reps", "2", "--min-time", "0",
                    "--out", csv, NULL};
    int rc = bench_main((int)(sizeof argv / sizeof argv[0]) - 1, argv, &gpu_step_backend);
    CHECK(rc == 0, "bench capacity --device gpu: exit %d", rc);
    FILE *fp = fopen(csv, "r");
    CHECK(fp != NULL, "no CSV %s", csv);
    char line[8192];
    int rows = 0;
    while (fp && fgets(line, sizeof line, fp)) {
        if (!strncmp(line, "model,", 6)) continue;
        char *f[29], *save = NULL;
        int n = 0;
        for (char *t = strtok_r(line, ",", &save); t && n < 29; t = strtok_r(NULL, ",", &save)) f[n++] = t;
        if (n < 28) { CHECK(0, "short row"); continue; }
        rows++;
        // 10 status, 11 batch_size, 12 plan_batch_size, 13 completions, 18 gpu_plan_gb, 19 measured_gb, 21 median_ms, 25 completions_per_s
        double budget = atof(f[5]), b = atof(f[10]), med = atof(f[20]), cps = atof(f[24]);
        CHECK(!strcmp(f[9], "ok") && b >= 1 && !strcmp(f[10], f[11]) && atof(f[12]) == 2 * b,
              "row %d: status %s B %s plan B %s completions %s", rows, f[9], f[10], f[11], f[12]);
        CHECK(atof(f[17]) <= budget && atof(f[18]) <= budget, "row %d: device plan %s / allocated %s over %s GB", rows,
              f[17], f[18], f[5]);
        CHECK(med > 0 && fabs(cps - 2 * b / (med * 1e-3)) <= 1e-3 * cps, "row %d: %g completions/s, B %g, %g ms", rows, cps,
              b, med);
    }
    if (fp) fclose(fp);
    CHECK(rows == 6, "want 6 rows (2 cells x 3 strategies), got %d", rows);
    unlink(csv);
    rmdir(out);
}

int main(void) {
    gpu_test_require("test_capacity_gpu");
    // the default budget with a GPU: its free memory less the margin
    const char *from = "";
    size_t free_b = 0, total_b = 0, budget = capacity_default_budget(-1, 1, &from);
    CHECK(cudaMemGetInfo(&free_b, &total_b) == cudaSuccess, "cudaMemGetInfo");
    CHECK(!strcmp(from, "device") && budget + GPU_RECOMPUTE_MARGIN <= total_b &&
          budget + GPU_RECOMPUTE_MARGIN + ((size_t)1 << 28) >= free_b, "default budget %zu (%s), free %zu, total %zu",
          budget, from, free_b, total_b);
    const CapacityShape tiny[] = {{16, 8, 2}, {5, 40, 2}, {64, 32, 4}};
    host_is_device("tiny", 0.0855, tiny, 3);
    const CapacityShape small[] = {{512, 512, 2}, {2048, 128, 4}};
    host_is_device("qwen2.5-0.5b", 12.0, small, 2);
    command_end_to_end();
    return test_finish("test_capacity_gpu");
}
