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
 * Every batch also runs as the prefix layout of the default --prefix-share auto rule
 * (strategies/prefix_share.h, at the config's own FLOP rates), "prefix-auto" below: the padded
 * layout itself where no group shares, else a mixed layout (unshared groups as documents [P, c]).
 * Two batches make it mixed and degenerate: groups of prompt 1-2 against 70-120-token
 * completions (gain < 1.005 at any FLOP rates: the padded way) beside one of prompt 40 against
 * 4 and 6 (gain > 1.6: shared); and K = 1 (gain 1: the padded way in auto, while the plain
 * prefix layout runs single-completion groups through the split path).
 * Recompute policies (issue 11, model/recompute.h): the tiny config under selective, none, auto
 * (the device's budget: every layer none there) and explicit per-layer mixes (each level at each
 * layer), Qwen3 (the q/k norm's kept lines) and d128 (cuDNN's head shape) under none and a mix:
 * every layout against cpu_step_levels at the levels the GPU reports it ran (the CPU takes the
 * same keep / recompute path), with the NaN poisoning on, which fails a kept line that dies early
 * or a recomputed line read before it is written; auto over a budget nothing fits is "no memory".
 * argv[1]: attention backend (default "simple"); "--quick": the tiny configs only (memcheck);
 * "--part i/n": only the configs whose index % n == i (one process per part: meson runs 3, one
 * after another; part 0 also runs the auto budget and chunked-layout checks, every part the
 * default- and unknown-backend checks).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../attention/prefix_path.h"
#include "../../step/step.h"
#include "../../reference/cpu_step.h"
#include "../../harness/share_rule.h"
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

enum { N_LAYOUTS = STRATEGY_COUNT + 1, PREFIX_AUTO = STRATEGY_COUNT }; // the four, then prefix-auto

static const char *layout_label(int li) { return li == PREFIX_AUTO ? "prefix-auto" : strategy_name((Strategy)li); }

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

// Layouts 1 .. n-1 against padded (0) on the GPU: the loss to 1e-3, every gradient to the
// tolerances of compare_grads; ran[li]: layout li ran.
static void layouts_vs_padded(const ModelConfig *m, const char *label, float *const *g, const double *loss,
                              const int *ran, int n) {
    for (int li = 1; li < n; li++) {
        CHECK(ran[li] && ran[0], "%s: %s or padded did not run", label, layout_label(li));
        if (!ran[li] || !ran[0]) continue;
        double e = fabs(loss[li] - loss[0]) / fabs(loss[0]);
        printf(" %s gpu %s vs padded: loss rel %.1e\n", label, layout_label(li), e);
        CHECK(e <= 1e-3, "gpu loss %s %.6f vs padded %.6f", layout_label(li), loss[li], loss[0]);
        compare_grads(m, g[li], g[0], layout_label(li), 4e-2, 2e-2);
    }
}

// One batch in all four layouts and prefix-auto: GPU vs CPU, then across layouts on the GPU.
// want_shared >= 0: prefix-auto must share that many groups.
static void run_batch(Step *s, const ModelConfig *m, const Forest *f, const char *label, const char *attention,
                      const char *prefix_attention, const Recompute *want_rc, const float *params, float *cpu_g, size_t n,
                      int want_shared) {
    char err[256] = "";
    double gpu_loss[N_LAYOUTS] = {0};
    float *gpu_g[N_LAYOUTS] = {0};
    int ran[N_LAYOUTS] = {0};
    const PrefixShare rule = share_rule(m, PREFIX_SHARE_AUTO);
    for (int li = 0; li < N_LAYOUTS; li++) {
        const int st = li == PREFIX_AUTO ? STRATEGY_PREFIX : li;
        gpu_g[li] = malloc(n * 4);
        Layout l;
        CHECK(layout_build_forest_share(&l, (Strategy)st, f, li == PREFIX_AUTO ? &rule : NULL) == 0, "layout_build_forest");
        if (li == PREFIX_AUTO) {
            printf(" %s prefix-auto: %d/%d groups shared%s\n", label, l.n_shared_groups, l.n_prefix_groups,
                   l.strategy == STRATEGY_PADDED ? " (the padded layout)" : "");
            CHECK(want_shared < 0 || l.n_shared_groups == want_shared, "%s prefix-auto: %d groups shared, want %d", label,
                  l.n_shared_groups, want_shared);
        }
        double ms = 0, loss = 0, loss2 = 0;
        int rc = gpu_step_backend.prepare(s, &l, err, sizeof err);
        CHECK(rc == PB_OK, "prepare: %s", err);
        if (rc == PB_OK) {
            // what reaches the CSV's prefix_attention column: cudnn's prefix / tree plan (its
            // forward by the mode and the levels, prefix_path.h), else ""
            char plan[64] = "?", want[64];
            gpu_step_backend.attention_plan(s, plan, sizeof plan);
            AttnPrefixMode mode = ATTN_PREFIX_AUTO;
            CHECK(attn_prefix_mode_parse(prefix_attention, &mode) == 0, "prefix attention %s", prefix_attention);
            DepthCalls dc = {0};
            CHECK(prefix_depth_calls(&l, &dc) == 0, "prefix_depth_calls");
            snprintf(want, sizeof want, "%s: %s forward, %d depth calls", prefix_attention,
                     prefix_forward_name(prefix_forward(mode, l.max_depth)), dc.n_depths);
            prefix_depth_calls_free(&dc);
            // a prefix / tree layout of one level (no group shared: every node a whole document)
            // runs as packed does (attention/memory.c cudnn_calls), with no plan to describe
            int want_plan = (l.strategy == STRATEGY_PREFIX || l.strategy == STRATEGY_TREE) && !strcmp(attention, "cudnn") &&
                            l.n_nodes != l.n_seqs;
            CHECK(want_plan ? !strcmp(plan, want) : plan[0] == 0, "attention_plan '%s', want '%s'", plan,
                  want_plan ? want : "");
            CHECK(gpu_step_backend.run(s, &ms, &loss, err, sizeof err) == PB_OK, "run: %s", err);
            CHECK(gpu_step_backend.grads(s, gpu_g[li]) == 0, "grads()");
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
                   layout_label(li), l.n_slots, loss, cpu_loss_v, e, ms, mem.predicted, mem.driver_used);
            CHECK(isfinite(loss) && e <= 1e-3, "loss gpu %.6f cpu %.6f", loss, cpu_loss_v);
            compare_grads(m, gpu_g[li], cpu_g, "gpu vs cpu", 3e-2, 2e-2);
            gpu_loss[li] = loss;
            ran[li] = 1;
        }
        gpu_step_backend.release(s);
        layout_free(&l);
    }
    layouts_vs_padded(m, label, gpu_g, gpu_loss, ran, N_LAYOUTS);
    for (int li = 0; li < N_LAYOUTS; li++) free(gpu_g[li]);
}

// prefix_attention: the cudnn prefix / tree forward ("auto", "gather", "merge"); rc: the recompute.
static int g_part_i, g_part_n = 1, g_config_index; // --part i/n

static void run_config_rc(const ModelConfig *m, const char *attention, const char *prefix_attention, Recompute rc) {
    if (g_config_index++ % g_part_n != g_part_i) return;
    printf("config %s (%s, hidden %d, heads %d/%d x %d, mlp %d, vocab %d, bias %d, qk_norm %d, tied %d, rope "
           "scaling %g), attention %s, prefix %s, recompute %s\n", m->name, m->arch, m->hidden, m->n_head, m->n_kv_head,
           m->head_dim, m->mlp, m->vocab, m->qkv_bias, m->qk_norm, m->tied_embeddings, m->rope_scaling.factor,
           attention, prefix_attention, rc.levels ? "per-layer levels" : rc.policy ? rc.policy : "full (default)");
    char err[256] = "";
    // poison: every buffer NaN when born and when it dies (gpu/step.cu), so a buffer read outside
    // its planned lifetime (another one reusing its bytes) shows in the loss and the gradients
    StepOptions o = {.seed = 1234, .attention = attention, .prefix_attention = prefix_attention,
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
    for (int bi = 0; bi < 5; bi++) {
        // two flat batches (K = 2, 4), a forest of depth 3 (tree layouts deeper than prefix), a batch
        // prefix-auto mixes (1 of 3 groups shared), one of K = 1 (prefix-auto: no group shares; the paths differ in length, so documents, not the padded layout)
        Forest f;
        char label[32];
        int want_shared = -1;
        if (bi == 3) {
            static const int32_t pl[3] = {1, 40, 2}, cl[6] = {120, 100, 4, 6, 90, 70};
            GroupBatch g;
            CHECK(groups_make(&g, 3, 2, pl, cl, m->vocab, 91) == 0 && forest_from_groups(&f, &g) == 0, "mixed batch");
            groups_free(&g);
            snprintf(label, sizeof label, "mixed");
            want_shared = 1;
        } else if (bi == 4) {
            GroupBatch g;
            CHECK(test_random_groups(&g, 3, 1, 30, 24, m->vocab, 93 ^ 0xc2c2ull, 93) == 0 && forest_from_groups(&f, &g) == 0,
                  "K = 1 batch");
            groups_free(&g);
            snprintf(label, sizeof label, "K 1");
            want_shared = 0;
        } else if (bi < 2) {
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
        run_batch(s, m, &f, label, attention, prefix_attention, &rc, params, cpu_g, n, want_shared);
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

// Layouts agree at a size where they chunk differently (review finding: weight gradients summed
// over MLP chunks in bf16): 3 prompts of 8192 x 2 completions of 4096 on the tiny model, padded
// 73728 slots (5 MLP chunks of at most 16384 rows) against prefix's 49152 (3); packed, prefix and
// tree on the GPU against padded on the GPU (the CPU reference is too slow at this size), with
// the small batches' tolerances. Prints each tensor's difference, so the drift is on record.
static void check_layouts_chunked(const ModelConfig *m, const char *attention) {
    char err[256] = "";
    StepOptions o = {.seed = 99, .attention = attention};
    Step *s = gpu_step_backend.create(m, &o, err, sizeof err);
    CHECK(s != NULL, "create: %s", err);
    if (!s) return;
    size_t off[P_COUNT];
    const size_t n = model_param_offsets(m, off);
    static const int32_t pl[3] = {8192, 8192, 8192}, cl[6] = {4096, 4096, 4096, 4096, 4096, 4096};
    GroupBatch g;
    Forest f;
    CHECK(groups_make(&g, 3, 2, pl, cl, m->vocab, 2027) == 0 && forest_from_groups(&f, &g) == 0, "chunked batch");
    groups_free(&g);
    float *grads[STRATEGY_COUNT] = {0};
    double loss[STRATEGY_COUNT] = {0};
    int ran[STRATEGY_COUNT] = {0};
    for (int st = STRATEGY_PADDED; st < STRATEGY_COUNT; st++) {
        Layout l;
        CHECK(layout_build_forest_share(&l, (Strategy)st, &f, NULL) == 0, "layout");
        double ms = 0;
        int rc = gpu_step_backend.prepare(s, &l, err, sizeof err);
        CHECK(rc == PB_OK, "chunked %s prepare: %s", strategy_name((Strategy)st), err);
        grads[st] = calloc(n, 4);
        if (rc == PB_OK) {
            CHECK(gpu_step_backend.run(s, &ms, &loss[st], err, sizeof err) == PB_OK, "run: %s", err);
            CHECK(gpu_step_backend.grads(s, grads[st]) == 0, "grads()");
            printf(" chunked %-6s T %6zu loss %.6f, %.1f ms\n", strategy_name((Strategy)st), l.n_slots, loss[st], ms);
            ran[st] = 1;
        }
        gpu_step_backend.release(s);
        layout_free(&l);
    }
    layouts_vs_padded(m, "chunked", grads, loss, ran, STRATEGY_COUNT);
    for (int st = 0; st < STRATEGY_COUNT; st++) free(grads[st]);
    forest_free(&f);
    gpu_step_backend.destroy(s);
}

// auto held to a budget below any plan of the cell: prepare says no memory (and nothing runs).
static void check_auto_over_budget(const ModelConfig *m, const char *attention) {
    char err[256] = "";
    StepOptions o = {.seed = 1, .attention = attention, .recompute = "auto", .memory_budget = 4096};
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
    CHECK(gpu_plan_attn_figures(attention, m, &l, &(AttnMemoryAsk){ATTN_PREFIX_AUTO, 0, 0}, &in) == 0,
          "host attention figures");
    static RecomputeChoice full, none, mid;
    CHECK(gpu_recompute_choose(&in, POLICY_FULL, 0, &full, err, sizeof err) == 0 &&
              gpu_recompute_choose(&in, POLICY_NONE, 0, &none, err, sizeof err) == 0, "host choice: %s", err);
    const size_t budget = (full.peak + none.peak) / 2;
    CHECK(gpu_recompute_choose(&in, POLICY_AUTO, budget, &mid, err, sizeof err) == 0 && mid.fits, "host auto: %s", err);
    StepOptions o = {.seed = 3, .attention = attention, .poison = 1, .recompute = "auto",
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
        else if (strcmp(argv[i], "--part") == 0 && i + 1 < argc) {
            if (sscanf(argv[++i], "%d/%d", &g_part_i, &g_part_n) != 2 || g_part_n < 1 || g_part_i < 0 ||
                g_part_i >= g_part_n) {
                fprintf(stderr, "test_step_gpu: --part wants i/n with 0 <= i < n\n");
                return 2;
            }
        } else attention = argv[i];
    }
    ModelConfig tiny = small_model("tiny", 16), d128 = small_model("d128", 128);
    ModelConfig llama = arch_model("llama"), qwen3 = arch_model("qwen3"), mistral = arch_model("mistral");
    // Qwen3's real head shape: q/k norm and RoPE on D 128 (their vector paths), hidden 256 != 4 x 128
    ModelConfig d128_qwen3 = small_model("d128-qwen3", 128);
    model_set_arch(&d128_qwen3, "qwen3");
    d128_qwen3.hidden = 256;
    run_config(&tiny, attention, "auto");
    // auto gathers the flat batches and merges the depth-3 forest: each the other way too
    if (!strcmp(attention, "cudnn")) run_config(&tiny, attention, "merge");
    if (!strcmp(attention, "cudnn")) run_config(&tiny, attention, "gather");
    // every recompute policy, and mixes that put each level at each of the 2 layers
    static const unsigned char mix_a[2] = {RECOMPUTE_NONE, RECOMPUTE_SELECTIVE}, mix_b[2] = {RECOMPUTE_SELECTIVE, RECOMPUTE_FULL},
                               mix_c[2] = {RECOMPUTE_FULL, RECOMPUTE_NONE};
    static const char *const policies[] = {"selective", "none", "auto"};
    run_config_rc(&tiny, attention, "auto", (Recompute){NULL, mix_a}); // --quick (memcheck) too: all three levels
    run_config_rc(&tiny, attention, "auto", (Recompute){NULL, mix_c});
    for (int p = 0; p < 3 && !quick; p++) run_config_rc(&tiny, attention, "auto", (Recompute){policies[p], NULL});
    if (!quick) run_config_rc(&tiny, attention, "auto", (Recompute){NULL, mix_b});
    if (g_part_i == 0) check_auto_over_budget(&tiny, attention);
    if (g_part_i == 0) check_auto_between(&tiny, attention);
    if (g_part_i == 0 && !quick) check_layouts_chunked(&tiny, attention);
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
    StepOptions dflt = {.seed = 1, .attention = NULL};
    Step *d = gpu_step_backend.create(&tiny, &dflt, err, sizeof err);
    CHECK(d && strcmp(gpu_step_backend.attention(d), PB_HAVE_CUDNN ? "cudnn" : "simple") == 0,
          "default attention '%s' (%s)", d ? gpu_step_backend.attention(d) : "-", err);
    if (d) gpu_step_backend.destroy(d);
    // an unknown backend is an error, not a default
    StepOptions bad = {.seed = 1, .attention = "no-such-attention"};
    Step *s = gpu_step_backend.create(&tiny, &bad, err, sizeof err);
    CHECK(s == NULL && err[0], "unknown attention backend accepted");
    if (s) gpu_step_backend.destroy(s);
    // so is an unknown prefix attention path
    StepOptions bad_prefix = {.seed = 1, .attention = attention, .prefix_attention = "b"};
    err[0] = 0;
    s = gpu_step_backend.create(&tiny, &bad_prefix, err, sizeof err);
    CHECK(s == NULL && strstr(err, "prefix attention"), "unknown prefix attention accepted (%s)", err);
    if (s) gpu_step_backend.destroy(s);
    if (failures) { printf("test_step_gpu: %d failures\n", failures); return 1; }
    printf("test_step_gpu: all passed\n");
    return 0;
}
