/*
 * attn_bench.c: speed of an attention backend (default "cudnn") at the project's shapes.
 *
 *   1. plain causal attention, 28/4 heads, d 128: 4k x 16 rows, 16k x 4 rows, 32k x 2 rows,
 *      as the padded layout (BSHD, no padding) and the packed layout (THD);
 *   2. the prefix cells 4096x4096, 16384x128 and 128x16384 (3 prompts x 2 completions): padded, packed,
 *      and prefix with each cuDNN prefix forward (AttnOptions.prefix: gather (the default at two
 *      levels), merge; attention/prefix_path.h; the backward is by depth in both);
 *   3. the `system` sweep's shape at 16k x 1024 and 4k x 256 (a system prompt, 4 prompts of 256,
 *      4 completions each): padded, prefix, and tree with both forwards;
 *   4. the padded backward in parts of rows (AttnOptions.padded_part_rows; the step's plan picks
 *      them where they lower its peak, attention/attn_memory.h) at issue 10's padded cells: whole,
 *      then each part size the plan may take, so the cost of the extra calls is measured.
 * FLOPs count only allowed (query, key) pairs (DESIGN.md section 3): 4 * D * Hq per pair forward,
 * 2.5x that backward. CUDA events, warm-up, median (and min) of >= 10 repetitions.
 * Usage: attn_bench [backend] [reps]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../attention/attention.h"
#include "../kernels/check.h"
#include "../kernels/kernels.h"

#include <cudnn.h>

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

typedef struct Timing { float fwd, bwd, both, both_min; } Timing;

static int bench_layout(const AttnOps *ops, const Layout *l, const AttnOptions *opt, int reps, Timing *t,
                        size_t *bytes) {
    const int hq = 28, hkv = 4, D = 128;
    const size_t T = l->n_slots, nq = T * hq * D, nkv = T * hkv * D;
    bf16_t *q, *k, *v, *o, *dout, *dq, *dk, *dv;
    float *lse;
    int32_t *mk[3];
    cudaCheck(cudaMalloc((void **)&q, nq * 2));
    cudaCheck(cudaMalloc((void **)&o, nq * 2));
    cudaCheck(cudaMalloc((void **)&dout, nq * 2));
    cudaCheck(cudaMalloc((void **)&dq, nq * 2));
    cudaCheck(cudaMalloc((void **)&k, nkv * 2));
    cudaCheck(cudaMalloc((void **)&v, nkv * 2));
    cudaCheck(cudaMalloc((void **)&dk, nkv * 2));
    cudaCheck(cudaMalloc((void **)&dv, nkv * 2));
    cudaCheck(cudaMalloc((void **)&lse, T * hq * 4));
    const int32_t *src[3] = {l->kv_lo, l->shared_end, l->seg_lo};
    for (int i = 0; i < 3; i++) {
        cudaCheck(cudaMalloc((void **)&mk[i], T * 4));
        cudaCheck(cudaMemcpy(mk[i], src[i], T * 4, cudaMemcpyHostToDevice));
    }
    fill_normal_bf16(q, nq, 1, 0.0f, 1.0f, 0);
    fill_normal_bf16(k, nkv, 2, 0.0f, 1.0f, 0);
    fill_normal_bf16(v, nkv, 3, 0.0f, 1.0f, 0);
    fill_normal_bf16(dout, nq, 4, 0.0f, 1.0f, 0);
    AttnMask mask = {l, mk[0], mk[1], mk[2], 0};
    AttnShape shape = {hq, hkv, D};
    char err[512] = {0};
    int rc = 0;
    AttnBackend *ab = ops->create(&shape, opt, err, sizeof err);
    AttnMemory mem = {0};
    void *scratch = NULL;
    if (!ab || ops->prepare(ab, &mask, &mem, err, sizeof err)) {
        printf("  error: %s\n", err);
        rc = -1;
    } else {
        // one scratch for both passes, as the step's plan may lend
        size_t scratch_bytes = mem.scratch[ATTN_FWD] > mem.scratch[ATTN_BWD] ? mem.scratch[ATTN_FWD] : mem.scratch[ATTN_BWD];
        if (scratch_bytes) cudaCheck(cudaMalloc(&scratch, scratch_bytes));
        ops->set_scratch(ab, ATTN_FWD, scratch);
        ops->set_scratch(ab, ATTN_BWD, scratch);
        *bytes = mem.held + scratch_bytes;
    }
    cudaEvent_t ev[3];
    for (int i = 0; i < 3; i++) cudaCheck(cudaEventCreate(&ev[i]));
    float *ms = malloc(sizeof(float) * (size_t)reps * 3);
    for (int it = -3; !rc && it < reps; it++) { // 3 warm-up steps
        cudaCheck(cudaEventRecord(ev[0], 0));
        if (ops->forward(ab, q, k, v, o, lse, 0, err, sizeof err)) rc = -1;
        cudaCheck(cudaEventRecord(ev[1], 0));
        if (!rc && ops->backward(ab, q, k, v, o, dout, lse, dq, dk, dv, 0, err, sizeof err)) rc = -1;
        cudaCheck(cudaEventRecord(ev[2], 0));
        cudaCheck(cudaEventSynchronize(ev[2]));
        if (rc) printf("  error: %s\n", err);
        if (it < 0 || rc) continue;
        cudaCheck(cudaEventElapsedTime(&ms[it], ev[0], ev[1]));
        cudaCheck(cudaEventElapsedTime(&ms[reps + it], ev[1], ev[2]));
        cudaCheck(cudaEventElapsedTime(&ms[2 * reps + it], ev[0], ev[2]));
    }
    if (!rc) {
        for (int j = 0; j < 3; j++) qsort(ms + (size_t)j * reps, (size_t)reps, sizeof(float), cmp_float);
        t->fwd = ms[reps / 2];
        t->bwd = ms[reps + reps / 2];
        t->both = ms[2 * reps + reps / 2];
        t->both_min = ms[2 * reps];
    }
    free(ms);
    for (int i = 0; i < 3; i++) cudaEventDestroy(ev[i]);
    if (ab) ops->destroy(ab);
    cudaCheck(cudaFree(scratch));
    cudaFree(q), cudaFree(o), cudaFree(dout), cudaFree(dq), cudaFree(k), cudaFree(v), cudaFree(dk), cudaFree(dv);
    cudaFree(lse);
    for (int i = 0; i < 3; i++) cudaFree(mk[i]);
    return rc;
}

static void report(const char *cell, const char *how, const Layout *l, const Timing *t, size_t bytes) {
    const double fwd_flop = (double)l->attn_pairs * 4.0 * 128 * 28, bwd_flop = 2.5 * fwd_flop;
    printf("| %-22s | %-9s | %9zu | %8.3f | %8.3f | %8.3f | %8.3f | %6.1f | %6.1f | %6.1f | %8.1f |\n", cell, how,
           l->n_slots, t->fwd, t->bwd, t->both, t->both_min, fwd_flop / t->fwd * 1e-9, bwd_flop / t->bwd * 1e-9,
           (fwd_flop + bwd_flop) / t->both * 1e-9, (double)bytes / (1 << 20));
}

// part_rows > 0: the padded backward in parts of that many rows
static void run_cell(const AttnOps *ops, const char *cell, int b, int k, int p, int c, Strategy s, const char *method,
                     int part_rows, int reps) {
    int32_t pl[PB_MAX_COMPLETIONS], cl[PB_MAX_COMPLETIONS * 4];
    if (b > PB_MAX_COMPLETIONS || b * k > PB_MAX_COMPLETIONS * 4) return;
    for (int i = 0; i < b; i++) pl[i] = p;
    for (int i = 0; i < b * k; i++) cl[i] = c;
    GroupBatch g;
    Layout l;
    if (groups_make(&g, b, k, pl, cl, 1000, 1) || layout_build(&l, s, &g)) {
        printf("  %s: layout build failed\n", cell);
        return;
    }
    AttnOptions opt = {.padded_part_rows = part_rows};
    if (method && attn_prefix_mode_parse(method, &opt.prefix)) {
        printf("  %s: unknown prefix attention %s\n", cell, method);
        layout_free(&l);
        groups_free(&g);
        return;
    }
    char how[32];
    snprintf(how, sizeof how, "%s%s%s", strategy_name(s), method ? " " : "", method ? method : "");
    if (part_rows > 0) snprintf(how, sizeof how, "%s /%d", strategy_name(s), b * k / part_rows);
    Timing t;
    size_t bytes = 0;
    if (bench_layout(ops, &l, &opt, reps, &t, &bytes) == 0) report(cell, how, &l, &t, bytes);
    fflush(stdout);
    layout_free(&l);
    groups_free(&g);
}

// A system-prompt tree: one root of `sys` tokens, 4 children of 256, each with 4 leaves of `leaf`.
static void run_system_cell(const AttnOps *ops, int sys, int leaf, Strategy s, const char *method, int reps) {
    int32_t len[21], parent[21];
    uint8_t loss[21];
    len[0] = sys, parent[0] = -1, loss[0] = 0;
    for (int i = 0; i < 4; i++) {
        const int p = 1 + i * 5;
        len[p] = 256, parent[p] = 0, loss[p] = 0;
        for (int j = 1; j <= 4; j++) len[p + j] = leaf, parent[p + j] = p, loss[p + j] = 1;
    }
    char cell[64], err[160];
    snprintf(cell, sizeof cell, "system %dk x %d", sys / 1024, leaf);
    Forest f;
    Layout l;
    if (forest_make(&f, 21, len, parent, loss, 1000, 1, err, sizeof err) || layout_build_forest(&l, s, &f)) {
        printf("  %s: forest or layout failed\n", cell);
        return;
    }
    AttnOptions opt = {0};
    if (method && attn_prefix_mode_parse(method, &opt.prefix)) opt.prefix = ATTN_PREFIX_AUTO;
    char how[32];
    snprintf(how, sizeof how, "%s%s%s", strategy_name(s), method ? " " : "", method ? method : "");
    Timing t;
    size_t bytes = 0;
    if (bench_layout(ops, &l, &opt, reps, &t, &bytes) == 0) report(cell, how, &l, &t, bytes);
    fflush(stdout);
    layout_free(&l);
    forest_free(&f);
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "cudnn";
    int reps = argc > 2 ? atoi(argv[2]) : 20;
    if (reps < 10) reps = 10;
    const AttnOps *ops = attn_ops_find(name);
    if (!ops) {
        fprintf(stderr, "attn_bench: backend %s not built\n", name);
        return 1;
    }
    struct cudaDeviceProp prop;
    cudaCheck(cudaGetDeviceProperties(&prop, 0));
    int rt = 0;
    cudaCheck(cudaRuntimeGetVersion(&rt));
    printf("attn_bench: backend %s, %s, CUDA runtime %d, cuDNN %zu, median of %d reps\n\n", name, prop.name, rt,
           cudnnGetVersion(), reps);
    printf("| %-22s | %-9s | %9s | %8s | %8s | %8s | %8s | %6s | %6s | %6s | %8s |\n", "cell", "layout", "slots",
           "fwd ms", "bwd ms", "f+b ms", "f+b min", "fwd TF", "bwd TF", "f+b TF", "dev MiB");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    // 1. plain causal: rows of S tokens (one prompt of S/2 + one completion of S/2 each)
    const int plain[3][2] = {{4096, 16}, {16384, 4}, {32768, 2}};
    for (int i = 0; i < 3; i++) {
        char cell[64];
        snprintf(cell, sizeof cell, "causal %dk x %d", plain[i][0] / 1024, plain[i][1]);
        run_cell(ops, cell, plain[i][1], 1, plain[i][0] / 2, plain[i][0] / 2, STRATEGY_PADDED, NULL, 0, reps);
        run_cell(ops, cell, plain[i][1], 1, plain[i][0] / 2, plain[i][0] / 2, STRATEGY_PACKED, NULL, 0, reps);
    }
    // 2. prefix cells: 3 prompts x 2 completions
    // 128x16384: short prompt, long completions (where prefix was slower than padded)
    const int cells[3][2] = {{4096, 4096}, {16384, 128}, {128, 16384}};
    for (int i = 0; i < 3; i++) {
        char cell[64];
        snprintf(cell, sizeof cell, "%dx%d 3x2", cells[i][0], cells[i][1]);
        run_cell(ops, cell, 3, 2, cells[i][0], cells[i][1], STRATEGY_PADDED, NULL, 0, reps);
        run_cell(ops, cell, 3, 2, cells[i][0], cells[i][1], STRATEGY_PACKED, NULL, 0, reps);
        if (strcmp(name, "cudnn") != 0) {
            run_cell(ops, cell, 3, 2, cells[i][0], cells[i][1], STRATEGY_PREFIX, NULL, 0, reps);
            continue;
        }
        run_cell(ops, cell, 3, 2, cells[i][0], cells[i][1], STRATEGY_PREFIX, "gather", 0, reps);
        run_cell(ops, cell, 3, 2, cells[i][0], cells[i][1], STRATEGY_PREFIX, "merge", 0, reps);
    }
    // 3. trees: the system sweep's largest cell and a mid one
    const int sys_cells[2][2] = {{16384, 1024}, {4096, 256}};
    for (int i = 0; i < 2; i++) {
        run_system_cell(ops, sys_cells[i][0], sys_cells[i][1], STRATEGY_PADDED, NULL, reps);
        run_system_cell(ops, sys_cells[i][0], sys_cells[i][1], STRATEGY_PREFIX, NULL, reps);
        if (strcmp(name, "cudnn") != 0) {
            run_system_cell(ops, sys_cells[i][0], sys_cells[i][1], STRATEGY_TREE, NULL, reps);
            continue;
        }
        run_system_cell(ops, sys_cells[i][0], sys_cells[i][1], STRATEGY_TREE, "gather", reps);
        run_system_cell(ops, sys_cells[i][0], sys_cells[i][1], STRATEGY_TREE, "merge", reps);
    }
    if (strcmp(name, "cudnn") != 0) return 0;
    // 4. padded backward in parts: prompt, completion, prompts, completions; "padded /n": n parts
    const int padded[4][4] = {{4096, 512, 1, 16}, {16384, 16384, 3, 2}, {16384, 128, 3, 2}, {4096, 4096, 3, 2}};
    for (int i = 0; i < 4; i++) {
        const int *c = padded[i], rows = c[2] * c[3];
        char cell[64];
        snprintf(cell, sizeof cell, "%dx%d %dx%d", c[0], c[1], c[2], c[3]);
        run_cell(ops, cell, c[2], c[3], c[0], c[1], STRATEGY_PADDED, NULL, 0, reps);
        for (int part = rows / 2; part >= 1; part--)
            if (rows % part == 0) run_cell(ops, cell, c[2], c[3], c[0], c[1], STRATEGY_PADDED, NULL, part, reps);
    }
    return 0;
}
