/*
 * test_prefix_share.c: the prefix layout's per-group choice, share the prompt or run the group
 * the padded way (strategies/prefix_share.h).
 *  1. The reference grid (configs/sweeps/nll_2_qwen7b, Qwen2.5-7B's FLOP rates): exactly the six
 *     cells measured slower shared than padded go the padded way, and their prefix layout is the
 *     padded layout itself; every other cell shares every group and is the always-shared layout.
 *     Each group's gain equals the ideal of model_flops over the built layouts (one FLOP count).
 *  2. A mixed batch in the random sweep's length range: the group of a long prompt shares, the
 *     short-prompt ones run as documents [P, c]; its counts are the chosen groups' counts, and
 *     its memory plan (cuDNN host figures) peaks no higher than padded's.
 *  3. Random forests at several theta: the built layout's counts are the sum of each group's
 *     chosen counts (layout_estimate_group) and its lone roots'; the mask encodings agree; the
 *     mixed ones' CPU loss and gradients equal padded's (<= 1e-5).
 *  4. CPU fp32, tiny model at its own rates: loss and every gradient of the prefix layout equal
 *     padded's (<= 1e-5) for all-padded, mixed, all-shared and K = 1 batches.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../gpu/memory_plan.h"
#include "../../harness/config.h"
#include "../../harness/share_rule.h"
#include "../../harness/sweep.h"
#include "../../reference/cpu_step.h"
#include "../../strategies/layout_estimate.h"
#include "tiny.h"

static int same_i32(const int32_t *a, const int32_t *b, size_t n) { return !memcmp(a, b, n * sizeof *a); }

// Every array and count of two layouts equal (the prefix choice's fields aside).
static int layouts_equal(const Layout *a, const Layout *b) {
    if (a->strategy != b->strategy || a->n_rows != b->n_rows || a->row_len != b->row_len || a->n_slots != b->n_slots ||
        a->n_real != b->n_real || a->n_nodes != b->n_nodes || a->n_seqs != b->n_seqs || a->n_segs != b->n_segs ||
        a->n_loss != b->n_loss || a->attn_pairs != b->attn_pairs || a->n_loss_rows != b->n_loss_rows)
        return 0;
    size_t n = a->n_slots;
    return same_i32(a->tokens, b->tokens, n) && same_i32(a->pos, b->pos, n) && same_i32(a->node_of, b->node_of, n) &&
           same_i32(a->key_end, b->key_end, n) && same_i32(a->kv_lo, b->kv_lo, n) &&
           same_i32(a->shared_end, b->shared_end, n) && same_i32(a->seg_lo, b->seg_lo, n) &&
           same_i32(a->loss_row, b->loss_row, a->n_loss) && same_i32(a->loss_target, b->loss_target, a->n_loss) &&
           same_i32(a->loss_weight, b->loss_weight, a->n_loss) &&
           !memcmp(a->seqs, b->seqs, (size_t)a->n_seqs * sizeof *a->seqs);
}

static double layout_flops(const ModelConfig *m, const Layout *l) {
    return model_flops(m, l->n_slots, l->attn_pairs, l->n_loss_rows).total;
}

static int load(const char *kind, const char *name, ModelConfig *m, SweepConfig *sw) {
    char path[4200], err[600];
    int rc = config_find(kind, name, path, sizeof path, err, sizeof err) ||
             (m ? config_load_model(path, m, err, sizeof err) : config_load_sweep(path, sw, err, sizeof err));
    CHECK(!rc, "%s %s: %s", kind, name, err);
    return rc;
}

// 1. The grid.
static void check_grid(void) {
    SweepConfig sw;
    ModelConfig m;
    char err[600];
    if (load("sweeps", "nll_2_qwen7b", NULL, &sw) || load("models", sw.model, &m, NULL)) return;
    CellSource cells;
    if (cells_from_sweep(&sw, &cells, err, sizeof err)) { CHECK(0, "%s", err); return; }
    const PrefixShare rule = share_rule(&m, PREFIX_SHARE_AUTO), always = share_rule(&m, PREFIX_SHARE_ALWAYS);
    static const int padded_way[][2] = {{128, 4096}, {128, 8192}, {128, 16384}, {256, 8192}, {256, 16384}, {512, 16384}};
    int n_switched = 0;
    printf("test_prefix_share: grid cells run the padded way at theta %.3g:", rule.theta);
    for (int i = 0; i < cells.n; i++) {
        Cell c;
        Forest f;
        char why[256];
        if (cell_make(&cells, i, &c)) { CHECK(0, "cell_make"); continue; }
        int p = c.prompt_len, n = c.completion_len;
        int bad = cell_batch(&c, m.vocab, 1, &f, why, sizeof why);
        cell_free(&c);
        if (bad) { CHECK(0, "cell %d: %s", i, why); continue; }
        int want_padded = 0;
        for (size_t j = 0; j < sizeof padded_way / sizeof padded_way[0]; j++)
            want_padded |= padded_way[j][0] == p && padded_way[j][1] == n;
        Layout a, s, pad;
        if (layout_build_forest_share(&a, STRATEGY_PREFIX, &f, &rule) || layout_build_forest(&s, STRATEGY_PREFIX, &f) ||
            layout_build_forest(&pad, STRATEGY_PADDED, &f)) {
            CHECK(0, "%dx%d: layout", p, n);
            forest_free(&f);
            continue;
        }
        const double ideal = layout_flops(&m, &pad) / layout_flops(&m, &s);
        ForestWalk w;
        CHECK(forest_walk(&w, &f) == 0, "walk");
        for (int seg = 0; seg < f.n_segs; seg++) { // each group's gain is the cell's ideal (uniform cells)
            LayoutCounts sh, un;
            double gain = 0;
            if (!w.leaf_children[seg]) continue;
            CHECK(layout_estimate_group(&f, &w, seg, &sh, &un) == 0, "group counts");
            int shares = prefix_share_decide(&rule, &sh, &un, &gain);
            CHECK(fabs(gain / ideal - 1) < 1e-12, "%dx%d: group gain %.9f, layouts' ideal %.9f", p, n, gain, ideal);
            CHECK(shares == !want_padded, "%dx%d: group gain %.4f %s", p, n, gain, shares ? "shares" : "padded way");
            CHECK(prefix_share_decide(&always, &sh, &un, NULL) == 1, "always did not share");
        }
        forest_walk_free(&w);
        CHECK(a.n_prefix_groups == 3 && a.n_shared_groups == (want_padded ? 0 : 3), "%dx%d: %d/%d shared", p, n,
              a.n_shared_groups, a.n_prefix_groups);
        CHECK(layouts_equal(&a, want_padded ? &pad : &s), "%dx%d: prefix (auto) is not the %s layout", p, n,
              want_padded ? "padded" : "shared prefix");
        if (want_padded) { n_switched++; printf(" %dx%d (ideal %.4f)", p, n, ideal); }
        layout_free(&a); layout_free(&s); layout_free(&pad);
        forest_free(&f);
    }
    printf("\n");
    CHECK(cells.n == 64 && n_switched == 6, "%d cells, %d run the padded way (want 64, 6)", cells.n, n_switched);
    // --prefix-share always keeps the old layout where auto pads
    int32_t pl[3] = {128, 128, 128}, cl[6] = {16384, 16384, 16384, 16384, 16384, 16384};
    GroupBatch g;
    Layout a;
    CHECK(groups_make(&g, 3, 2, pl, cl, m.vocab, 1) == 0 && layout_build_share(&a, STRATEGY_PREFIX, &g, &always) == 0,
          "layout");
    CHECK(a.strategy == STRATEGY_PREFIX && a.n_shared_groups == 3 && a.n_prefix_groups == 3, "always: %d/%d shared",
          a.n_shared_groups, a.n_prefix_groups);
    layout_free(&a);
    groups_free(&g);
    cells_source_free(&cells);
}

// The layout's counts against the sum of its groups' chosen counts (and its lone roots').
static void check_counts(const Forest *f, const PrefixShare *rule, const Layout *l, const char *tag) {
    ForestWalk w;
    if (forest_walk(&w, f)) { CHECK(0, "walk"); return; }
    LayoutCounts sum = {0};
    int groups = 0, shared = 0;
    for (int seg = 0; seg < f->n_segs; seg++) {
        LayoutCounts sh, un;
        if (f->parent[seg] < 0 && w.leaf[seg]) { // a lone root: itself
            sum.n_slots += f->len[seg];
            sum.attn_pairs += (int64_t)f->len[seg] * (f->len[seg] + 1) / 2;
            sum.n_loss += f->loss[seg] ? f->len[seg] - 1 : 0;
            sum.n_loss_rows += f->loss[seg] ? f->len[seg] - 1 : 0;
            continue;
        }
        if (!w.leaf_children[seg]) continue;
        CHECK(layout_estimate_group(f, &w, seg, &sh, &un) == 0, "group counts");
        int s = prefix_share_decide(rule, &sh, &un, NULL);
        const LayoutCounts *c = s ? &sh : &un;
        groups++;
        shared += s;
        sum.n_slots += c->n_slots;
        sum.attn_pairs += c->attn_pairs;
        sum.n_loss += c->n_loss;
        sum.n_loss_rows += c->n_loss_rows;
    }
    forest_walk_free(&w);
    CHECK(l->n_prefix_groups == groups && l->n_shared_groups == shared, "%s: %d/%d shared, rule says %d/%d", tag,
          l->n_shared_groups, l->n_prefix_groups, shared, groups);
    CHECK((int64_t)l->n_real == sum.n_slots && (int64_t)l->attn_pairs == sum.attn_pairs &&
          (int64_t)l->n_loss == sum.n_loss && (int64_t)l->n_loss_rows == sum.n_loss_rows,
          "%s: layout real %zu pairs %zu loss %zu rows %zu, groups %lld %lld %lld %lld", tag, l->n_real, l->attn_pairs,
          l->n_loss, l->n_loss_rows, (long long)sum.n_slots, (long long)sum.attn_pairs, (long long)sum.n_loss,
          (long long)sum.n_loss_rows);
}

// The mask's encodings agree with its definition on every (q, k) pair (small layouts only).
static void check_mask(const Layout *l, const char *tag) {
    size_t bad = 0, pairs = 0;
    for (size_t q = 0; q < l->n_slots; q++)
        for (size_t k = 0; k < l->n_slots; k++) {
            int a = layout_allows(l, q, k);
            pairs += (size_t)a;
            bad += a != layout_allows_key_end(l, q, k) || (layout_bounds_exact(l) && a != layout_allows_ranges(l, q, k));
        }
    CHECK(bad == 0 && pairs == l->attn_pairs, "%s: %zu pairs disagree, %zu allowed vs attn_pairs %zu", tag, bad, pairs,
          l->attn_pairs);
}

// The default-mode peak of the GPU step's memory plan (cuDNN host figures). 0 on failure.
static size_t plan_peak(const ModelConfig *m, const Layout *l) {
    GpuPlanInput in = {.m = m, .l = l, .attn_tight = -1};
    GpuMemPlan p;
    char err[256];
    if (gpu_plan_attn_figures("cudnn", m, l, &(AttnMemoryAsk){ATTN_PREFIX_AUTO, 0, 0}, &in) ||
        gpu_memory_plan(&in, &p, err, sizeof err)) {
        CHECK(0, "memory plan: %s", err);
        return 0;
    }
    size_t peak = p.peak;
    CHECK(p.peak == p.live_peak, "plan peak %zu above the live peak %zu", p.peak, p.live_peak);
    gpu_memory_plan_free(&p);
    return peak;
}

// 2. A mixed batch in the random sweep's range (prompts and completions 128..16384).
static void check_mixed_qwen(void) {
    ModelConfig m;
    if (load("models", "qwen2.5-7b", &m, NULL)) return;
    const PrefixShare rule = share_rule(&m, PREFIX_SHARE_AUTO);
    int32_t pl[3] = {128, 4096, 300}, cl[6] = {16000, 9000, 4096, 4096, 12000, 15000};
    GroupBatch g;
    Forest f;
    Layout l;
    if (groups_make(&g, 3, 2, pl, cl, m.vocab, 3) || forest_from_groups(&f, &g) ||
        layout_build_forest_share(&l, STRATEGY_PREFIX, &f, &rule)) {
        CHECK(0, "mixed: layout");
        return;
    }
    CHECK(l.strategy == STRATEGY_PREFIX && l.n_shared_groups == 1 && l.n_prefix_groups == 3, "mixed: %d/%d shared",
          l.n_shared_groups, l.n_prefix_groups);
    // sequences: [128, 16000], [128, 9000], the shared group, [300, 12000], [300, 15000]
    static const int32_t want_len[5] = {16128, 9128, 12288, 12300, 15300}, want_shared[5] = {16128, 9128, 4096, 12300, 15300};
    CHECK(l.n_seqs == 5 && l.n_segs == 2, "mixed: %d sequences, %d segments", l.n_seqs, l.n_segs);
    for (int i = 0; i < l.n_seqs && i < 5; i++) {
        const LayoutSeq *s = &l.seqs[i];
        CHECK(s->len == want_len[i] && s->shared_len == want_shared[i], "mixed: sequence %d len %d shared %d", i, s->len,
              s->shared_len);
        const int32_t last = s->len == s->shared_len ? s->len - 1 : 4096 + 4096 - 1; // a document; the group's 2nd completion
        CHECK(l.pos[s->start] == 0 && l.pos[s->start + s->len - 1] == last, "mixed: sequence %d positions", i);
    }
    check_counts(&f, &rule, &l, "mixed");
    Layout pad, all;
    if (layout_build_forest(&pad, STRATEGY_PADDED, &f) || layout_build_forest(&all, STRATEGY_PREFIX, &f)) {
        CHECK(0, "mixed: padded / shared layout");
    } else {
        const size_t peak = plan_peak(&m, &l), peak_pad = plan_peak(&m, &pad), peak_all = plan_peak(&m, &all);
        CHECK(peak && peak <= peak_pad, "mixed: prefix plan %.3f GB above padded %.3f GB", peak / 1e9, peak_pad / 1e9);
        printf("test_prefix_share: mixed 128x(16000,9000) 4096x(4096,4096) 300x(12000,15000): %d/%d groups shared, "
               "%zu slots (padded %zu, all shared %zu); plan %.3f GB (padded %.3f, all shared %.3f)\n",
               l.n_shared_groups, l.n_prefix_groups, l.n_slots, pad.n_slots, all.n_slots, peak / 1e9, peak_pad / 1e9,
               peak_all / 1e9);
    }
    layout_free(&pad);
    layout_free(&all);
    layout_free(&l);
    forest_free(&f);
    groups_free(&g);
}

// Loss and every gradient of layout l equal those of padded layout pad (CPU fp32, <= 1e-5); the
// relative loss and worst gradient errors into *el, *eg.
static void check_equal_padded(const ModelConfig *m, const Layout *pad, const Layout *l, const char *tag, double *el,
                               double *eg) {
    size_t off[P_COUNT], n = model_param_offsets(m, off);
    float *params = malloc(n * sizeof(float)), *gp = malloc(n * sizeof(float)), *gx = malloc(n * sizeof(float));
    *el = *eg = INFINITY;
    if (params && gp && gx) {
        model_init_params(m, 42, params);
        double lp = cpu_step(m, params, gp, pad, 1), lx = cpu_step(m, params, gx, l, 1);
        int wt = 0;
        *el = fabs(lx - lp) / fabs(lp);
        *eg = grads_rel_err(m, gp, gx, &wt);
        CHECK(*el <= 1e-5 && *eg <= 1e-5, "%s: loss %.9g vs padded %.9g (rel %.2e), gradient rel err %.2e in %s", tag, lx,
              lp, *el, *eg, model_param_name((ParamId)wt));
    }
    CHECK(params && gp && gx, "%s: out of memory", tag);
    free(params); free(gp); free(gx);
}

// 3. Random forests: counts and mask of the layouts the rule builds, from all shared to none.
static void check_forests(void) {
    static const double thetas[] = {-1.0, 0.02, 0.1, 0.3, 1e9};
    ModelConfig m = tiny_model();
    int mixed = 0, stepped = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        Forest f;
        if (tiny_forest(&f, 2 + (int)(seed % 3), 9, m.vocab, seed)) { CHECK(0, "forest"); continue; }
        for (size_t t = 0; t < sizeof thetas / sizeof thetas[0]; t++) {
            PrefixShare rule = share_rule(&m, PREFIX_SHARE_AUTO);
            rule.theta = thetas[t];
            Layout l;
            char tag[64];
            snprintf(tag, sizeof tag, "forest %llu theta %g", (unsigned long long)seed, thetas[t]);
            if (layout_build_forest_share(&l, STRATEGY_PREFIX, &f, &rule)) { CHECK(0, "%s: layout", tag); continue; }
            if (l.strategy == STRATEGY_PADDED) { // none shared: exactly the padded layout
                Layout pad;
                CHECK(layout_build_forest(&pad, STRATEGY_PADDED, &f) == 0 && layouts_equal(&l, &pad), "%s: not padded", tag);
                layout_free(&pad);
            } else {
                check_counts(&f, &rule, &l, tag);
            }
            const int is_mixed = l.n_shared_groups > 0 && l.n_shared_groups < l.n_prefix_groups;
            if (is_mixed && stepped < 8) {
                Layout pad;
                double el, eg;
                CHECK(layout_build_forest(&pad, STRATEGY_PADDED, &f) == 0, "%s: padded layout", tag);
                check_equal_padded(&m, &pad, &l, tag, &el, &eg);
                layout_free(&pad);
                stepped++;
            }
            mixed += is_mixed;
            check_mask(&l, tag);
            layout_free(&l);
        }
        forest_free(&f);
    }
    CHECK(mixed >= 10 && stepped == 8, "only %d mixed forest layouts, %d stepped", mixed, stepped);
    printf("test_prefix_share: 40 forests x 5 theta, %d mixed layouts (%d of them stepped against padded)\n", mixed,
           stepped);
}

// 4. Loss and gradients of the prefix layout (auto, the tiny model's own rates) equal padded's.
static void check_equal_to_padded(void) {
    ModelConfig m = tiny_model();
    const PrefixShare rule = share_rule(&m, PREFIX_SHARE_AUTO);
    // group gains at the tiny model's rates: p = 1 against ~60-token completions ~1.008 (padded
    // way), p = 8 against 3-4 tokens ~1.5 (shared); K = 1 is 1 exactly (padded way)
    // padded_layout: no group shares and every path has one length, so the prefix step is the
    // padded layout itself; unshared groups of several path lengths stay documents (no padding)
    static const struct { const char *name; int B, K; int32_t pl[3], cl[6]; int want_shared, padded_layout; } cases[] = {
        {"all padded", 2, 2, {1, 2}, {60, 50, 64, 58}, 0, 0},
        {"one length", 2, 2, {1, 2}, {60, 60, 59, 59}, 0, 1},
        {"mixed", 3, 2, {1, 8, 2}, {60, 50, 3, 4, 62, 55}, 1, 0},
        {"all shared", 2, 2, {8, 6}, {3, 4, 2, 5}, 2, 0},
        {"K = 1", 2, 1, {5, 9}, {3, 4}, 0, 0},
        {"K = 1 even", 2, 1, {5, 4}, {4, 5}, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        GroupBatch g;
        Layout pad, pre;
        if (groups_make(&g, cases[i].B, cases[i].K, cases[i].pl, cases[i].cl, m.vocab, 11 + i) ||
            layout_build(&pad, STRATEGY_PADDED, &g) || layout_build_share(&pre, STRATEGY_PREFIX, &g, &rule)) {
            CHECK(0, "%s: layout", cases[i].name);
            continue;
        }
        CHECK(pre.n_prefix_groups == cases[i].B && pre.n_shared_groups == cases[i].want_shared, "%s: %d/%d shared (want %d)",
              cases[i].name, pre.n_shared_groups, pre.n_prefix_groups, cases[i].want_shared);
        CHECK((pre.strategy == STRATEGY_PADDED) == cases[i].padded_layout, "%s: layout kind %s", cases[i].name,
              strategy_name(pre.strategy));
        CHECK(pre.strategy == STRATEGY_PADDED || pre.n_slots <= pad.n_slots, "%s: %zu slots above padded's %zu",
              cases[i].name, pre.n_slots, pad.n_slots);
        check_mask(&pre, cases[i].name);
        double el, eg;
        check_equal_padded(&m, &pad, &pre, cases[i].name, &el, &eg);
        printf("test_prefix_share: %-10s %d/%d shared, %zu vs padded %zu slots: loss rel %.2e, gradients rel %.2e\n",
               cases[i].name, pre.n_shared_groups, pre.n_prefix_groups, pre.n_slots, pad.n_slots, el, eg);
        layout_free(&pad);
        layout_free(&pre);
        groups_free(&g);
    }
}

int main(void) {
    PrefixShareMode mode;
    CHECK(prefix_share_mode_parse(NULL, &mode) == 0 && mode == PREFIX_SHARE_AUTO, "NULL is not auto");
    CHECK(prefix_share_mode_parse("always", &mode) == 0 && mode == PREFIX_SHARE_ALWAYS, "always");
    CHECK(prefix_share_mode_parse("never", &mode) == -1, "never accepted");
    check_grid();
    check_mixed_qwen();
    check_forests();
    check_equal_to_padded();
    return test_finish("test_prefix_share");
}
