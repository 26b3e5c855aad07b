/*
 * test_recompute_plan.c: the recompute policy on the host (issue 11): model/recompute.h's FLOPs
 * and names, gpu/memory_plan.c's keep sets, gpu/recompute_plan.c's choice. Qwen2.5-7B at
 * 512x512 and 2048x512, 3 prompts x 2 completions, every strategy:
 *   - full plans exactly what the plan without a policy plans (the default is unchanged);
 *   - selective and none: no two lines overlap while live (arena_check), the peak is the live
 *     peak (kept lines stack with the checkpoints: no fragmentation); every kept kind's
 *     forward line lives from its forward birth to its last backward use and no backward line
 *     is made (the backward reads the forward's); x1 gets a forward line only where kept; none's
 *     MLP line is gate, up, h of all T tokens; a kept attention has no backward attention-forward
 *     scratch; peaks full <= selective <= none; none's peak printed (what `bench plan` shows);
 *   - auto: the choice's plan fits its budget; a roomy budget gives none everywhere; a budget
 *     below full's peak gives full and fits = 0; budgets between give mixes, and a tighter one
 *     never recomputes less; the choice changes its mind only where the budget says so;
 *   - hardware FLOPs: full recomputes qkv + o + gate/up + the attention forward of every layer
 *     (about 1.24x model FLOPs at 2048x512), selective the gate/up GEMMs, none nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../gpu/recompute_plan.h"
#include "../../model/roofline.h"
#include "../../harness/config.h"
#include "../test_util.h"

// The plan of one layout at these levels (chunks chosen as the step chooses them).
static int plan_at(const ModelConfig *m, const Layout *l, const unsigned char *levels, GpuMemPlan *p) {
    GpuPlanInput in = {.m = m, .l = l, .mode = GPU_PLAN_DEFAULT, .attn_tight = -1};
    static GpuRecompute keep;
    gpu_plan_attn_figures("cudnn", m, l, &(AttnMemoryAsk){ATTN_PREFIX_AUTO, 0, 0}, &in);
    if (levels) {
        gpu_recompute_of_levels(levels, m->layers, &keep);
        in.recompute = &keep;
    }
    char err[256];
    if (gpu_memory_plan(&in, p, err, sizeof err)) { CHECK(0, "plan: %s", err); return -1; }
    return 0;
}

static void check_lines(const ModelConfig *m, const Layout *l, const GpuMemPlan *p, RecomputeLevel lv, const char *what) {
    ArenaBuf *a = malloc((size_t)p->n_lines * sizeof *a);
    for (int i = 0; i < p->n_lines; i++) a[i] = p->lines[i].a;
    int bi = -1, bj = -1;
    CHECK(arena_check(a, p->n_lines, &bi, &bj) == 0, "%s: lines %d and %d overlap while live", what, bi, bj);
    free(a);
    // kept lines stack with the checkpoints (ARENA_UP): no holes at these cells (with them placed
    // anywhere, selective at 2048x512 padded planned 32.78 GB for 31.37 GB live)
    CHECK(p->peak == p->live_peak, "%s %s: peak %zu above the live peak %zu (fragmentation)", what,
          recompute_level_name(lv), p->peak, p->live_peak);
    const int L = m->layers;
    const uint64_t keep = gpu_recompute_keep(lv);
    // the kinds, their forward birth and last backward use (the step's order, memory_plan.c)
    const struct { GpuBuf k; int fwd, bwd; } kinds[] = {
        {GB_LN1, FWD_LN1, BWD_QKV_BWD}, {GB_RSTD1, FWD_LN1, BWD_LN1_BWD}, {GB_Q, FWD_QKV, BWD_ATTN_BWD},
        {GB_K, FWD_QKV, BWD_ATTN_BWD}, {GB_V, FWD_QKV, BWD_ATTN_BWD}, {GB_ATT, FWD_ATTN, BWD_ATTN_BWD},
        {GB_LSE, FWD_ATTN, BWD_ATTN_BWD}, {GB_X1, FWD_OPROJ, BWD_MLP}, {GB_LN2, FWD_OPROJ, BWD_MLP},
        {GB_RSTD2, FWD_OPROJ, BWD_MLP}, {GB_MLP_CHUNK, FWD_MLP, BWD_MLP},
    };
    for (int ly = 0; ly < L; ly += L - 1) { // the first and the last layer
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
            const GpuPlanLine *f = gpu_plan_buf(p, kinds[i].k, ly, PASS_FWD), *b = gpu_plan_buf(p, kinds[i].k, ly, PASS_BWD);
            const char *name = gpu_buf_name(kinds[i].k);
            if ((keep >> kinds[i].k) & 1) {
                CHECK(f && f == b && f->a.first == gpu_plan_tick_fwd(ly, kinds[i].fwd) &&
                          f->a.last == gpu_plan_tick_bwd(L, ly, kinds[i].bwd),
                      "%s: kept %s[%d]: forward line %d..%d, want %d..%d and no backward line", what, name, ly,
                      f ? f->a.first : -1, f ? f->a.last : -1, gpu_plan_tick_fwd(ly, kinds[i].fwd),
                      gpu_plan_tick_bwd(L, ly, kinds[i].bwd));
            } else {
                CHECK(b && b->pass == PASS_BWD, "%s: %s[%d] recomputed but has no backward line", what, name, ly);
                CHECK(kinds[i].k != GB_X1 || !f, "%s: x1[%d] has a forward line but is not kept", what, ly);
                CHECK(!f || f->a.last <= gpu_plan_tick_fwd(ly, FWD_MLP), "%s: %s[%d] lives past its forward", what, name, ly);
            }
        }
        const GpuPlanLine *mlp = gpu_plan_buf(p, GB_MLP_CHUNK, ly, PASS_FWD);
        const size_t want = lv == RECOMPUTE_NONE ? 3 * p->mlp_full_line : 3 * p->mlp_line;
        CHECK(mlp && mlp->a.bytes == want && p->mlp_full_line >= l->n_slots * (size_t)m->mlp * 2,
              "%s: MLP line %zu bytes, want %zu", what, mlp ? mlp->a.bytes : 0, want);
        const GpuPlanLine *sc = gpu_plan_buf(p, GB_ATTN_FWD_SCRATCH, ly, PASS_BWD);
        CHECK(lv == RECOMPUTE_FULL ? sc && sc->pass == PASS_BWD : !sc || sc->pass == PASS_FWD,
              "%s: backward attention-forward scratch of layer %d", what, ly);
    }
}

static void check_flops(const ModelConfig *m, const Layout *l, const char *what) {
    unsigned char lv[GPU_PLAN_MAX_LAYERS];
    const double model = model_flops(m, l->n_slots, l->attn_pairs, l->n_loss_rows).total;
    double hw[RECOMPUTE_LEVELS];
    for (int v = 0; v < RECOMPUTE_LEVELS; v++) {
        memset(lv, v, (size_t)m->layers);
        hw[v] = model_hw_flops(m, lv, l->n_slots, l->attn_pairs, l->n_loss_rows);
    }
    const LayerMacs mac = model_layer_macs(m);
    const double T = (double)l->n_slots, L = m->layers;
    const double full = 2 * T * L * (mac.qkv + mac.o + mac.mlp * 2 / 3) + model_attn_fwd_flop_per_pair(m) * (double)l->attn_pairs;
    CHECK(hw[RECOMPUTE_NONE] == model, "%s: none's hardware FLOPs %.6g != model %.6g", what, hw[RECOMPUTE_NONE], model);
    CHECK(fabs(hw[RECOMPUTE_FULL] - model - full) <= 1e-9 * full, "%s: full recomputes %.6g, want %.6g", what,
          hw[RECOMPUTE_FULL] - model, full);
    CHECK(fabs(hw[RECOMPUTE_SELECTIVE] - model - 4 * T * L * mac.mlp / 3) <= 1e-9 * full, "%s: selective", what);
    CHECK(model_hw_flops(m, NULL, l->n_slots, l->attn_pairs, l->n_loss_rows) == hw[RECOMPUTE_FULL], "%s: NULL is full", what);
    // the roofline's recompute pass counts the same FLOPs, level by level
    for (int v = 0; v < RECOMPUTE_LEVELS; v++) {
        memset(lv, v, (size_t)m->layers);
        RoofShape sh = {l->n_slots, l->attn_pairs, l->n_loss, lv};
        RoofCosts rc;
        roofline_costs(m, &sh, &rc);
        const double re = rc.c[OPK_QKV][OPP_RECOMPUTE].flop + rc.c[OPK_O][OPP_RECOMPUTE].flop +
                          rc.c[OPK_MLP][OPP_RECOMPUTE].flop + rc.c[OPK_ATTN][OPP_RECOMPUTE].flop;
        CHECK(fabs(re - (hw[v] - model)) <= 1e-9 * full, "%s: roofline recomputes %.6g at level %d, hardware FLOPs say %.6g",
              what, re, v, hw[v] - model);
        CHECK(v != RECOMPUTE_NONE || (rc.c[OPK_NORM][OPP_RECOMPUTE].bytes == 0 && rc.c[OPK_SWIGLU][OPP_RECOMPUTE].bytes == 0 &&
                                      rc.c[OPK_ROPE][OPP_RECOMPUTE].bytes == 0), "%s: none recomputes memory-bound ops", what);
    }
    printf("  %s: hardware / model FLOPs: full %.4f, selective %.4f, none %.4f\n", what, hw[0] / model, hw[1] / model,
           hw[2] / model);
}

// auto on one layout: fits, monotone in the budget, the extremes.
static void check_auto(const ModelConfig *m, const Layout *l, double peak_full, double peak_none, const char *what) {
    GpuPlanInput in = {.m = m, .l = l, .mode = GPU_PLAN_DEFAULT, .attn_tight = -1};
    gpu_plan_attn_figures("cudnn", m, l, &(AttnMemoryAsk){ATTN_PREFIX_AUTO, 0, 0}, &in);
    char err[256];
    RecomputeChoice c;
    double last_re = -1;
    const int steps = 4;
    for (int i = steps + 1; i >= -1; i--) { // budgets from above none's peak down to below full's
        const double budget = i > steps ? peak_none + 1e9 : i < 0 ? peak_full - 1e9 : peak_full + (peak_none - peak_full) * i / steps;
        if (gpu_recompute_choose(&in, POLICY_AUTO, (size_t)budget, &c, err, sizeof err)) { CHECK(0, "%s: %s", what, err); return; }
        const RecomputeFlops rf = recompute_flops(m, c.level, l->n_slots, l->attn_pairs);
        const double re = recompute_flops_total(&rf);
        char d[128];
        recompute_describe(POLICY_AUTO, c.level, m->layers, d, sizeof d);
        if (i < 0) {
            const RecomputeFlops ff = recompute_flops(m, NULL, l->n_slots, l->attn_pairs);
            CHECK(!c.fits && re == recompute_flops_total(&ff), "%s: budget below full's peak: fits %d, %s", what, c.fits, d);
            continue;
        }
        GpuMemPlan p;
        if (plan_at(m, l, c.level, &p)) return;
        CHECK(c.fits && c.peak == p.peak && (double)p.peak <= budget, "%s: auto at %.3f GB chose %s, peak %.3f GB (fits %d)",
              what, budget / 1e9, d, p.peak / 1e9, c.fits);
        gpu_memory_plan_free(&p);
        if (i > steps) {
            int all_none = 1;
            for (int ly = 0; ly < m->layers; ly++) all_none &= c.level[ly] == RECOMPUTE_NONE;
            CHECK(all_none, "%s: a budget above none's peak chose %s", what, d);
        }
        CHECK(last_re < 0 || re >= last_re, "%s: tighter budget %.3f GB recomputes less (%.4g < %.4g FLOPs): %s", what,
              budget / 1e9, re, last_re, d);
        if (i == steps / 2 || i > steps || i == 0)
            printf("  %s: auto at %.2f GB: %s, peak %.3f GB, recomputed %.3g FLOPs, %d plans\n", what, budget / 1e9, d,
                   c.peak / 1e9, re, c.plans);
        last_re = re;
    }
}

int main(void) {
    // names and the per-layer code
    RecomputePolicy pol;
    CHECK(recompute_policy_parse("auto", &pol) == 0 && pol == POLICY_AUTO && recompute_policy_parse(NULL, &pol) == 0 &&
              pol == POLICY_FULL && recompute_policy_parse("partial", &pol) == -1, "recompute_policy_parse");
    unsigned char mix[5] = {RECOMPUTE_FULL, RECOMPUTE_FULL, RECOMPUTE_SELECTIVE, RECOMPUTE_NONE, RECOMPUTE_NONE};
    char d[96];
    recompute_describe(POLICY_AUTO, mix, 5, d, sizeof d);
    CHECK(!strcmp(d, "auto: 2 none, 1 selective, 2 full (ffsnn)"), "describe: '%s'", d);
    recompute_describe(POLICY_SELECTIVE, mix, 5, d, sizeof d);
    CHECK(!strcmp(d, "selective"), "describe: '%s'", d);
    recompute_describe(POLICY_AUTO, mix, 5, d, 12); // cut short, still terminated
    CHECK(strlen(d) < 12, "describe overflows its buffer");

    ModelConfig m;
    char path[1024], err[512];
    if (config_find("models", "qwen2.5-7b", path, sizeof path, err, sizeof err) ||
        config_load_model(path, &m, err, sizeof err)) {
        printf("FAIL: %s\n", err);
        return 1;
    }
    const int cells[2][2] = {{512, 512}, {2048, 512}};
    for (int c = 0; c < 2; c++) {
        int32_t pl[3], cl[6];
        for (int i = 0; i < 3; i++) pl[i] = cells[c][0];
        for (int i = 0; i < 6; i++) cl[i] = cells[c][1];
        GroupBatch g;
        CHECK(groups_make(&g, 3, 2, pl, cl, m.vocab, 1) == 0, "groups_make");
        for (int s = 0; s < STRATEGY_TREE; s++) {
            Layout l;
            CHECK(layout_build(&l, (Strategy)s, &g) == 0, "layout_build");
            char what[64];
            snprintf(what, sizeof what, "%dx%d 3x2 %s", cells[c][0], cells[c][1], strategy_name((Strategy)s));
            GpuMemPlan base, p[RECOMPUTE_LEVELS];
            unsigned char lv[GPU_PLAN_MAX_LAYERS];
            if (plan_at(&m, &l, NULL, &base)) return 1;
            for (int v = 0; v < RECOMPUTE_LEVELS; v++) {
                memset(lv, v, (size_t)m.layers);
                if (plan_at(&m, &l, lv, &p[v])) return 1;
                check_lines(&m, &l, &p[v], (RecomputeLevel)v, what);
            }
            CHECK(p[RECOMPUTE_FULL].peak == base.peak && p[RECOMPUTE_FULL].n_lines == base.n_lines,
                  "%s: full plans %zu, no policy %zu", what, p[RECOMPUTE_FULL].peak, base.peak);
            CHECK(p[0].peak <= p[1].peak && p[1].peak <= p[2].peak, "%s: peaks full %zu selective %zu none %zu", what,
                  p[0].peak, p[1].peak, p[2].peak);
            char tick[96];
            gpu_plan_tick_name(&p[RECOMPUTE_NONE], p[RECOMPUTE_NONE].peak_tick, tick, sizeof tick);
            printf("%s: peak full %.3f, selective %.3f, none %.3f GB (none's at %s)\n", what, p[0].peak / 1e9,
                   p[1].peak / 1e9, p[2].peak / 1e9, tick);
            check_flops(&m, &l, what);
            if (s != STRATEGY_PACKED) check_auto(&m, &l, (double)p[0].peak, (double)p[2].peak, what);
            { // a fixed policy's fits says whether its peak is within a budget (bench capacity's question)
                GpuPlanInput in = {.m = &m, .l = &l, .mode = GPU_PLAN_DEFAULT, .attn_tight = -1};
                gpu_plan_attn_figures("cudnn", &m, &l, &(AttnMemoryAsk){ATTN_PREFIX_AUTO, 0, 0}, &in);
                RecomputeChoice a, b, c0;
                CHECK(gpu_recompute_choose(&in, POLICY_NONE, p[2].peak, &a, err, sizeof err) == 0 && a.fits &&
                          a.peak == p[2].peak && gpu_recompute_choose(&in, POLICY_NONE, p[2].peak - 1, &b, err, sizeof err) == 0 &&
                          !b.fits && gpu_recompute_choose(&in, POLICY_NONE, 0, &c0, err, sizeof err) == 0 && c0.fits,
                      "%s: none's fits at its peak / a byte under / no budget: %d %d %d", what, a.fits, b.fits, c0.fits);
            }
            for (int v = 0; v < RECOMPUTE_LEVELS; v++) gpu_memory_plan_free(&p[v]);
            gpu_memory_plan_free(&base);
            layout_free(&l);
        }
        groups_free(&g);
    }
    return test_finish("test_recompute_plan");
}
