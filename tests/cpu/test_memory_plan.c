/*
 * test_memory_plan.c: the GPU step's memory plan (gpu/arena_plan.c, gpu/memory_plan.c) on the
 * CPU. The plan is what makes the step's peak known before a cell runs, so it is checked:
 *   - the planner on random intervals and on a hand-made case: no two buffers that meet in time
 *     share a byte (arena_check), and the arena is never below the largest sum of live bytes;
 *   - a planner that ignored lifetimes (or overlapped live buffers) is caught by the checker;
 *   - Qwen2.5-7B at the cells, every strategy, both peaks: the plan is disjoint, its peak
 *     equals the largest sum of live bytes (every size is aligned, so exactly), every line's
 *     interval is inside the step, sizes from first principles, the aims met, the
 *     accumulation peak at least the default one plus nothing less than all gradients, and the
 *     prefix peak at most the padded one;
 *   - a recompute policy that keeps activations (issue 11) changes lifetimes, not the planner.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../gpu/memory_plan.h"
#include "../../harness/config.h"
#include "../test_util.h"

static uint64_t rng_state = 12345;
static uint64_t next_rand(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_planner_random(void) {
    for (int trial = 0; trial < 200; trial++) {
        int n = 1 + (int)(next_rand() % 60), ticks = 1 + (int)(next_rand() % 40);
        ArenaBuf b[60];
        for (int i = 0; i < n; i++) {
            int x = (int)(next_rand() % (uint64_t)ticks), y = (int)(next_rand() % (uint64_t)ticks);
            b[i] = (ArenaBuf){256 * (1 + next_rand() % 64), x < y ? x : y, x < y ? y : x, (int)(next_rand() % 3), 0};
            if (next_rand() % 8 == 0) b[i].bytes = 0;
        }
        int bad = 0, bi = -1, bj = -1, at = -1;
        size_t size = arena_place(b, n, ticks, 256, &bad);
        size_t live = arena_live_peak(b, n, ticks, &at);
        CHECK(arena_check(b, n, &bi, &bj) == 0, "random trial %d: buffers %d and %d overlap", trial, bi, bj);
        CHECK(size >= live, "random trial %d: arena %zu below the live peak %zu", trial, size, live);
        for (int i = 0; i < n; i++) CHECK(b[i].offset % 256 == 0, "random trial %d: offset not aligned", trial);
    }
}

static void test_planner_cases(void) {
    // A lives 0-1, B 2-3, C 0-3 (always live). C goes at the bottom; A and B share the bytes above.
    ArenaBuf b[3] = {{1024, 0, 1, ARENA_ANY, 0}, {1024, 2, 3, ARENA_ANY, 0}, {512, 0, 3, ARENA_ANY, 0}};
    int bad, at, i, j;
    size_t size = arena_place(b, 3, 4, 256, &bad);
    CHECK(size == 1536 && b[2].offset == 0 && b[0].offset == 512 && b[1].offset == 512,
          "hand case: size %zu offsets %zu %zu %zu", size, b[0].offset, b[1].offset, b[2].offset);
    CHECK(arena_live_peak(b, 3, 4, &at) == 1536, "hand case: live peak");
    // the checker catches two live buffers on the same bytes, and ignores two that never meet
    b[2].offset = 512;
    CHECK(arena_check(b, 3, &i, &j) == -1, "checker missed an overlap of live buffers");
    b[2].offset = 0;
    CHECK(arena_check(b, 3, &i, &j) == 0, "checker flagged buffers that never meet");
    // an interval outside the ticks, or reversed, is refused
    ArenaBuf r[1] = {{256, 3, 1, ARENA_ANY, 0}};
    CHECK(arena_place(r, 1, 4, 256, &bad) == 0 && bad == 0, "reversed interval accepted");
}

static size_t al(size_t n) { return (n + GPU_PLAN_ALIGN - 1) / GPU_PLAN_ALIGN * GPU_PLAN_ALIGN; }

typedef struct PlanFig { double peak, accum; } PlanFig;

// Plans one layout both ways and checks everything that holds for any layout.
static PlanFig check_plan(const ModelConfig *m, const Layout *l, const char *what) {
    PlanFig fig = {0, 0};
    GpuPlanInput in = {.m = m, .l = l, .mode = GPU_PLAN_DEFAULT, .attn_tight = -1};
    CHECK(gpu_plan_attn_figures("cudnn", m, l, &(AttnMemoryAsk){ATTN_PREFIX_AUTO, 0, 0}, &in) == 0, "%s: attn_memory", what);
    GpuMemPlan p[2];
    char err[256];
    for (int mode = 0; mode < 2; mode++) {
        in.mode = mode ? GPU_PLAN_ACCUMULATE : GPU_PLAN_DEFAULT;
        if (mode) { in.mlp_rows = p[0].mlp_rows; in.ce_rows = p[0].ce_rows; in.attn_tight = p[0].attn_tight; } // same step
        if (gpu_memory_plan(&in, &p[mode], err, sizeof err)) {
            CHECK(0, "%s: %s", what, err);
            if (mode) gpu_memory_plan_free(&p[0]);
            return fig;
        }
        GpuMemPlan *q = &p[mode];
        ArenaBuf *a = malloc((size_t)q->n_lines * sizeof *a);
        for (int i = 0; i < q->n_lines; i++) {
            a[i] = q->lines[i].a;
            CHECK(a[i].first >= 0 && a[i].last < q->n_ticks && a[i].first <= a[i].last, "%s: line %d interval", what, i);
            CHECK(a[i].bytes % GPU_PLAN_ALIGN == 0 && a[i].offset % GPU_PLAN_ALIGN == 0, "%s: line %d alignment", what, i);
            CHECK(a[i].offset + a[i].bytes <= q->peak, "%s: line %d beyond the peak", what, i);
            if (q->lines[i].kind <= GB_ATTN_HELD) CHECK(a[i].offset + a[i].bytes <= q->outside, "%s: outside line in the arena", what);
            else if (a[i].bytes) CHECK(a[i].offset >= q->outside, "%s: arena line below the outside lines", what);
        }
        int bi = -1, bj = -1, at = -1;
        CHECK(arena_check(a, q->n_lines, &bi, &bj) == 0, "%s: lines %d and %d overlap while both live", what, bi, bj);
        size_t live = arena_live_peak(a, q->n_lines, q->n_ticks, &at);
        CHECK(live == q->peak && q->live_peak == live, "%s mode %d: peak %zu != largest live sum %zu (fragmentation)",
              what, mode, q->peak, live);
        free(a);
    }
    // first principles: the lines of the layout
    const size_t T = l->n_slots, C = (size_t)m->hidden;
    const GpuPlanLine *ck = gpu_plan_buf(&p[0], GB_CHECKPOINT, 3, PASS_NONE);
    CHECK(ck && ck->a.bytes == al(T * C * 2), "%s: checkpoint bytes", what);
    CHECK(gpu_plan_buf(&p[0], GB_Q, 5, PASS_BWD)->a.bytes == al(T * (size_t)m->n_head * m->head_dim * 2), "%s: q", what);
    CHECK(gpu_plan_buf(&p[0], GB_K, 5, PASS_FWD)->a.bytes == al(T * (size_t)m->n_kv_head * m->head_dim * 2), "%s: k", what);
    CHECK(gpu_plan_buf(&p[0], GB_MLP_CHUNK, 0, PASS_FWD)->a.bytes == 3 * al((size_t)p[0].mlp_rows * m->mlp * 2), "%s: MLP", what);
    CHECK(p[0].mlp_rows > 0 && p[0].mlp_rows <= GPU_MLP_CHUNK_MAX && (size_t)p[0].mlp_rows <= T, "%s: MLP rows %d", what, p[0].mlp_rows);
    CHECK(p[0].ce_rows > 0 && p[0].ce_rows <= GPU_CE_CHUNK_MAX && (size_t)p[0].ce_rows <= (l->n_loss ? l->n_loss : 1),
          "%s: CE rows %d", what, p[0].ce_rows);
    const GpuPlanLine *wq = gpu_plan_grad(&p[0], P_WQ, 7);
    const size_t wqkv = model_param_layer_size(m, P_WQ) + model_param_layer_size(m, P_WK) + model_param_layer_size(m, P_WV);
    CHECK(wq && wq->a.bytes == al(wqkv * 2) && wq->a.first == gpu_plan_tick_bwd(m->layers, 7, BWD_QKV_BWD),
          "%s: grad wq[7] line", what);
    CHECK(gpu_plan_grad(&p[1], P_WQ, 7)->a.first == 0, "%s: accumulated gradient not held from the start", what);
    // every gradient byte is counted once, both ways
    for (int mode = 0; mode < 2; mode++) {
        size_t g = 0, w = 0;
        for (int i = 0; i < p[mode].n_lines; i++) {
            if (p[mode].lines[i].kind == GB_GRAD) g += p[mode].lines[i].a.bytes;
            if (p[mode].lines[i].kind == GB_WEIGHTS) w = p[mode].lines[i].a.bytes;
        }
        CHECK(g >= model_param_bytes_bf16(m) && g < model_param_bytes_bf16(m) + 4096 * 256, "%s: gradient bytes %zu", what, g);
        CHECK(w == al(model_param_bytes_bf16(m)), "%s: weights", what);
        CHECK(p[mode].peak >= w + model_param_bytes_bf16(m), "%s: peak below weights + gradients", what);
    }
    CHECK(p[1].peak >= p[0].peak, "%s: accumulation peak below the default one", what);
    fig.peak = (double)p[0].peak / 1e9;
    fig.accum = (double)p[1].peak / 1e9;
    gpu_memory_plan_free(&p[0]);
    gpu_memory_plan_free(&p[1]);
    return fig;
}

// Issue 11's hook: a policy that keeps some activations from the forward (here attention output
// and statistics, then every per-layer activation) changes lifetimes only; the same planner
// places the plan, the checker passes, the backward finds the kept forward line, and the peak
// grows by no more than what is kept.
static void test_recompute_policy(const ModelConfig *m, const Layout *l) {
    static GpuRecompute keep_att, keep_all;
    for (int ly = 0; ly < m->layers; ly++) {
        keep_att.keep[ly] = (1ull << GB_ATT) | (1ull << GB_LSE);
        keep_all.keep[ly] = keep_att.keep[ly] | (1ull << GB_Q) | (1ull << GB_K) | (1ull << GB_V) | (1ull << GB_LN1) |
                            (1ull << GB_RSTD1) | (1ull << GB_LN2) | (1ull << GB_RSTD2);
    }
    GpuPlanInput in = {.m = m, .l = l, .mode = GPU_PLAN_DEFAULT, .mlp_rows = 4096, .ce_rows = 2048, .attn_tight = 0};
    gpu_plan_attn_figures("cudnn", m, l, &(AttnMemoryAsk){ATTN_PREFIX_AUTO, 0, 0}, &in);
    GpuMemPlan base, p;
    char err[256];
    CHECK(gpu_memory_plan(&in, &base, err, sizeof err) == 0, "recompute: %s", err);
    const GpuRecompute *policies[2] = {&keep_att, &keep_all};
    for (int k = 0; k < 2; k++) {
        in.recompute = policies[k];
        if (gpu_memory_plan(&in, &p, err, sizeof err)) { CHECK(0, "recompute: %s", err); continue; }
        ArenaBuf *a = malloc((size_t)p.n_lines * sizeof *a);
        for (int i = 0; i < p.n_lines; i++) a[i] = p.lines[i].a;
        int bi, bj;
        CHECK(arena_check(a, p.n_lines, &bi, &bj) == 0, "recompute policy %d: lines %d and %d overlap", k, bi, bj);
        free(a);
        const GpuPlanLine *f = gpu_plan_buf(&p, GB_ATT, 3, PASS_FWD), *b = gpu_plan_buf(&p, GB_ATT, 3, PASS_BWD);
        CHECK(f && f == b && f->a.last == gpu_plan_tick_bwd(m->layers, 3, BWD_ATTN_BWD), "recompute policy %d: kept att", k);
        CHECK(p.n_lines < base.n_lines, "recompute policy %d: kept kinds still have backward lines", k);
        size_t kept = (size_t)m->layers * (f->a.bytes + gpu_plan_buf(&p, GB_LSE, 0, PASS_FWD)->a.bytes);
        CHECK(p.peak >= base.peak && (k == 1 || p.peak <= base.peak + kept), "recompute policy %d: peak %.3f GB vs %.3f GB "
              "without", k, p.peak / 1e9, base.peak / 1e9);
        printf("recompute policy %s: peak %.3f GB (keeping nothing but the checkpoints: %.3f GB)\n",
               k ? "keep every activation" : "keep attention output", p.peak / 1e9, base.peak / 1e9);
        gpu_memory_plan_free(&p);
    }
    gpu_memory_plan_free(&base);
}

/* The padded layout's backward parts (attention/attn_memory.h): whole when few, the divisors of the
 * row count below it by tight level, at most the forced rows; the backward's scratch covers one
 * part's slots (workspace as the fp32 (slots, Hq, D) floor, sums, dQ accumulator) and each part
 * holds its own lengths; the forward's scratch stays the whole call's. */
static void test_padded_parts(const ModelConfig *m) {
    int32_t pl[1] = {4096}, cl[16];
    for (int i = 0; i < 16; i++) cl[i] = 512 - i; // uneven: rows are padded to 4608
    GroupBatch g;
    Layout l;
    CHECK(groups_make(&g, 1, 16, pl, cl, m->vocab, 1) == 0 && layout_build(&l, STRATEGY_PADDED, &g) == 0, "layout");
    const AttnShape sh = {m->n_head, m->n_kv_head, m->head_dim};
    const size_t slot_bwd = (size_t)sh.n_head * (size_t)sh.head_dim * 4 * 2 + (size_t)sh.n_head * 4;
    static const int want[ATTN_TIGHT_LEVELS] = {16, 8, 4, 2};
    for (int t = 0; t < ATTN_TIGHT_LEVELS + 2; t++) {
        const int forced = t < ATTN_TIGHT_LEVELS ? 0 : t == ATTN_TIGHT_LEVELS ? 3 : 1; // 3: not a divisor -> 2
        const int rows = forced ? (forced == 3 ? 2 : 1) : want[t];
        const AttnMemoryAsk ask = {ATTN_PREFIX_AUTO, forced ? 1 : t, forced};
        AttnParts parts;
        AttnMemory mem;
        CHECK(attn_cudnn_parts(&sh, &l, &ask, &parts) == 0 && attn_memory("cudnn", &sh, &l, &ask, &mem) == 0, "figures");
        CHECK(parts.part[ATTN_PARTED_WHOLE] == rows, "level %d forced %d: %d rows per part, want %d", t, forced,
              parts.part[ATTN_PARTED_WHOLE], rows);
        const size_t slots = (size_t)rows * (size_t)l.row_len, n_parts = (size_t)(16 / rows);
        CHECK(parts.span[ATTN_PARTED_WHOLE].q == (int64_t)slots, "span %lld, want %zu",
              (long long)parts.span[ATTN_PARTED_WHOLE].q, slots);
        CHECK(mem.scratch[ATTN_BWD] == slots * slot_bwd + ATTN_CUDNN_PADDED_BWD_EXTRA, "backward scratch %zu, want %zu",
              mem.scratch[ATTN_BWD], slots * slot_bwd + ATTN_CUDNN_PADDED_BWD_EXTRA);
        CHECK(mem.scratch[ATTN_FWD] == l.n_slots * (size_t)sh.n_head * (size_t)sh.head_dim * 4,
              "forward scratch %zu: the whole call's workspace", mem.scratch[ATTN_FWD]);
        CHECK(mem.held == 16 * 8 + (n_parts > 1 ? n_parts * (size_t)rows * 8 : 0), "held %zu", mem.held);
    }
    layout_free(&l);
    groups_free(&g);
}

typedef struct Row { int p, c, b, k; double aim[3]; } Row;

int main(void) {
    // every buffer has its own name (buf_names is bound to the enumerators)
    for (int i = 0; i < GB_COUNT; i++) {
        CHECK(strcmp(gpu_buf_name((GpuBuf)i), "?") != 0, "buffer %d has no name", i);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(gpu_buf_name((GpuBuf)i), gpu_buf_name((GpuBuf)j)) != 0, "buffers %d and %d share a name", j, i);
    }
    test_planner_cases();
    test_planner_random();

    ModelConfig m; // the shipped config: one source of truth for the shape
    char path[1024], err[512];
    if (config_find("models", "qwen2.5-7b", path, sizeof path, err, sizeof err) ||
        config_load_model(path, &m, err, sizeof err)) {
        printf("FAIL: %s\n", err);
        return 1;
    }
    test_padded_parts(&m);
    // the table: cell, prompts x completions, and the aim (GB, at most) per strategy
    const Row rows[] = {
        {512, 512, 3, 2, {31.0, 31.0, 30.8}},   {2048, 512, 3, 2, {32.5, 32.5, 31.3}},
        {4096, 4096, 3, 2, {34, 34, 33}},       {16384, 128, 3, 2, {45, 45, 34}},
        {2048, 1024, 2, 8, {34, 34, 32}},       {4096, 512, 1, 16, {37, 37, 31.5}},
        {16384, 16384, 3, 2, {70, 70, 60}},
    };
    printf("%-14s %-6s  %8s %8s  %6s\n", "cell", "", "peak GB", "accum GB", "aim");
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        const Row *w = &rows[r];
        int32_t pl[16], cl[64];
        for (int i = 0; i < w->b; i++) pl[i] = w->p;
        for (int i = 0; i < w->b * w->k; i++) cl[i] = w->c;
        GroupBatch g;
        CHECK(groups_make(&g, w->b, w->k, pl, cl, m.vocab, 1) == 0, "groups_make");
        PlanFig f[STRATEGY_COUNT];
        for (int s = 0; s < STRATEGY_TREE; s++) { // the three (tree is prefix at two levels)
            Layout l;
            CHECK(layout_build(&l, (Strategy)s, &g) == 0, "layout_build");
            char what[96];
            snprintf(what, sizeof what, "%dx%d %dx%d %s", w->p, w->c, w->b, w->k, strategy_name((Strategy)s));
            f[s] = check_plan(&m, &l, what);
            printf("%-14s %-6s  %8.3f %8.3f  %6.1f%s\n", s == 0 ? what : "", strategy_name((Strategy)s), f[s].peak,
                   f[s].accum, w->aim[s], f[s].peak <= w->aim[s] ? "" : "  above the aim");
            // every row at or below its aim; padded 4096x512 1x16 and 16384x16384 only since the padded
            // backward runs in parts of rows (attn_memory.h): whole, their peaks were 37.23 and 71.23 GB,
            // an attention backward holding cuDNN's fp32 (slots, Hq, D) workspace beside the dQ accumulator
            CHECK(f[s].peak <= w->aim[s], "%s: plan %.3f GB above the aim %.1f GB", what, f[s].peak, w->aim[s]);
            layout_free(&l);
        }
        CHECK(f[STRATEGY_PREFIX].peak <= f[STRATEGY_PADDED].peak, "%dx%d: prefix %.3f GB above padded %.3f GB", w->p,
              w->c, f[STRATEGY_PREFIX].peak, f[STRATEGY_PADDED].peak);
        groups_free(&g);
    }

    {
        int32_t pl[3] = {2048, 2048, 2048}, cl[6] = {1024, 1024, 1024, 1024, 1024, 1024};
        GroupBatch g;
        Layout l;
        CHECK(groups_make(&g, 3, 2, pl, cl, m.vocab, 1) == 0 && layout_build(&l, STRATEGY_PREFIX, &g) == 0, "layout");
        test_recompute_policy(&m, &l);
        layout_free(&l);
        groups_free(&g);
    }

    return test_finish("test_memory_plan");
}
