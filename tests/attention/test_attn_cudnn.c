/*
 * test_attn_cudnn.c: the cuDNN attention backend against the fp32 CPU oracle
 * (cpu_attention_forward/backward) for every layout, forward and backward, on random bf16
 * inputs: GQA and MHA, uneven and even lengths, K = 1, 2, 4, forests of depth 3 and 4 (random
 * ones, and a hand-made one with chains of one-child nodes, a length-1 segment and a lone root).
 * The cuDNN prefix and tree layouts run with both forwards (gather, merge; prefix_path.h) and the
 * default (auto, whose describe() text is checked), each with the backward's parts cut tight (one
 * sequence per part mostly: several parts per depth call) and as the step runs them (several
 * sequences per part, with gaps between them). Outputs are poisoned (NaN) before each call, and
 * the lent scratch too, so an element the backend forgets to write fails; padding slots must be
 * exactly 0 in o, dq, dk, dv. The cuDNN padded layout runs with its backward whole (one BSHD
 * call) and in parts of one row (AttnOptions.padded_part_rows; the host's parts are checked to be
 * more than one), each against the oracle. When the "simple" backend is built it is checked the
 * same way.
 * The prefix layouts of --prefix-share auto (strategies/prefix_share.h) too: a flat batch it
 * mixes (one group shared, two as documents [P, c]) and forests at a theta that mixes them.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../attention/attention.h"
#include "../../core/rng.h"
#include "../../kernels/bf16_host.h"
#include "../../kernels/check.h"
#include "../../reference/cpu_ops.h"
#include "../../harness/share_rule.h"
#include "../cpu/tiny.h"
#include "../gpu_test.h"

#include <cudnn.h>

typedef struct Case {
    const char *name;
    int hq, hkv, b, k;
    int32_t prompt[4];
    int32_t comp[8];
} Case;

static const Case k_cases[] = {
    {"gqa 4/2, K=1", 4, 2, 2, 1, {37, 50}, {20, 9}},
    {"gqa 4/2, K=1, even", 4, 2, 2, 1, {40, 40}, {24, 24}}, // padded without padding
    {"gqa 4/2, K=2", 4, 2, 2, 2, {64, 17}, {33, 5, 70, 1}},
    {"mha 2/2, K=4", 2, 2, 1, 4, {100}, {10, 64, 3, 129}},
    {"gqa 28/4, K=2", 28, 4, 1, 2, {40}, {30, 25}},
    // short prompts against long completions and the other way round, in one layout
    {"lopsided gqa 4/2, K=2", 4, 2, 2, 2, {3, 100}, {300, 290, 20, 9}},
    {"lopsided gqa 28/4, K=2", 28, 4, 2, 2, {100, 2}, {20, 9, 260, 131}},
};

typedef struct Buffers { float *q, *k, *v, *dout, *o, *lse, *dq, *dk, *dv; } Buffers;

static float *fill_bf16(Rng *r, size_t n, uint16_t **bits) {
    float *f = malloc(n * sizeof(float));
    *bits = malloc(n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++) {
        (*bits)[i] = bf16_from_float(rng_normal(r));
        f[i] = bf16_to_float((*bits)[i]);
    }
    return f;
}

// Real slots: |gpu - ref| <= tol * (max|ref| + |ref|); padding slots: exactly 0 (skip lse).
static int compare(const char *what, const uint16_t *gpu_bf16, const float *gpu_f32, const float *ref,
                   const Layout *l, size_t per_slot, double tol, int pad_zero) {
    double amax = 0.0;
    for (size_t i = 0; i < l->n_slots * per_slot; i++)
        if (l->seq_id[i / per_slot] >= 0) amax = fmax(amax, fabs(ref[i]));
    double worst = 0.0;
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < l->n_slots * per_slot; i++) {
        double g = gpu_bf16 ? bf16_to_float(gpu_bf16[i]) : gpu_f32[i];
        int pad = l->seq_id[i / per_slot] < 0;
        if (pad) {
            if (pad_zero && g != 0.0) {
                if (!bad++) first = i;
            }
            continue;
        }
        double err = fabs(g - ref[i]);
        if (!(err <= tol * (amax + fabs(ref[i])))) {
            if (!bad++) first = i;
        }
        if (err > worst || isnan(err)) worst = isnan(err) ? INFINITY : err;
    }
    if (bad) {
        double g = gpu_bf16 ? bf16_to_float(gpu_bf16[first]) : gpu_f32[first];
        printf("    FAIL %s: %zu bad of %zu, first at slot %zu (gpu %g, ref %g), max err %.3g, max|ref| %.3g\n", what, bad,
               l->n_slots * per_slot, first / per_slot, g, ref[first], worst, amax);
        return 1;
    }
    printf("    ok   %-4s max err %.3g (max|ref| %.3g)\n", what, worst, amax);
    return 0;
}

static void *dev_copy(const void *h, size_t bytes) {
    void *d;
    cudaCheck(cudaMalloc(&d, bytes));
    cudaCheck(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice));
    return d;
}

// Lends the backend one scratch for both passes, filled with NaN (0xFF bytes) before each call,
// as the GPU step lends memory other buffers just used: a backend that reads scratch it did not
// write in the same call fails.
static int lend_poisoned_scratch(const AttnOps *ops, AttnBackend *ab, const AttnMemory *mem, void **scratch) {
    size_t bytes = mem->scratch[ATTN_FWD] > mem->scratch[ATTN_BWD] ? mem->scratch[ATTN_FWD] : mem->scratch[ATTN_BWD];
    if (bytes) {
        cudaCheck(cudaMalloc(scratch, bytes));
        cudaCheck(cudaMemset(*scratch, 0xFF, bytes));
    }
    ops->set_scratch(ab, ATTN_FWD, *scratch);
    ops->set_scratch(ab, ATTN_BWD, *scratch);
    return 1;
}

static int poison(void *scratch, const AttnMemory *mem) {
    size_t bytes = mem->scratch[ATTN_FWD] > mem->scratch[ATTN_BWD] ? mem->scratch[ATTN_FWD] : mem->scratch[ATTN_BWD];
    if (scratch) cudaCheck(cudaMemset(scratch, 0xFF, bytes));
    return 1;
}

// One layout against the CPU oracle, forward and backward.
static int run_layout(const AttnOps *ops, const Layout *lp, const char *name, int hq, int hkv, const AttnOptions *opt,
                      int tight, const char *label, const char *want_plan) {
    const int D = 128;
    const Layout l = *lp;
    const Strategy s = l.strategy;
    printf("  %s, %s, %s (%zu slots, %zu real, %zu pairs)\n", name, strategy_name(s), label, l.n_slots, l.n_real,
           l.attn_pairs);
    const size_t T = l.n_slots, nq = T * hq * D, nkv = T * hkv * D;
    Rng r;
    rng_seed(&r, 1234 + (uint64_t)s);
    uint16_t *hq16, *hk16, *hv16, *hdo16;
    float *q = fill_bf16(&r, nq, &hq16), *k = fill_bf16(&r, nkv, &hk16), *v = fill_bf16(&r, nkv, &hv16);
    float *dout = fill_bf16(&r, nq, &hdo16);
    // padding tokens' inputs are garbage on purpose: they must not leak into real outputs
    float *o = malloc(nq * 4), *lse = malloc(T * hq * 4), *dq = malloc(nq * 4), *dk = malloc(nkv * 4),
          *dv = malloc(nkv * 4);
    cpu_attention_forward(o, lse, q, k, v, &l, hq, hkv, D);
    cpu_attention_backward(dq, dk, dv, dout, q, k, v, o, lse, &l, hq, hkv, D);

    // device
    int32_t *kv_lo = dev_copy(l.kv_lo, T * 4), *shared_end = dev_copy(l.shared_end, T * 4),
            *seg_lo = dev_copy(l.seg_lo, T * 4);
    AttnMask mask = {&l, kv_lo, shared_end, seg_lo, tight}; // tight: the backward in the most parts
    void *dq_in = dev_copy(hq16, nq * 2), *dk_in = dev_copy(hk16, nkv * 2), *dv_in = dev_copy(hv16, nkv * 2),
         *ddo = dev_copy(hdo16, nq * 2);
    void *d_o, *d_dq, *d_dk, *d_dv;
    float *d_lse;
    cudaCheck(cudaMalloc(&d_o, nq * 2));
    cudaCheck(cudaMalloc(&d_dq, nq * 2));
    cudaCheck(cudaMalloc(&d_dk, nkv * 2));
    cudaCheck(cudaMalloc(&d_dv, nkv * 2));
    cudaCheck(cudaMalloc((void **)&d_lse, T * hq * 4));
    cudaCheck(cudaMemset(d_o, 0xFF, nq * 2)); // poison: NaN
    cudaCheck(cudaMemset(d_dq, 0xFF, nq * 2));
    cudaCheck(cudaMemset(d_dk, 0xFF, nkv * 2));
    cudaCheck(cudaMemset(d_dv, 0xFF, nkv * 2));
    cudaCheck(cudaMemset(d_lse, 0xFF, T * hq * 4));

    int fails = 0;
    char err[512] = {0};
    AttnShape shape = {hq, hkv, D};
    AttnBackend *ab = ops->create(&shape, opt, err, sizeof err);
    AttnMemory mem = {0};
    void *scratch = NULL;
    if (!ab || ops->prepare(ab, &mask, &mem, err, sizeof err) || !lend_poisoned_scratch(ops, ab, &mem, &scratch) ||
        ops->forward(ab, dq_in, dk_in, dv_in, d_o, d_lse, 0, err, sizeof err) || !poison(scratch, &mem) ||
        ops->backward(ab, dq_in, dk_in, dv_in, d_o, ddo, d_lse, d_dq, d_dk, d_dv, 0, err, sizeof err)) {
        printf("    FAIL: %s\n", err);
        fails = 1;
    } else {
        cudaCheck(cudaDeviceSynchronize());
        uint16_t *go = malloc(nq * 2), *gdq = malloc(nq * 2), *gdk = malloc(nkv * 2), *gdv = malloc(nkv * 2);
        float *glse = malloc(T * hq * 4);
        cudaCheck(cudaMemcpy(go, d_o, nq * 2, cudaMemcpyDeviceToHost));
        cudaCheck(cudaMemcpy(gdq, d_dq, nq * 2, cudaMemcpyDeviceToHost));
        cudaCheck(cudaMemcpy(gdk, d_dk, nkv * 2, cudaMemcpyDeviceToHost));
        cudaCheck(cudaMemcpy(gdv, d_dv, nkv * 2, cudaMemcpyDeviceToHost));
        cudaCheck(cudaMemcpy(glse, d_lse, T * hq * 4, cudaMemcpyDeviceToHost));
        char plan[128] = "";
        ops->describe(ab, plan, sizeof plan);
        printf("    device bytes %zu, scratch bytes %zu forward, %zu backward (workspace %zu / %zu), plan \"%s\"\n",
               mem.held, mem.scratch[ATTN_FWD], mem.scratch[ATTN_BWD], mem.workspace[ATTN_FWD], mem.workspace[ATTN_BWD],
               plan);
        if (want_plan && strcmp(plan, want_plan) != 0) {
            printf("    FAIL plan: want \"%s\"\n", want_plan);
            fails++;
        }
        fails += compare("o", go, NULL, o, &l, (size_t)hq * D, 2e-2, 1);
        fails += compare("lse", NULL, glse, lse, &l, (size_t)hq, 2e-3, 0);
        fails += compare("dq", gdq, NULL, dq, &l, (size_t)hq * D, 3e-2, 1);
        fails += compare("dk", gdk, NULL, dk, &l, (size_t)hkv * D, 3e-2, 1);
        fails += compare("dv", gdv, NULL, dv, &l, (size_t)hkv * D, 3e-2, 1);
        free(go), free(gdq), free(gdk), free(gdv), free(glse);
    }
    if (ab) ops->destroy(ab);
    cudaCheck(cudaFree(scratch));
    cudaFree(kv_lo), cudaFree(shared_end), cudaFree(seg_lo), cudaFree(dq_in), cudaFree(dk_in), cudaFree(dv_in);
    cudaFree(ddo), cudaFree(d_o), cudaFree(d_dq), cudaFree(d_dk), cudaFree(d_dv), cudaFree(d_lse);
    free(q), free(k), free(v), free(dout), free(o), free(lse), free(dq), free(dk), free(dv);
    free(hq16), free(hk16), free(hv16), free(hdo16);
    return fails ? 1 : 0;
}

/* The cudnn prefix / tree runs of one layout: auto and the other forward with tight parts (the
 * most parts), then gather and merge with the step's parts (several sequences per part); auto's
 * describe() text is checked in each. Other backends and layouts: one run, tight. */
static int run_modes(const AttnOps *ops, const Layout *l, const char *name, int hq, int hkv, int *runs) {
    const int more_levels = l->strategy >= STRATEGY_PREFIX && l->n_nodes > l->n_seqs;
    if (strcmp(ops->name, "cudnn") != 0 || !more_levels) {
        (*runs)++;
        return run_layout(ops, l, name, hq, hkv, NULL, 1, "", NULL);
    }
    const AttnPrefixMode other = prefix_forward(ATTN_PREFIX_AUTO, l->max_depth) == PREFIX_FWD_GATHER ? ATTN_PREFIX_MERGE
                                                                                                   : ATTN_PREFIX_GATHER;
    const struct { AttnPrefixMode mode; int tight; } runs_of[] = {
        {ATTN_PREFIX_AUTO, 1}, {other, 1}, {ATTN_PREFIX_GATHER, 0}, {ATTN_PREFIX_MERGE, 0},
    };
    DepthCalls dc;
    if (prefix_depth_calls(l, &dc)) {
        printf("  %s: out of host memory\n", name);
        return 1;
    }
    const int n_calls = dc.n_depths;
    prefix_depth_calls_free(&dc);
    int fails = 0;
    for (size_t i = 0; i < sizeof runs_of / sizeof runs_of[0]; i++) {
        const AttnOptions opt = {.prefix = runs_of[i].mode};
        const PrefixForward fwd = prefix_forward(runs_of[i].mode, l->max_depth);
        char label[48], want[64];
        snprintf(label, sizeof label, "%s, %s parts", attn_prefix_mode_name(runs_of[i].mode),
                 runs_of[i].tight ? "tight" : "few");
        snprintf(want, sizeof want, "%s: %s forward, %d depth calls", attn_prefix_mode_name(runs_of[i].mode),
                 prefix_forward_name(fwd), n_calls);
        fails += run_layout(ops, l, name, hq, hkv, &opt, runs_of[i].tight, label, want);
        (*runs)++;
    }
    return fails;
}

static int run_case(const AttnOps *ops, const Case *c, Strategy s, int *runs) {
    GroupBatch g;
    Layout l;
    if (groups_make(&g, c->b, c->k, c->prompt, c->comp, 1000, 7) || layout_build(&l, s, &g)) {
        printf("  %s: layout build failed\n", c->name);
        return 1;
    }
    int fails = run_modes(ops, &l, c->name, c->hq, c->hkv, runs);
    layout_free(&l);
    groups_free(&g);
    return fails;
}

/* The cuDNN padded layout with its backward whole and in parts of one row (more than one part:
 * checked on the host figures the backend's prepare holds itself to). */
static int run_padded_parts(const AttnOps *ops, const Case *c, int *runs) {
    GroupBatch g;
    Layout l;
    if (groups_make(&g, c->b, c->k, c->prompt, c->comp, 1000, 7) || layout_build(&l, STRATEGY_PADDED, &g)) {
        printf("  %s: layout build failed\n", c->name);
        return 2;
    }
    int fails = 0;
    static const int rows[2] = {INT_MAX, 1};
    for (int i = 0; i < 2; i++) {
        const AttnOptions opt = {.padded_part_rows = rows[i]};
        const AttnShape sh = {c->hq, c->hkv, 128};
        AttnParts parts;
        const AttnMemoryAsk ask = {ATTN_PREFIX_AUTO, 1, rows[i]};
        const int want = i ? 1 : l.n_rows;
        (*runs)++;
        if (attn_cudnn_parts(&sh, &l, &ask, &parts) || parts.part[ATTN_PARTED_WHOLE] != want || (i && l.n_rows < 2)) {
            printf("  %s: padded backward in parts of %d rows of %d, want %d\n", c->name,
                   parts.part[ATTN_PARTED_WHOLE], l.n_rows, want);
            fails++;
            continue;
        }
        char label[64];
        snprintf(label, sizeof label, "backward in %d part(s) of %d row(s)", l.n_rows / want, want);
        fails += run_layout(ops, &l, c->name, c->hq, c->hkv, &opt, 1, label, NULL);
    }
    layout_free(&l);
    groups_free(&g);
    return fails;
}

static int run_forest(const AttnOps *ops, const Forest *f, const char *what, int hq, int hkv, int *runs) {
    int fails = 0;
    for (int s = 0; s < STRATEGY_COUNT; s++) {
        Layout l;
        char name[96];
        snprintf(name, sizeof name, "%s, %d/%d heads, %d segments", what, hq, hkv, f->n_segs);
        if (layout_build_forest(&l, (Strategy)s, f)) {
            printf("  %s: layout build failed\n", name);
            fails++;
            continue;
        }
        fails += run_modes(ops, &l, name, hq, hkv, runs);
        layout_free(&l);
    }
    return fails;
}

/* Forests of depth 3 and 4 (tests/cpu/tiny.h) in every layout: for cudnn the tree layout's depth
 * calls (3 or 4 of them, several nodes each), its gathers (several key runs per query run). Then
 * a hand-made forest of depth 4: root 0 -> 1 -> 2 -> {3, 4} (chains of one child), root 5 -> 6 ->
 * 7 (a length-1 segment) -> 8, and a lone root 9; inner segments carry loss (the step's concern,
 * not attention's, but the same forest serves both). Its chains make two depth calls of four
 * levels: [0 1 2], [5 6 7 8] and [9] against their subtrees, then 3 and 4 causal. */
static int run_forests(const AttnOps *ops, int *runs) {
    int fails = 0;
    static const int heads[][2] = {{4, 2}, {28, 4}};
    for (int depth = 3; depth <= 4; depth++)
        for (int h = 0; h < 2; h++) {
            Forest f;
            if (tiny_forest(&f, depth, 40, 1000, 500 + (uint64_t)(depth * 10 + h))) {
                printf("  tiny_forest failed\n");
                return fails + 1;
            }
            char what[32];
            snprintf(what, sizeof what, "forest depth %d", depth);
            fails += run_forest(ops, &f, what, heads[h][0], heads[h][1], runs);
            forest_free(&f);
        }
    static const int32_t len[10] = {33, 17, 9, 40, 3, 5, 60, 1, 2, 7}, parent[10] = {-1, 0, 1, 2, 2, -1, 5, 6, 7, -1};
    static const uint8_t loss[10] = {0, 1, 0, 1, 1, 0, 1, 1, 1, 0};
    Forest f;
    char err[160];
    if (forest_make(&f, 10, len, parent, loss, 1000, 77, err, sizeof err)) {
        printf("  chains forest: %s\n", err);
        return fails + 1;
    }
    fails += run_forest(ops, &f, "chains forest", 28, 4, runs);
    forest_free(&f);
    return fails;
}

/* Prefix layouts of the share rule (tiny model rates): a flat batch of 3 groups where only the
 * prompt-40 group shares, and forests at theta 0.1, each with every cudnn prefix forward (tight parts). */
static int run_share_mixed(const AttnOps *ops, int *runs) {
    const ModelConfig tm = tiny_model();
    PrefixShare rule = share_rule(&tm, PREFIX_SHARE_AUTO);
    static const int32_t pl[3] = {1, 40, 2}, cl[6] = {120, 100, 4, 6, 90, 70};
    static const int heads[][2] = {{4, 2}, {28, 4}};
    static const AttnPrefixMode modes[] = {ATTN_PREFIX_GATHER, ATTN_PREFIX_MERGE, ATTN_PREFIX_AUTO};
    int fails = 0;
    for (int src = 0; src < 3; src++) { // the flat batch, then two forests
        GroupBatch g;
        Forest f;
        Layout l;
        rule.theta = src ? 0.1 : PREFIX_SHARE_THETA;
        int bad = src ? tiny_forest(&f, 2 + src, 30, 1000, 900 + (uint64_t)src)
                      : groups_make(&g, 3, 2, pl, cl, 1000, 9) || forest_from_groups(&f, &g);
        if (!src && !bad) groups_free(&g);
        if (bad || layout_build_forest_share(&l, STRATEGY_PREFIX, &f, &rule)) {
            printf("  share mixed %d: layout build failed\n", src);
            return fails + 1;
        }
        if (!src && (l.n_shared_groups != 1 || l.n_prefix_groups != 3)) {
            printf("  share mixed: %d/%d groups shared, want 1/3\n", l.n_shared_groups, l.n_prefix_groups);
            fails++;
        }
        for (int h = 0; h < 2; h++)
            for (size_t mi = 0; mi < sizeof modes / sizeof modes[0] && (!strcmp(ops->name, "cudnn") || mi == 0); mi++) {
                AttnOptions opt = {.prefix = modes[mi]};
                char name[96], label[32];
                snprintf(name, sizeof name, "prefix-share %s, %d/%d groups shared, %d/%d heads", src ? "forest" : "flat",
                         l.n_shared_groups, l.n_prefix_groups, heads[h][0], heads[h][1]);
                snprintf(label, sizeof label, "prefix %s", attn_prefix_mode_name(modes[mi]));
                fails += run_layout(ops, &l, name, heads[h][0], heads[h][1], &opt, 1, label, NULL);
                (*runs)++;
            }
        layout_free(&l);
        forest_free(&f);
    }
    return fails;
}

int main(int argc, char **argv) {
    gpu_test_require("attn_cudnn");
    // argv[1] (optional): the backend to test ("cudnn" by default; "simple" to check the oracle)
    const char *name = argc > 1 ? argv[1] : "cudnn";
    const AttnOps *ops = attn_ops_find(name);
    if (!ops) {
        printf("attn_cudnn: backend %s not built\n", name);
        return 1;
    }
    printf("attn_cudnn: backend %s, cuDNN %zu\n", name, cudnnGetVersion());
    int fails = 0, runs = 0;
    // flat groups: padded, packed, prefix (the tree layout of a flat group is the prefix layout:
    // the forests below run it)
    for (size_t ci = 0; ci < sizeof k_cases / sizeof k_cases[0]; ci++)
        for (int s = 0; s < STRATEGY_TREE; s++) {
            if (s == STRATEGY_PADDED && !strcmp(name, "cudnn")) fails += run_padded_parts(ops, &k_cases[ci], &runs);
            else fails += run_case(ops, &k_cases[ci], (Strategy)s, &runs);
        }
    fails += run_forests(ops, &runs);
    fails += run_share_mixed(ops, &runs);
    printf("attn_%s: %d of %d runs failed\n", name, fails, runs);
    return fails ? 1 : 0;
}
