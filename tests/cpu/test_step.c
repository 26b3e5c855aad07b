/*
 * test_step: the CPU reference step (cpu_step) as a whole.
 *  1. gradients against central finite differences of cpu_loss, on a sample of every tensor;
 *  2. checkpoint on == off, bit for bit; and every recompute policy (model/recompute.h: every layer
 *     selective, every layer none, and mixes that put each level at each layer) gives the loss and
 *     gradients of full, bit for bit (same functions; the tolerance of the issue, 1e-5, is what is
 *     asserted beside it), while each takes its own path: a part that a selective or full layer
 *     does not recompute stays NaN in the scratch, a kept part that a path overwrites is wrong;
 *     the backend with --recompute selective / none runs that path and reports its size table;
 *  3. loss and every parameter gradient equal across padded, packed and prefix for seeded random
 *     groups (uneven lengths, K = 1, 2, 4): per tensor ||g_a - g_b|| / ||g_a|| <= 1e-5;
 *  4. the CPU StepBackend gives the same loss and gradients and an exact memory figure.
 * All of it for each architecture variant (tiny.h: Qwen2 with biases; Llama tied with Llama 3
 * RoPE scaling and head_dim != hidden / heads; Qwen3 with the q/k norm and head_dim != hidden /
 * heads).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../step/step.h"
#include "../../reference/cpu_step.h"
#include "tiny.h"
#include "../test_util.h"


/* Finite differences of the fp32 step. The loss is a double sum of ~20 NLL terms (~80) and the
 * ops reduce in double, so its rounding noise is ~1e-6 absolute; with eps = 1e-2 the central
 * difference's noise is ~1e-4 absolute, and its truncation error O(eps^2 L''') was measured at
 * <= 0.2% (embedding rows, the most curved). Tolerance: 1% of |g| + 2e-3 of the tensor's largest
 * |g| (the second term covers near-zero entries such as key biases, which softmax nearly
 * ignores). A wrong sign, mask or missing term is an O(1) error. Checked: each tensor's 3
 * largest gradients and 3 random entries. */
static void check_finite_differences(const ModelConfig *m, float *params, const Layout *l) {
    size_t off[P_COUNT], sizes[P_COUNT], n = model_param_offsets(m, off);
    model_param_sizes(m, sizes);
    float *grads = malloc(n * sizeof(float));
    cpu_step(m, params, grads, l, 1);
    Rng r;
    rng_seed(&r, 7);
    double worst = 0.0;
    for (int t = 0; t < P_COUNT; t++) {
        if (sizes[t] == 0) continue;
        float *g = grads + off[t];
        size_t pick[6];
        double gmax = 0.0;
        for (int i = 0; i < 3; i++) { // the 3 largest |g|
            size_t best = 0;
            double bv = -1.0;
            for (size_t j = 0; j < sizes[t]; j++) {
                int taken = 0;
                for (int k = 0; k < i; k++) taken |= pick[k] == j;
                if (!taken && fabs(g[j]) > bv) { bv = fabs(g[j]); best = j; }
            }
            pick[i] = best;
            if (i == 0) gmax = bv;
        }
        for (int i = 3; i < 6; i++) pick[i] = (size_t)rng_range(&r, 0, (int64_t)sizes[t] - 1);
        for (int i = 0; i < 6; i++) {
            float *p = params + off[t] + pick[i], saved = *p;
            double eps = 1e-2;
            *p = saved + (float)eps;
            double lp = cpu_loss(m, params, l);
            *p = saved - (float)eps;
            double lm = cpu_loss(m, params, l);
            *p = saved;
            double fd = (lp - lm) / (2 * eps), an = g[pick[i]];
            double err = fabs(fd - an) / (0.01 * fabs(an) + 2e-3 * gmax + 1e-6);
            if (err > worst) worst = err;
            CHECK(err <= 1.0, "FD %s[%zu]: analytic %.6e, finite difference %.6e", model_param_name((ParamId)t),
                  pick[i], an, fd);
        }
    }
    int n_tensors = 0;
    for (int t = 0; t < P_COUNT; t++) n_tensors += sizes[t] > 0;
    printf("test_step: finite differences, %d tensors x 6 entries: worst error / tolerance %.3f\n", n_tensors, worst);
    free(grads);
}

static void check_checkpoint(const ModelConfig *m, const float *params, const Layout *l) {
    size_t off[P_COUNT], n = model_param_offsets(m, off);
    float *g0 = malloc(n * sizeof(float)), *g1 = malloc(n * sizeof(float));
    double l0 = cpu_step(m, params, g0, l, 0), l1 = cpu_step(m, params, g1, l, 1), lf = cpu_loss(m, params, l);
    CHECK(l0 == l1 && memcmp(g0, g1, n * sizeof(float)) == 0, "%s: checkpoint on != off (loss %.9g vs %.9g)",
          strategy_name(l->strategy), l0, l1);
    CHECK(l0 == lf, "%s: cpu_loss %.9g != cpu_step %.9g", strategy_name(l->strategy), lf, l0);
    free(g0); free(g1);
}

// Every policy against full (the checkpoint path), on one layout.
static void check_policies(const ModelConfig *m, const float *params, const Layout *l) {
    size_t off[P_COUNT], n = model_param_offsets(m, off);
    float *g0 = malloc(n * sizeof(float)), *g1 = malloc(n * sizeof(float));
    double l0 = cpu_step(m, params, g0, l, 1);
    unsigned char lv[PB_MODEL_MAX_LAYERS];
    size_t full_bytes = cpu_step_activation_bytes(m, l, 1), none_bytes = cpu_step_activation_bytes(m, l, 0);
    for (int pat = 0; pat < 5; pat++) { // all selective, all none, then level (layer + shift) % 3
        for (int i = 0; i < m->layers; i++)
            lv[i] = (unsigned char)(pat == 0 ? RECOMPUTE_SELECTIVE : pat == 1 ? RECOMPUTE_NONE : (i + pat - 2) % 3);
        double l1 = cpu_step_levels(m, params, g1, l, lv);
        int wt = 0;
        double el = fabs(l1 - l0) / fabs(l0), eg = grads_rel_err(m, g0, g1, &wt);
        CHECK(el <= 1e-5 && eg <= 1e-5, "%s: recompute pattern %d: loss %.9g vs full %.9g, gradient rel err %.2e in %s",
              strategy_name(l->strategy), pat, l1, l0, eg, model_param_name((ParamId)wt));
        CHECK(l1 == l0 && memcmp(g0, g1, n * sizeof(float)) == 0, "%s: recompute pattern %d not bit-identical to full",
              strategy_name(l->strategy), pat);
        size_t b = cpu_step_activation_bytes_levels(m, l, lv);
        CHECK(b >= full_bytes && b <= none_bytes + full_bytes, "%s: pattern %d size table %zu outside [%zu, %zu]",
              strategy_name(l->strategy), pat, b, full_bytes, none_bytes + full_bytes);
    }
    free(g0); free(g1);
}

static void check_equality(const ModelConfig *m, const float *params) {
    static const int ks[] = {1, 2, 4};
    size_t off[P_COUNT], n = model_param_offsets(m, off);
    float *g[STRATEGY_COUNT];
    for (int s = 0; s < STRATEGY_COUNT; s++) g[s] = malloc(n * sizeof(float));
    double worst_loss = 0.0, worst_grad = 0.0;
    int cases = 0;
    for (int ki = 0; ki < 3; ki++)
        for (uint64_t seed = 1; seed <= 3; seed++) {
            GroupBatch gb;
            int K = ks[ki], B = 1 + (int)(seed % 3);
            test_random_groups(&gb, B, K, 6, 5, m->vocab, (100 * seed + (uint64_t)K) ^ 0x5eedull, 100 * seed + (uint64_t)K);
            double loss[STRATEGY_COUNT];
            for (int s = 0; s < STRATEGY_COUNT; s++) {
                Layout l;
                layout_build(&l, (Strategy)s, &gb);
                loss[s] = cpu_step(m, params, g[s], &l, 1);
                layout_free(&l);
            }
            for (int s = 1; s < STRATEGY_COUNT; s++) {
                int wt = 0;
                double el = fabs(loss[s] - loss[0]) / fabs(loss[0]), eg = grads_rel_err(m, g[0], g[s], &wt);
                CHECK(el <= 1e-5 && eg <= 1e-5, "B=%d K=%d seed=%llu: %s vs padded: loss %.9g vs %.9g (rel %.2e), "
                      "gradient rel err %.2e in %s", B, K, (unsigned long long)seed, strategy_name((Strategy)s),
                      loss[s], loss[0], el, eg, model_param_name((ParamId)wt));
                if (el > worst_loss) worst_loss = el;
                if (eg > worst_grad) worst_grad = eg;
            }
            cases++;
            groups_free(&gb);
        }
    printf("test_step: %d batches, packed and prefix vs padded: worst loss rel err %.3e, worst gradient "
           "rel err %.3e (tolerance 1e-5)\n", cases, worst_loss, worst_grad);
    for (int s = 0; s < STRATEGY_COUNT; s++) free(g[s]);
}

static void check_backend(const ModelConfig *m, const float *params, const Layout *l) {
    char err[256];
    StepOptions o = {.seed = 42, .attention = NULL};
    Step *s = cpu_step_backend.create(m, &o, err, sizeof err);
    CHECK(s != NULL, "cpu backend create: %s", err);
    if (!s) return;
    size_t off[P_COUNT], n = model_param_offsets(m, off);
    float *p = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
    double ms = -1, loss = 0;
    CHECK(cpu_step_backend.prepare(s, l, err, sizeof err) == PB_OK, "prepare: %s", err);
    CHECK(cpu_step_backend.run(s, &ms, &loss, err, sizeof err) == PB_OK, "run: %s", err);
    cpu_step_backend.params(s, p);
    cpu_step_backend.grads(s, g);
    CHECK(memcmp(p, params, n * sizeof(float)) == 0, "backend params differ from model_init_params(42)");
    double want = cpu_step(m, params, ref, l, 1);
    CHECK(loss == want && memcmp(g, ref, n * sizeof(float)) == 0 && ms >= 0, "backend run differs from cpu_step");
    StepMemory mem;
    cpu_step_backend.memory(s, &mem);
    size_t bytes = 2 * n * sizeof(float) + cpu_step_activation_bytes(m, l, 1);
    CHECK(mem.predicted == bytes && mem.allocated == bytes && mem.driver_used == 0, "backend memory %zu, want %zu",
          mem.predicted, bytes);
    char name[128], ver[64];
    cpu_step_backend.describe(s, name, sizeof name, ver, sizeof ver);
    CHECK(name[0] != '\0' && ver[0] == '\0', "describe");
    cpu_step_backend.release(s);
    CHECK(cpu_step_backend.run(s, &ms, &loss, err, sizeof err) == PB_ERROR, "run after release accepted");
    cpu_step_backend.destroy(s);
    printf("test_step: cpu backend loss %.6f in %.2f ms on %s, memory %zu bytes\n", loss, ms, name, bytes);
    free(p); free(g); free(ref);
}

// The backend runs the policy asked for (its size table and the levels it reports say which), and
// refuses auto (the GPU plan's choice) and an unknown name in one line.
static void check_backend_policies(const ModelConfig *m, const float *params, const Layout *l) {
    static const char *const names[] = {"full", "selective", "none"};
    size_t off[P_COUNT], n = model_param_offsets(m, off);
    float *g = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
    double want = cpu_step(m, params, ref, l, 1);
    char err[256];
    for (int p = 0; p < 3; p++) {
        StepOptions o = {.seed = 42, .recompute = names[p]};
        Step *s = cpu_step_backend.create(m, &o, err, sizeof err);
        CHECK(s != NULL, "cpu backend --recompute %s: %s", names[p], err);
        if (!s) continue;
        double ms, loss = 0;
        CHECK(cpu_step_backend.prepare(s, l, err, sizeof err) == PB_OK && cpu_step_backend.run(s, &ms, &loss, err, sizeof err) == PB_OK,
              "--recompute %s: %s", names[p], err);
        cpu_step_backend.grads(s, g);
        CHECK(loss == want && memcmp(g, ref, n * sizeof(float)) == 0, "--recompute %s differs from full", names[p]);
        unsigned char lv[PB_MODEL_MAX_LAYERS], all[PB_MODEL_MAX_LAYERS];
        char what[128] = "";
        cpu_step_backend.recompute(s, lv, what, sizeof what);
        memset(all, p, (size_t)m->layers);
        CHECK(memcmp(lv, all, (size_t)m->layers) == 0 && !strcmp(what, names[p]), "--recompute %s reports '%s'", names[p], what);
        StepMemory mem;
        cpu_step_backend.memory(s, &mem);
        CHECK(mem.allocated == 2 * n * sizeof(float) + cpu_step_activation_bytes_levels(m, l, all),
              "--recompute %s: memory %zu is not its size table", names[p], mem.allocated);
        cpu_step_backend.destroy(s);
    }
    StepOptions bad = {.seed = 42, .recompute = "auto"}, bad2 = {.seed = 42, .recompute = "some"};
    err[0] = 0;
    Step *s = cpu_step_backend.create(m, &bad, err, sizeof err);
    CHECK(!s && strstr(err, "auto"), "cpu backend accepted --recompute auto (%s)", err);
    if (s) cpu_step_backend.destroy(s);
    s = cpu_step_backend.create(m, &bad2, err, sizeof err);
    CHECK(!s && err[0], "cpu backend accepted an unknown policy");
    if (s) cpu_step_backend.destroy(s);
    free(g); free(ref);
}

static void check_arch(const ModelConfig *m) {
    printf("test_step: %s (%s: bias %d, qk_norm %d, head_dim %d x %d heads, hidden %d, tied %d, rope scaling %g)\n",
           m->name, m->arch, m->qkv_bias, m->qk_norm, m->head_dim, m->n_head, m->hidden, m->tied_embeddings,
           m->rope_scaling.factor);
    char err[128];
    CHECK(model_validate(m, err, sizeof err) == 0, "%s", err);
    size_t off[P_COUNT], n = model_param_offsets(m, off);
    float *params = malloc(n * sizeof(float));
    model_init_params(m, 42, params);

    GroupBatch gb;
    test_random_groups(&gb, 2, 2, 6, 5, m->vocab, 3 ^ 0x5eedull, 3);
    Layout l[STRATEGY_COUNT];
    for (int s = 0; s < STRATEGY_COUNT; s++) layout_build(&l[s], (Strategy)s, &gb);
    check_finite_differences(m, params, &l[STRATEGY_PREFIX]);
    for (int s = 0; s < STRATEGY_COUNT; s++) check_checkpoint(m, params, &l[s]);
    for (int s = 0; s < STRATEGY_COUNT; s++) check_policies(m, params, &l[s]);
    check_backend(m, params, &l[STRATEGY_PADDED]);
    check_backend_policies(m, params, &l[STRATEGY_PREFIX]);
    check_equality(m, params);
    for (int s = 0; s < STRATEGY_COUNT; s++) layout_free(&l[s]);
    groups_free(&gb);
    free(params);
}

int main(void) {
    static const char *const archs[] = {"qwen2", "llama", "qwen3"};
    for (int a = 0; a < 3; a++) {
        ModelConfig m = a == 0 ? tiny_model() : tiny_model_arch(archs[a]);
        check_arch(&m);
    }
    printf("test_step: %d failures\n", failures);
    return failures ? 1 : 0;
}
