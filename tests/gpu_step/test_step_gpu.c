/*
 * test_step_gpu: the GPU step (gpu_step_backend) against the CPU reference step.
 *
 * For two small configs (tiny: 2 layers, hidden 64, 4 q / 2 kv heads of 16, MLP 128, vocab 512;
 * d128: the same with 4 q / 2 kv heads of 128 = cuDNN's head shape, hidden 512, MLP 256) and
 * each of the four layouts of the same batches (random groups B = 3, K = 2 and 4, uneven lengths;
 * a random forest of depth 3, where tree differs from prefix):
 *   1. GPU loss and EVERY parameter gradient against cpu_step() run in fp32 on the GPU's own
 *      (bf16) weights, copied back with params(). Per tensor: max |gpu - cpu| / max |cpu| and
 *      ||gpu - cpu|| / ||cpu||, printed. bf16 tolerances: loss 1e-3 relative; gradients 3e-2
 *      (max-relative) and 2e-2 (norm-relative). The GPU keeps activations and gradients in bf16
 *      (relative rounding 2^-9 per op, a few dozen ops deep); measured on the H200: loss <= 3e-5,
 *      gradients <= 1.0e-2 / 9.2e-3 (simple and cudnn attention). A missing term, wrong mask or
 *      wrong sign is an O(1) error. The key bias gradient is zero in exact arithmetic (softmax
 *      ignores a constant shift of a query's scores), so it is measured against the scale of
 *      the key weight's gradient instead of its own.
 *   2. Across layouts on the GPU: loss within 1e-3 relative of padded's, gradients within 4e-2
 *      max-relative and 2e-2 norm-relative (bf16 noise, different token counts; measured
 *      <= 1.5e-2 / 6.0e-3).
 *   3. The memory accounting: allocated == predicted, driver_used >= allocated; a second run
 *      gives the same loss (deterministic step).
 * The same for each architecture variant on the tiny shape (arch_model: Llama tied with RoPE
 * scaling and head_dim != hidden / heads; Qwen3 with the q/k norm; Mistral, bias-free and
 * untied) and for Qwen3 on the d128 head shape, so every kernel of the variants runs inside the
 * step against the CPU reference.
 * Recompute policies (issue 11, model/recompute.h): the tiny config under selective, none, auto
 * (the device's budget: every layer none there) and explicit per-layer mixes (each level at each
 * layer), Qwen3 (the q/k norm's kept lines) and d128 (cuDNN's head shape) under none and a mix:
 * every layout against cpu_step_levels at the levels the GPU reports it ran (the CPU takes the
 * same keep / recompute path), with the NaN poisoning on, which fails a kept line that dies early
 * or a recomputed line read before it is written; auto over a budget nothing fits is "no memory".
 * argv[1]: attention backend (default "simple"); "--quick": the tiny configs only (memcheck).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../step/step.h"
#include "../../reference/cpu_step.h"
#include "../../gpu/recompute_plan.h"
#include "../gpu_test.h"
#include "gpu_step_test.h"
#include "../cpu/tiny.h"

#define GPU_TEST_MAX_LAYERS 16 // the configs here have 2

static ModelConfig small_model(const char *name, int head_dim) {
    ModelConfig m;
    memset(&m, 0, sizeof m);
    snprintf(m.name, sizeof m.name, "%s", name);
    m.vocab = 512; m.layers = 2; m.n_head = 4; m.n_kv_head = 2; m.head_dim = head_dim;
    m.hidden = m.n_head * head_dim; m.mlp = head_dim == 16 ? 128 : 256;
    m.rms_eps = 1e-6f; m.rope_theta = 10000.0; m.tied_embeddings = 0;
    model_set_arch(&m, "qwen2"); // q, k, v biases
    return m;
}

// The architecture variants on the tiny shape: "llama" no biases, tied LM head, head_dim 32 with
// 4 heads (128 != hidden 64), Llama 3 RoPE scaling with its three bands in use at the test's
// positions (up to 63); "qwen3" the q/k norm, no biases, untied, head_dim 32 (128 != 64).
static ModelConfig arch_model(const char *arch) {
    ModelConfig m = small_model(arch, 32);
    snprintf(m.name, sizeof m.name, "tiny-%s", arch);
    model_set_arch(&m, arch);
    m.hidden = 64;
    m.mlp = 128;
    if (!strcmp(arch, "llama")) {
        m.tied_embeddings = 1;
        m.rope_scaling = (RopeScaling){.factor = 8.0, .low_freq_factor = 1.0, .high_freq_factor = 4.0,
                                       .original_max_pos = 16.0};
    }
    return m;
}

static void compare_grads(const ModelConfig *m, const float *g, const float *ref, const char *what, double tol_max,
                          double tol_norm) {
    size_t off[P_COUNT], sizes[P_COUNT];
    model_param_offsets(m, off);
    model_param_sizes(m, sizes);
    printf("  %s:", what);
    for (int t = 0; t < P_COUNT; t++) {
        if (!sizes[t]) continue;
        const float *a = g + off[t], *b = ref + off[t];
        double e_max, e_norm;
        if (t == P_BK) { // exact gradient 0: scale by the key weight's gradient
            double den = max_abs(ref + off[P_WK], sizes[P_WK]), num = 0.0;
            for (size_t i = 0; i < sizes[t]; i++) num = fmax(num, fabs((double)a[i] - b[i]));
            e_max = e_norm = num / (den > 0 ? den : 1.0);
        } else {
            e_max = rel_to_max(a, b, sizes[t]);
            e_norm = rel_norm(a, b, sizes[t]);
        }
        printf(" %s %.1e/%.1e", model_param_name((ParamId)t), e_max, e_norm);
        CHECK(e_max <= tol_max && e_norm <= tol_norm, "%s: %s max-rel %.3e (tol %.0e), norm-rel %.3e (tol %.0e)",
              what, model_param_name((ParamId)t), e_max, tol_max, e_norm, tol_norm);
    }
    printf("\n");
}

// The clocks around the last run: read through NVML (the driver's libnvidia-ml.so.1, present on a
// GPU host), within the rated maximum (+10% for a boost above the rated figure).
static void check_clocks(Step *s) {
    StepClocks c;
    gpu_step_backend.clocks(s, &c);
    CHECK(c.known, "SM clock unknown after a run (is libnvidia-ml.so.1 missing?)");
    CHECK(c.sm_mhz_rated > 0, "rated SM clock %u", c.sm_mhz_rated);
    CHECK(!c.known || (c.sm_mhz_before > 0 && c.sm_mhz_after > 0 && c.sm_mhz_before <= 1.1 * c.sm_mhz_rated &&
                       c.sm_mhz_after <= 1.1 * c.sm_mhz_rated),
          "SM clock %u / %u MHz around the run, rated %u", c.sm_mhz_before, c.sm_mhz_after, c.sm_mhz_rated);
}

// One batch in all four layouts: GPU vs CPU, then across layouts on the GPU.
// The recompute asked of a config's Step: a policy name, or explicit levels (levels != NULL).
typedef struct Recompute { const char *policy; const unsigned char *levels; } Recompute;

// The levels the prepared Step reports, checked against what was asked; into lv.
static void check_levels(Step *s, const ModelConfig *m, const Recompute *rc, unsigned char *lv) {
    char what[320] = "";
    gpu_step_backend.recompute(s, lv, what, sizeof what);
    RecomputePolicy p = POLICY_FULL;
    recompute_policy_parse(rc->policy, &p);
    for (int l = 0; l < m->layers; l++) {
        int want = rc->levels ? rc->levels[l] : p == POLICY_AUTO ? RECOMPUTE_NONE : (int)p; // auto: a tiny step fits whole
        CHECK(lv[l] == want, "layer %d runs level %d, want %d (%s)", l, lv[l], want, what);
    }
    CHECK(what[0] && (rc->levels || !strncmp(what, rc->policy ? rc->policy : "full", 4)), "recompute reported '%s'", what);
}

static void run_batch(Step *s, const ModelConfig *m, const Forest *f, const char *label, const char *attention,
                      const char *prefix_attention, const Recompute *want_rc, const float *params, float *cpu_g, size_t n) {
    char err[256] = "";
    double gpu_loss[STRATEGY_COUNT] = {0};
    float *gpu_g[STRATEGY_COUNT] = {0};
    int ran[STRATEGY_COUNT] = {0};
    for (int st = 0; st < STRATEGY_COUNT; st++) {
        gpu_g[st] = malloc(n * 4);
        Layout l;
        CHECK(layout_build_forest(&l, (Strategy)st, f) == 0, "layout_build_forest");
        double ms = 0, loss = 0, loss2 = 0;
        int rc = gpu_step_backend.prepare(s, &l, err, sizeof err);
        CHECK(rc == PB_OK, "prepare: %s", err);
        if (rc == PB_OK) {
            // what reaches the CSV's prefix_attention column: cudnn's prefix plan (prefix and
            // tree, whose deeper levels always take the copied backward), else ""
            char plan[64] = "?", want[64];
            gpu_step_backend.attention_plan(s, plan, sizeof plan);
            snprintf(want, sizeof want, "%s: split ", prefix_attention);
            int want_plan = (st == STRATEGY_PREFIX || st == STRATEGY_TREE) && !strcmp(attention, "cudnn");
            CHECK(want_plan ? !strncmp(plan, want, strlen(want)) : plan[0] == 0, "attention_plan '%s'", plan);
            CHECK(gpu_step_backend.run(s, &ms, &loss, err, sizeof err) == PB_OK, "run: %s", err);
            CHECK(gpu_step_backend.grads(s, gpu_g[st]) == 0, "grads()");
            CHECK(gpu_step_backend.run(s, &ms, &loss2, err, sizeof err) == PB_OK, "run: %s", err);
            CHECK(loss2 == loss, "second run loss %.9g != %.9g", loss2, loss);
            check_clocks(s);
            StepMemory mem;
            gpu_step_backend.memory(s, &mem);
            CHECK(mem.allocated == mem.predicted, "allocated %zu != predicted %zu", mem.allocated, mem.predicted);
            CHECK(mem.predicted_accum >= mem.predicted, "accumulation peak %zu below the default %zu",
                  mem.predicted_accum, mem.predicted);
            CHECK(mem.driver_used >= mem.allocated, "driver_used %zu < allocated %zu", mem.driver_used, mem.allocated);
            unsigned char lv[GPU_TEST_MAX_LAYERS];
            check_levels(s, m, want_rc, lv);
            double cpu_loss_v = cpu_step_levels(m, params, cpu_g, &l, lv); // the CPU on the same path
            double e = fabs(loss - cpu_loss_v) / fabs(cpu_loss_v);
            printf(" %s %-6s T %4zu loss gpu %.6f cpu %.6f rel %.1e, %.2f ms, predicted %zu B, driver %zu B\n", label,
                   strategy_name((Strategy)st), l.n_slots, loss, cpu_loss_v, e, ms, mem.predicted, mem.driver_used);
            CHECK(isfinite(loss) && e <= 1e-3, "loss gpu %.6f cpu %.6f", loss, cpu_loss_v);
            compare_grads(m, gpu_g[st], cpu_g, "gpu vs cpu", 3e-2, 2e-2);
            gpu_loss[st] = loss;
            ran[st] = 1;
        }
        gpu_step_backend.release(s);
        layout_free(&l);
    }
    for (int st = 1; st < STRATEGY_COUNT; st++) {
        if (!ran[st] || !ran[0]) continue;
        double e = fabs(gpu_loss[st] - gpu_loss[0]) / fabs(gpu_loss[0]);
        printf(" %s gpu %s vs padded: loss rel %.1e\n", label, strategy_name((Strategy)st), e);
        CHECK(e <= 1e-3, "gpu loss %s %.6f vs padded %.6f", strategy_name((Strategy)st), gpu_loss[st], gpu_loss[0]);
        compare_grads(m, gpu_g[st], gpu_g[0], strategy_name((Strategy)st), 4e-2, 2e-2);
    }
    for (int st = 0; st < STRATEGY_COUNT; st++) free(gpu_g[st]);
}

// prefix_attention: the cudnn prefix backward ("auto", "split", "copied"); rc: the recompute.
static void run_config_rc(const ModelConfig *m, const char *attention, const char *prefix_attention, Recompute rc) {
    printf("config %s (%s, hidden %d, heads %d/%d x %d, mlp %d, vocab %d, bias %d, qk_norm %d, tied %d, rope "
           "scaling %g), attention %s, prefix %s, recompute %s\n", m->name, m->arch, m->hidden, m->n_head, m->n_kv_head,
           m->head_dim, m->mlp, m->vocab, m->qkv_bias, m->qk_norm, m->tied_embeddings, m->rope_scaling.factor,
           attention, prefix_attention, rc.levels ? "per-layer levels" : rc.policy ? rc.policy : "full (default)");
    char err[256] = "";
    // poison: every buffer NaN when born and when it dies (gpu/step.cu), so a buffer read outside
    // its planned lifetime (another one reusing its bytes) shows in the loss and the gradients
    StepOptions o = {.seed = 1234, .attention = attention, .prefix_attention = prefix_attention, .checkpoint = 1,
                     .poison = 1, .recompute = rc.policy, .recompute_levels = rc.levels};
    Step *s = gpu_step_backend.create(m, &o, err, sizeof err);
    CHECK(s != NULL, "create: %s", err);
    if (!s) return;
    CHECK(strcmp(gpu_step_backend.attention(s), attention) == 0, "attention '%s' runs, '%s' was asked for",
          gpu_step_backend.attention(s), attention);
    size_t off[P_COUNT];
    const size_t n = model_param_offsets(m, off);
    float *params = malloc(n * 4), *cpu_g = malloc(n * 4);
    CHECK(gpu_step_backend.params(s, params) == 0, "params()");
    CHECK(max_abs(params, n) > 0.0 && params[off[P_LN1]] == 1.0f, "weights not initialised");
    for (int bi = 0; bi < 3; bi++) {
        // two flat batches (K = 2, 4), then a forest of depth 3 (tree layouts deeper than prefix)
        Forest f;
        char label[32];
        if (bi < 2) {
            GroupBatch g;
            CHECK(test_random_groups(&g, 3, 2 + 2 * bi, 40, 24, m->vocab, (77 + bi) ^ 0xc2c2ull, 77 + bi) == 0,
                  "groups_make");
            CHECK(forest_from_groups(&f, &g) == 0, "forest_from_groups");
            groups_free(&g);
            snprintf(label, sizeof label, "K %d", 2 + 2 * bi);
        } else {
            CHECK(tiny_forest(&f, 3, 20, m->vocab, 4242) == 0, "tiny_forest");
            snprintf(label, sizeof label, "depth 3");
        }
        run_batch(s, m, &f, label, attention, prefix_attention, &rc, params, cpu_g, n);
        forest_free(&f);
    }
    char name[128], versions[256];
    gpu_step_backend.describe(s, name, sizeof name, versions, sizeof versions);
    printf(" %s; %s\n", name, versions);
    gpu_step_backend.destroy(s);
    free(params);
    free(cpu_g);
}

static void run_config(const ModelConfig *m, const char *attention, const char *prefix_attention) {
    run_config_rc(m, attention, prefix_attention, (Recompute){NULL, NULL});
}

// auto held to a budget below any plan of the cell: prepare says no memory (and nothing runs).
static void check_auto_over_budget(const ModelConfig *m, const char *attention) {
    char err[256] = "";
    StepOptions o = {.seed = 1, .attention = attention, .checkpoint = 1, .recompute = "auto", .memory_budget = 4096};
    Step *s = gpu_step_backend.create(m, &o, err, sizeof err);
    CHECK(s != NULL, "create: %s", err);
    if (!s) return;
    GroupBatch g;
    Forest f;
    Layout l;
    CHECK(test_random_groups(&g, 3, 2, 40, 24, m->vocab, 5, 5) == 0 && forest_from_groups(&f, &g) == 0 &&
              layout_build_forest(&l, STRATEGY_PREFIX, &f) == 0, "batch");
    PbStatus rc = gpu_step_backend.prepare(s, &l, err, sizeof err);
    CHECK(rc == PB_NO_MEMORY && strstr(err, "budget"), "auto over a 4 kB budget: status %d (%s)", (int)rc, err);
    printf(" auto over a 4 kB budget: %s\n", err);
    gpu_step_backend.release(s);
    layout_free(&l);
    forest_free(&f);
    groups_free(&g);
    gpu_step_backend.destroy(s);
}

// auto at a budget between full's and none's planned peaks: the step chooses on the device exactly
// what the host plan chooses (same levels, same peak) before allocating, and runs it right.
static void check_auto_between(const ModelConfig *m, const char *attention) {
    GroupBatch g;
    Forest f;
    Layout l;
    CHECK(test_random_groups(&g, 3, 2, 40, 24, m->vocab, 9, 9) == 0 && forest_from_groups(&f, &g) == 0 &&
              layout_build_forest(&l, STRATEGY_PREFIX, &f) == 0, "batch");
    GpuPlanInput in = {.m = m, .l = &l, .mode = GPU_PLAN_DEFAULT, .attn_tight = -1};
    char err[256] = "";
    CHECK(gpu_plan_attn_figures(attention, m, &l, &(AttnMemoryAsk){ATTN_PREFIX_AUTO, PREFIX_COPIED_BELOW, 0}, &in) == 0,
          "host attention figures");
    static RecomputeChoice full, none, mid;
    CHECK(gpu_recompute_choose(&in, POLICY_FULL, 0, &full, err, sizeof err) == 0 &&
              gpu_recompute_choose(&in, POLICY_NONE, 0, &none, err, sizeof err) == 0, "host choice: %s", err);
    const size_t budget = (full.peak + none.peak) / 2;
    CHECK(gpu_recompute_choose(&in, POLICY_AUTO, budget, &mid, err, sizeof err) == 0 && mid.fits, "host auto: %s", err);
    StepOptions o = {.seed = 3, .attention = attention, .checkpoint = 1, .poison = 1, .recompute = "auto",
                     .memory_budget = budget};
    Step *s = gpu_step_backend.create(m, &o, err, sizeof err);
    CHECK(s != NULL, "create: %s", err);
    if (s && gpu_step_backend.prepare(s, &l, err, sizeof err) == PB_OK) {
        unsigned char lv[GPU_TEST_MAX_LAYERS];
        char what[320];
        gpu_step_backend.recompute(s, lv, what, sizeof what);
        StepMemory mem;
        gpu_step_backend.memory(s, &mem);
        CHECK(!memcmp(lv, mid.level, (size_t)m->layers) && mem.predicted == mid.peak && mem.predicted <= budget,
              "auto on the device chose %s, %zu bytes; the host %zu bytes (budget %zu)", what, mem.predicted, mid.peak, budget);
        size_t n = model_param_offsets(m, (size_t[P_COUNT]){0});
        float *params = malloc(n * 4), *g_gpu = malloc(n * 4), *g_cpu = malloc(n * 4);
        double ms, loss = 0;
        CHECK(gpu_step_backend.run(s, &ms, &loss, err, sizeof err) == PB_OK, "run: %s", err);
        gpu_step_backend.params(s, params);
        gpu_step_backend.grads(s, g_gpu);
        double ref = cpu_step_levels(m, params, g_cpu, &l, lv);
        printf(" auto at %zu bytes (full %zu, none %zu): %s, loss gpu %.6f cpu %.6f\n", budget, full.peak, none.peak, what,
               loss, ref);
        CHECK(fabs(loss - ref) <= 1e-3 * fabs(ref), "auto: loss gpu %.6f cpu %.6f", loss, ref);
        compare_grads(m, g_gpu, g_cpu, "auto between", 3e-2, 2e-2);
        free(params); free(g_gpu); free(g_cpu);
        gpu_step_backend.release(s);
    } else CHECK(0, "prepare: %s", err);
    if (s) gpu_step_backend.destroy(s);
    layout_free(&l);
    forest_free(&f);
    groups_free(&g);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); // line by line, also into a log that a timeout cuts
    gpu_test_require("test_step_gpu");
    const char *attention = "simple";
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else attention = argv[i];
    }
    ModelConfig tiny = small_model("tiny", 16), d128 = small_model("d128", 128);
    ModelConfig llama = arch_model("llama"), qwen3 = arch_model("qwen3"), mistral = arch_model("mistral");
    // Qwen3's real head shape: q/k norm and RoPE on D 128 (their vector paths), hidden 256 != 4 x 128
    ModelConfig d128_qwen3 = small_model("d128-qwen3", 128);
    model_set_arch(&d128_qwen3, "qwen3");
    d128_qwen3.hidden = 256;
    run_config(&tiny, attention, "auto");
    // every recompute policy, and mixes that put each level at each of the 2 layers
    static const unsigned char mix_a[2] = {RECOMPUTE_NONE, RECOMPUTE_SELECTIVE}, mix_b[2] = {RECOMPUTE_SELECTIVE, RECOMPUTE_FULL},
                               mix_c[2] = {RECOMPUTE_FULL, RECOMPUTE_NONE};
    static const char *const policies[] = {"selective", "none", "auto"};
    run_config_rc(&tiny, attention, "auto", (Recompute){NULL, mix_a}); // --quick (memcheck) too: all three levels
    run_config_rc(&tiny, attention, "auto", (Recompute){NULL, mix_c});
    for (int p = 0; p < 3 && !quick; p++) run_config_rc(&tiny, attention, "auto", (Recompute){policies[p], NULL});
    if (!quick) run_config_rc(&tiny, attention, "auto", (Recompute){NULL, mix_b});
    check_auto_over_budget(&tiny, attention);
    check_auto_between(&tiny, attention);
    // the lengths here send every group split; the copied backward through the whole step too
    if (!strcmp(attention, "cudnn")) run_config(&tiny, attention, "copied");
    run_config(&llama, attention, "auto");
    run_config(&qwen3, attention, "auto");
    run_config_rc(&qwen3, attention, "auto", (Recompute){NULL, mix_a});
    if (!quick) {
        run_config_rc(&qwen3, attention, "auto", (Recompute){"none", NULL});
        run_config(&mistral, attention, "auto");
        run_config(&d128, attention, "auto");
        run_config(&d128_qwen3, attention, "auto");
        run_config_rc(&d128, attention, "auto", (Recompute){"none", NULL});
        run_config_rc(&d128, attention, "auto", (Recompute){NULL, mix_c});
        run_config_rc(&d128_qwen3, attention, "auto", (Recompute){"selective", NULL});
    }
    char err[256] = "";
    // no backend asked for: cuDNN where it was built, else simple; the CSV writes what runs
    StepOptions dflt = {.seed = 1, .attention = NULL, .checkpoint = 1};
    Step *d = gpu_step_backend.create(&tiny, &dflt, err, sizeof err);
    CHECK(d && strcmp(gpu_step_backend.attention(d), PB_HAVE_CUDNN ? "cudnn" : "simple") == 0,
          "default attention '%s' (%s)", d ? gpu_step_backend.attention(d) : "-", err);
    if (d) gpu_step_backend.destroy(d);
    // an unknown backend is an error, not a default
    StepOptions bad = {.seed = 1, .attention = "no-such-attention", .checkpoint = 1};
    Step *s = gpu_step_backend.create(&tiny, &bad, err, sizeof err);
    CHECK(s == NULL && err[0], "unknown attention backend accepted");
    if (s) gpu_step_backend.destroy(s);
    // so is an unknown prefix attention path
    StepOptions bad_prefix = {.seed = 1, .attention = attention, .prefix_attention = "b", .checkpoint = 1};
    err[0] = 0;
    s = gpu_step_backend.create(&tiny, &bad_prefix, err, sizeof err);
    CHECK(s == NULL && strstr(err, "prefix attention"), "unknown prefix attention accepted (%s)", err);
    if (s) gpu_step_backend.destroy(s);
    if (failures) { printf("test_step_gpu: %d failures\n", failures); return 1; }
    printf("test_step_gpu: all passed\n");
    return 0;
}
