/*
 * step_smoke: the GPU step on Qwen2.5-7B (config built here), end to end.
 *   cells 128x128 and 2048x512 (prompt x completion, 3 prompts x 2 completions), each strategy:
 *   one warm-up step, then `reps` timed steps (median ms), the loss, predicted / allocated /
 *   driver GB; then the size table of the 16384x16384 cell per strategy (predicted; with
 *   --prepare-16k also prepared on the device to read the driver's figure, not run).
 * usage: step_smoke [attention] [--reps N] [--prepare-16k] [--run-16k] [--plan-only]
 * --run-16k: also one cold step of the padded 16k cell (implies --prepare-16k).
 * --plan-only needs no GPU: it prints the 16k size tables with the simple backend's bytes.
 * Not a test (no pass/fail beyond finite, equal-ish losses): a driver for the timing run.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../gpu/memory_plan.h"
#include "../../harness/step.h"
#include "../../kernels/cross_entropy.h"

static ModelConfig qwen25_7b(void) {
    ModelConfig m;
    memset(&m, 0, sizeof m);
    strcpy(m.name, "qwen2.5-7b");
    m.vocab = 152064; m.hidden = 3584; m.layers = 28; m.n_head = 28; m.n_kv_head = 4; m.head_dim = 128;
    m.mlp = 18944; m.rms_eps = 1e-6f; m.rope_theta = 1e6; m.tied_embeddings = 0;
    return m;
}

static int make_cell(GroupBatch *g, int p, int c) {
    int32_t pl[3] = {p, p, p}, cl[6] = {c, c, c, c, c, c};
    return groups_make(g, 3, 2, pl, cl, 152064, 42);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void print_plan_16k(const ModelConfig *m, Step *s, int prepare, int run_padded) {
    GroupBatch g;
    if (make_cell(&g, 16384, 16384) != 0) { printf("groups_make failed\n"); return; }
    for (int st = 0; st < STRATEGY_COUNT; st++) {
        Layout l;
        if (layout_build(&l, (Strategy)st, &g) != 0) { printf("layout_build failed\n"); continue; }
        GpuMemPlan plan;
        size_t attn_simple = l.n_slots * ((size_t)m->n_head * 4 + 4);
        gpu_memory_plan(m, &l, attn_simple, fused_ce_scratch_bytes(gpu_plan_ce_rows(&l), m->hidden, m->vocab), &plan);
        printf("16384x16384 %s: %zu slots, %zu loss rows; predicted %.3f GB (simple attention bytes)%s\n",
               strategy_name((Strategy)st), l.n_slots, l.n_loss, plan.total / 1e9, st == 0 ? ":" : "");
        if (st == 0) gpu_memory_plan_print(&plan, stdout); // the other strategies differ only in T
        if (prepare && s) {
            char err[256];
            int rc = gpu_step_backend.prepare(s, &l, err, sizeof err);
            StepMemory mem = {0, 0, 0};
            if (rc == STEP_OK) gpu_step_backend.memory(s, &mem);
            printf("  prepared on the device: rc %d%s%s, predicted %.2f GB, allocated %.2f GB, driver %.2f GB\n", rc,
                   rc ? ", " : "", rc ? err : "", mem.predicted / 1e9, mem.allocated / 1e9, mem.driver_used / 1e9);
            if (rc == STEP_OK && run_padded && st == STRATEGY_PADDED) { // one cold step: it fits, and its time
                double ms = 0, loss = NAN;
                rc = gpu_step_backend.run(s, &ms, &loss, err, sizeof err);
                gpu_step_backend.memory(s, &mem);
                printf("  one cold step: rc %d %s, %.0f ms, loss %.4f, driver %.2f GB\n", rc, rc ? err : "", ms, loss,
                       mem.driver_used / 1e9);
            }
            gpu_step_backend.release(s);
        }
        layout_free(&l);
    }
    groups_free(&g);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); // line by line, also into a log that a timeout cuts
    const char *attention = NULL;
    int reps = 3, prepare_16k = 0, run_16k = 0, plan_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--prepare-16k") == 0) prepare_16k = 1;
        else if (strcmp(argv[i], "--run-16k") == 0) prepare_16k = run_16k = 1;
        else if (strcmp(argv[i], "--plan-only") == 0) plan_only = 1;
        else attention = argv[i];
    }
    if (reps < 1 || reps > 100) reps = 3;
    ModelConfig m = qwen25_7b();
    if (plan_only) { print_plan_16k(&m, NULL, 0, 0); return 0; }

    char err[256] = "";
    StepOptions o = {.seed = 1, .attention = attention, .checkpoint = 1};
    Step *s = gpu_step_backend.create(&m, &o, err, sizeof err);
    if (!s) { printf("create: %s\n", err); return 1; }
    char name[128], versions[256];
    gpu_step_backend.describe(s, name, sizeof name, versions, sizeof versions);
    printf("%s; %s\n", name, versions);
    const int cells[][2] = {{128, 128}, {2048, 512}};
    int status = 0;
    for (int c = 0; c < 2; c++) {
        GroupBatch g;
        if (make_cell(&g, cells[c][0], cells[c][1]) != 0) { printf("groups_make failed\n"); return 1; }
        double loss0 = 0;
        for (int st = 0; st < STRATEGY_COUNT; st++) {
            Layout l;
            if (layout_build(&l, (Strategy)st, &g) != 0) { printf("layout_build failed\n"); return 1; }
            int rc = gpu_step_backend.prepare(s, &l, err, sizeof err);
            if (rc != STEP_OK) { printf("prepare %s: rc %d: %s\n", strategy_name((Strategy)st), rc, err); status = 1; }
            double ms[100], loss = NAN, t = 0;
            for (int r = 0; rc == STEP_OK && r <= reps; r++) { // r == 0: warm-up
                if (gpu_step_backend.run(s, &t, &loss, err, sizeof err) != STEP_OK) {
                    printf("run: %s\n", err);
                    status = 1;
                    break;
                }
                if (r) ms[r - 1] = t;
            }
            StepMemory mem = {0, 0, 0};
            gpu_step_backend.memory(s, &mem);
            qsort(ms, (size_t)reps, sizeof ms[0], cmp_double);
            if (st == 0) loss0 = loss;
            printf("%4dx%-4d %-6s slots %6zu loss %.4f (rel to padded %.1e) median %8.2f ms min %8.2f ms  "
                   "predicted %.2f GB allocated %.2f GB driver %.2f GB\n",
                   cells[c][0], cells[c][1], strategy_name((Strategy)st), l.n_slots, loss,
                   fabs(loss - loss0) / fabs(loss0), ms[reps / 2], ms[0], mem.predicted / 1e9, mem.allocated / 1e9,
                   mem.driver_used / 1e9);
            if (!isfinite(loss)) status = 1;
            gpu_step_backend.release(s);
            layout_free(&l);
        }
        groups_free(&g);
    }
    print_plan_16k(&m, s, prepare_16k, run_16k);
    gpu_step_backend.destroy(s);
    return status;
}
