/*
 * test_profile_gpu: the GPU step's profiled step (StepBackend.profile, gpu/profile.c).
 * A small config (2 layers; argv[1] the attention backend, default simple; cudnn runs the d128
 * head shape) and each layout of B = 3, K = 2 random groups (one MLP chunk, one CE chunk):
 *   1. a class has event pairs iff model/roofline.c gives it a cost (no op outside a range, no
 *      range for work the cost model does not count; no residual copy: the o projection adds it);
 *   2. the pairs per class are the step's structure: per layer one qkv / rope / attention /
 *      o range per pass, 2 norms per layer and pass (+1 final forward and backward),
 *      mlp 2 ranges forward (gate+up, down), 1 recompute, 3 backward; the LM head's GEMMs cut
 *      out of the CE range (1 forward, 2 backward, CE 4 ranges around them);
 *   3. the ranges cover the step: their sum is at most the profiled step's time and at least
 *      half of it (the rest is event records between back-to-back ranges);
 *   4. profiling leaves the step alone: the loss of a plain run after it equals the one before
 *      (relative 1e-6: the CE's atomic adds); a step created without StepOptions.profile refuses.
 * Under each recompute policy (model/recompute.h), with the roofline's costs at the levels the
 * step reports: full as above; selective recomputes only the norms (2 per layer) and the MLP's
 * gate/up (1 range per layer) with SwiGLU; none has no recompute range at all.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../model/roofline.h"
#include "../../step/step.h"
#include "../gpu_test.h"
#include "../test_util.h"

static void expect_calls(const StepProfile *p, OpKind k, OpPass ps, int want, const char *layout) {
    CHECK(p->calls[k][ps] == want, "%s: %s %s: %d ranges, want %d", layout, op_kind_name(k), op_pass_name(ps),
          p->calls[k][ps], want);
}

static void check_profile(const ModelConfig *m, const Layout *l, const unsigned char *levels, RecomputeLevel lv,
                          const StepProfile *p) {
    const char *name = strategy_name(l->strategy);
    RoofShape sh = {l->n_slots, l->attn_pairs, l->n_loss, levels};
    RoofCosts costs;
    roofline_costs(m, &sh, &costs);
    double sum = 0;
    for (int k = 0; k < OPK_COUNT; k++)
        for (int ps = 0; ps < OPP_COUNT; ps++) {
            int has_cost = costs.c[k][ps].flop > 0 || costs.c[k][ps].bytes > 0;
            CHECK(has_cost == (p->calls[k][ps] > 0), "%s: %s %s: cost %g / %g but %d ranges", name,
                  op_kind_name((OpKind)k), op_pass_name((OpPass)ps), costs.c[k][ps].flop, costs.c[k][ps].bytes,
                  p->calls[k][ps]);
            CHECK(p->ms[k][ps] >= 0, "%s: negative time", name);
            sum += p->ms[k][ps];
        }
    const int L = m->layers;
    const int full = lv == RECOMPUTE_FULL, some = lv != RECOMPUTE_NONE; // what the recompute pass runs
    for (int ps = 0; ps < OPP_COUNT; ps++) {
        const int n = ps == OPP_RECOMPUTE && !full ? 0 : L;
        expect_calls(p, OPK_QKV, (OpPass)ps, n, name);
        expect_calls(p, OPK_ROPE, (OpPass)ps, n, name);
        expect_calls(p, OPK_ATTN, (OpPass)ps, n, name);
        expect_calls(p, OPK_O, (OpPass)ps, n, name);
    }
    expect_calls(p, OPK_NORM, OPP_FWD, 2 * L + 1, name), expect_calls(p, OPK_NORM, OPP_RECOMPUTE, some * 2 * L, name);
    expect_calls(p, OPK_NORM, OPP_BWD, 2 * L + 1, name);
    expect_calls(p, OPK_MLP, OPP_FWD, 2 * L, name), expect_calls(p, OPK_MLP, OPP_RECOMPUTE, some * L, name);
    expect_calls(p, OPK_MLP, OPP_BWD, 2 * L, name);
    expect_calls(p, OPK_LMHEAD, OPP_FWD, 1, name), expect_calls(p, OPK_LMHEAD, OPP_BWD, 2, name);
    expect_calls(p, OPK_CE, OPP_BWD, 4, name);
    expect_calls(p, OPK_EMBED, OPP_FWD, 1, name), expect_calls(p, OPK_EMBED, OPP_BWD, 1, name);
    printf("%-6s profiled step %.3f ms, ranges %.3f ms (%.1f%%)\n", name, p->step_ms, sum, 100 * sum / p->step_ms);
    CHECK(sum <= p->step_ms * 1.0001 + 1e-3 && sum >= 0.5 * p->step_ms, "%s: ranges %.3f ms of a %.3f ms step", name,
          sum, p->step_ms);
}

// Every layout profiled under one policy. -1 when the Step cannot be made.
static int profile_policy(const ModelConfig *m, const char *attention, const GroupBatch *g, const char *policy,
                          RecomputeLevel want) {
    char err[256] = "";
    StepOptions o = {.seed = 7, .attention = attention, .profile = 1, .recompute = policy};
    Step *s = gpu_step_backend.create(m, &o, err, sizeof err);
    CHECK(s != NULL, "create: %s", err);
    if (!s) return -1;
    printf("recompute %s\n", policy);
    for (int st = 0; st < STRATEGY_COUNT; st++) {
        Layout l;
        CHECK(layout_build(&l, (Strategy)st, g) == 0, "layout_build");
        CHECK(gpu_step_backend.prepare(s, &l, err, sizeof err) == PB_OK, "prepare: %s", err);
        double ms, before = 0, after = 0;
        CHECK(gpu_step_backend.run(s, &ms, &before, err, sizeof err) == PB_OK, "run: %s", err);
        StepProfile p;
        memset(&p, 0, sizeof p);
        CHECK(gpu_step_backend.profile(s, &p, err, sizeof err) == PB_OK, "profile: %s", err);
        unsigned char lv[8];
        char what[64];
        gpu_step_backend.recompute(s, lv, what, sizeof what);
        CHECK(lv[0] == want && lv[1] == want, "--recompute %s runs %s", policy, what);
        check_profile(m, &l, lv, want, &p);
        CHECK(gpu_step_backend.run(s, &ms, &after, err, sizeof err) == PB_OK, "run: %s", err);
        CHECK(fabs(after - before) <= 1e-6 * fabs(before), "%s: loss %.9g after profiling, %.9g before",
              strategy_name((Strategy)st), after, before);
        gpu_step_backend.release(s);
        layout_free(&l);
    }
    gpu_step_backend.destroy(s);
    return 0;
}

int main(int argc, char **argv) {
    gpu_test_require("test_profile_gpu");
    const char *attention = argc > 1 ? argv[1] : "simple";
    int D = strcmp(attention, "cudnn") ? 16 : 128;
    ModelConfig m;
    memset(&m, 0, sizeof m);
    snprintf(m.name, sizeof m.name, "small-d%d", D);
    m.vocab = 512; m.layers = 2; m.n_head = 4; m.n_kv_head = 2; m.head_dim = D; m.hidden = 4 * D; m.mlp = 256;
    m.rms_eps = 1e-6f; m.rope_theta = 10000.0;
    GroupBatch g;
    CHECK(test_random_groups(&g, 3, 2, 40, 24, m.vocab, 99, 100) == 0, "groups");
    static const char *const policies[RECOMPUTE_LEVELS] = {"full", "selective", "none"};
    for (int pol = 0; pol < RECOMPUTE_LEVELS; pol++)
        if (profile_policy(&m, attention, &g, policies[pol], (RecomputeLevel)pol)) return test_finish("test_profile_gpu");

    char err[256] = "";
    Step *s;
    StepOptions plain = {.seed = 7, .attention = attention};
    s = gpu_step_backend.create(&m, &plain, err, sizeof err);
    Layout l;
    CHECK(s && layout_build(&l, STRATEGY_PACKED, &g) == 0, "create / layout");
    if (s) {
        StepProfile p;
        CHECK(gpu_step_backend.prepare(s, &l, err, sizeof err) == PB_OK, "prepare: %s", err);
        CHECK(gpu_step_backend.profile(s, &p, err, sizeof err) == PB_ERROR, "profile without StepOptions.profile");
        gpu_step_backend.destroy(s);
        layout_free(&l);
    }
    groups_free(&g);
    return test_finish("test_profile_gpu");
}
