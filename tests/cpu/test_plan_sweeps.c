/*
 * test_plan_sweeps.c: prefix sharing never costs memory. For every cell of every shipped sweep
 * (every .conf in configs/sweeps, each with its own model), the memory plan of the prefix layout peaks
 * at most as high as the padded layout's, with no gradients held and with gradients held (the
 * accumulation peak). The attention backend's figures are the cuDNN backend's (the default),
 * computed on the host (attention/memory.c). Every plan is also checked to reach the largest
 * sum of live bytes exactly. Prefix is held to it both as built by default (--prefix-share auto:
 * groups of small gain run the padded way, strategies/prefix_share.h) and with every group shared.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../gpu/memory_plan.h"
#include "../../harness/config.h"
#include "../../harness/share_rule.h"
#include "../../harness/sweep.h"
#include "../test_util.h"

static int plan_peaks(const ModelConfig *m, const Layout *l, size_t peak[2]) {
    GpuPlanInput in = {.m = m, .l = l, .attn_tight = -1};
    char err[256];
    if (gpu_plan_attn_figures("cudnn", m, l, &(AttnMemoryAsk){ATTN_PREFIX_AUTO, 0, 0}, &in)) return -1;
    for (int mode = 0; mode < 2; mode++) {
        GpuMemPlan p;
        in.mode = mode ? GPU_PLAN_ACCUMULATE : GPU_PLAN_DEFAULT;
        if (gpu_memory_plan(&in, &p, err, sizeof err)) { printf("FAIL: %s\n", err); return -1; }
        CHECK(p.peak == p.live_peak, "plan peak %zu above the live peak %zu", p.peak, p.live_peak);
        peak[mode] = p.peak;
        in.mlp_rows = p.mlp_rows; // the accumulation plan is the same step
        in.ce_rows = p.ce_rows;
        in.attn_tight = p.attn_tight;
        gpu_memory_plan_free(&p);
    }
    return 0;
}

static void check_sweep(const char *name) {
    char path[4200], err[600];
    SweepConfig sw;
    ModelConfig m;
    if (config_find("sweeps", name, path, sizeof path, err, sizeof err) || config_load_sweep(path, &sw, err, sizeof err) ||
        config_find("models", sw.model, path, sizeof path, err, sizeof err) || config_load_model(path, &m, err, sizeof err)) {
        CHECK(0, "%s: %s", name, err);
        return;
    }
    CellSource cells;
    if (cells_from_sweep(&sw, &cells, err, sizeof err)) { CHECK(0, "%s: %s", name, err); return; }
    double worst = -1e30;
    int worst_cell = -1, groups = 0, shared = 0;
    const PrefixShare rules[2] = {share_rule(&m, PREFIX_SHARE_AUTO), share_rule(&m, PREFIX_SHARE_ALWAYS)};
    static const char *const rule_names[2] = {"auto", "always"};
    for (int i = 0; i < cells.n; i++) {
        Cell cell;
        const Cell *c = &cell;
        if (cell_make(&cells, i, &cell)) { CHECK(0, "cell_make"); continue; }
        Forest g; // a group cell as its depth-2 forest, a tree sweep's cell as it is
        char why[256];
        int made = cell_batch(c, m.vocab, 1, &g, why, sizeof why);
        int index = c->index, plen = c->prompt_len, clen = c->completion_len;
        cell_free(&cell);
        if (made) { CHECK(0, "%s cell %d: %s", name, index, why); continue; }
        size_t peak[3][2]; // padded, prefix auto, prefix always
        int ok = 1;
        for (int s = 0; s < 3; s++) {
            Layout l;
            if (layout_build_forest_share(&l, s ? STRATEGY_PREFIX : STRATEGY_PADDED, &g, s ? &rules[s - 1] : NULL)) {
                CHECK(0, "layout_build");
                ok = 0;
                continue;
            }
            if (s == 1) { groups += l.n_prefix_groups; shared += l.n_shared_groups; }
            if (plan_peaks(&m, &l, peak[s])) ok = 0;
            layout_free(&l);
        }
        forest_free(&g);
        if (!ok) { failures++; continue; }
        for (int s = 1; s < 3; s++)
            for (int mode = 0; mode < 2; mode++) {
                CHECK(peak[s][mode] <= peak[0][mode], "%s cell %d (%dx%d): prefix (%s) %.3f GB above padded %.3f GB (%s)",
                      name, index, plen, clen, rule_names[s - 1], peak[s][mode] / 1e9, peak[0][mode] / 1e9,
                      mode ? "gradients held" : "no gradients held");
                double d = ((double)peak[s][mode] - (double)peak[0][mode]) / 1e9;
                if (d > worst) { worst = d; worst_cell = index; }
            }
    }
    printf("%-14s %3d cells: prefix - padded peak at most %+.3f GB (cell %d); auto shares %d of %d groups\n", name,
           cells.n, worst, worst_cell, shared, groups);
    cells_source_free(&cells);
}

int main(void) {
    char dir[4096], sub[4200];
    if (config_dir(dir, sizeof dir)) { printf("FAIL: configs/ not found\n"); return 1; }
    snprintf(sub, sizeof sub, "%s/sweeps", dir);
    DIR *d = opendir(sub);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || strcmp(e->d_name + len - 5, ".conf")) continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(len - 5), e->d_name);
        check_sweep(name);
        n++;
    }
    if (d) closedir(d);
    CHECK(n >= 3, "only %d sweeps found", n);
    return test_finish("test_plan_sweeps");
}
