/*
 * test_capacity.c: `bench capacity`'s search (harness/capacity.h). The B it answers is the
 * largest that fits: the GPU memory planner, called here directly with the step's own plan
 * input (not through capacity_fits), puts B at or under the budget and B + 1 over it, for the
 * tiny model and Qwen2.5-7B, every strategy, several budgets; the peaks the search reports are
 * the planner's; a budget below one prompt answers B = 0 (a recorded skip, not an error);
 * a bound other than the budget (PB_MAX_PROMPTS) is named; prefix fits at least padded's B;
 * the default budget is 141 GB without a GPU and the given one otherwise.
 */
#include <stdio.h>
#include <string.h>

#include "../../attention/attn_memory.h"
#include "../../attention/prefix_path.h"
#include "../../gpu/memory_plan.h"
#include "../../harness/capacity.h"
#include "../../harness/config.h"
#include "../test_util.h"

// The planner's peak for B prompts, its input made as gpu/step.cu's prepare makes it.
static size_t planner_peak(const ModelConfig *m, const CapacityShape *sh, int b, Strategy s) {
    Layout l;
    char err[400];
    if (capacity_layout(m, sh, b, s, 7, &l, err, sizeof err)) { CHECK(0, "layout: %s", err); return 0; }
    GpuPlanInput in = {.m = m, .l = &l, .mode = GPU_PLAN_DEFAULT, .attn_tight = -1};
    const AttnMemoryAsk ask = {ATTN_PREFIX_AUTO, 0, 0};
    GpuMemPlan p = {0};
    size_t peak = 0;
    if (gpu_plan_attn_figures("cudnn", m, &l, &ask, &in) || gpu_memory_plan(&in, &p, err, sizeof err))
        CHECK(0, "planner: %s", err);
    else
        peak = p.peak;
    gpu_memory_plan_free(&p);
    layout_free(&l);
    return peak;
}

// The search's B against the planner at B and B + 1.
static int check_largest(const ModelConfig *m, const CapacityShape *sh, Strategy s, size_t budget) {
    const StepOptions so = {.seed = 1, .attention = "cudnn"};
    CapacityResult r;
    char err[400] = "";
    CHECK(capacity_search(m, sh, s, &so, budget, &r, err, sizeof err) == 0, "search: %s", err);
    const char *what = strategy_name(s);
    if (r.b == 0) {
        CHECK(planner_peak(m, sh, 1, s) > budget, "%s %dx%d: B = 0 but one prompt fits", what, sh->prompt_len,
              sh->completion_len);
        return 0;
    }
    size_t at = planner_peak(m, sh, r.b, s), next = planner_peak(m, sh, r.b + 1, s);
    CHECK(at <= budget, "%s %dx%d K=%d: B = %d plans %zu > budget %zu", what, sh->prompt_len, sh->completion_len, sh->k,
          r.b, at, budget);
    CHECK(r.limit != CAP_LIMIT_BUDGET || next > budget, "%s %dx%d K=%d: B + 1 = %d plans %zu, within the budget %zu",
          what, sh->prompt_len, sh->completion_len, sh->k, r.b + 1, next, budget);
    CHECK(r.peak == at, "%s: reported peak %zu, planner %zu", what, r.peak, at);
    CHECK(r.limit != CAP_LIMIT_BUDGET || r.peak_next == next, "%s: reported B + 1 peak %zu, planner %zu", what,
          r.peak_next, next);
    CHECK(r.probes >= 2 && r.probes < 64, "%s: %d probes", what, r.probes);
    return r.b;
}

static void load(const char *root, const char *name, ModelConfig *m) {
    char path[1024], err[600] = "";
    snprintf(path, sizeof path, "%s/configs/models/%s.conf", root, name);
    CHECK(config_load_model(path, m, err, sizeof err) == 0, "%s: %s", name, err);
}

int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : ".";
    ModelConfig tiny, qwen;
    load(root, "tiny", &tiny);
    load(root, "qwen2.5-7b", &qwen);

    // tiny: budgets a little above one prompt's plan up to many prompts; every strategy
    const CapacityShape shapes[] = {{16, 8, 2}, {64, 32, 4}, {5, 300, 3}};
    const double budgets_gb[] = {0.0855, 0.09, 0.11};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (size_t j = 0; j < sizeof budgets_gb / sizeof budgets_gb[0]; j++) {
            int b[STRATEGY_COUNT];
            for (int s = 0; s < STRATEGY_COUNT; s++)
                b[s] = check_largest(&tiny, &shapes[i], (Strategy)s, (size_t)(budgets_gb[j] * 1e9));
            CHECK(b[STRATEGY_PREFIX] >= b[STRATEGY_PADDED], "tiny %dx%d: prefix B %d < padded B %d",
                  shapes[i].prompt_len, shapes[i].completion_len, b[STRATEGY_PREFIX], b[STRATEGY_PADDED]);
            CHECK(j != 2 || b[STRATEGY_PADDED] > 1, "tiny %dx%d at %.3f GB: padded B %d, want many",
                  shapes[i].prompt_len, shapes[i].completion_len, budgets_gb[j], b[STRATEGY_PADDED]);
        }

    // a budget below one prompt: B = 0 with the one prompt's peak, not an error
    const StepOptions so = {.seed = 1, .attention = "cudnn"};
    CapacityResult r;
    char err[400] = "";
    CHECK(capacity_search(&tiny, &shapes[0], STRATEGY_PADDED, &so, 1000000, &r, err, sizeof err) == 0 && r.b == 0 &&
          r.peak > 1000000 && r.peak_next == 0, "budget below one prompt: b %d peak %zu (%s)", r.b, r.peak, err);

    // the prompt bound: one-token prompts and completions of the tiny model at 141 GB stop at
    // PB_MAX_PROMPTS, named as the limit
    const CapacityShape one = {1, 1, 1};
    CHECK(capacity_search(&tiny, &one, STRATEGY_PREFIX, &so, (size_t)141e9, &r, err, sizeof err) == 0 &&
          r.b == PB_MAX_PROMPTS && r.limit == CAP_LIMIT_PROMPTS && r.peak_next == 0,
          "prompt bound: b %d limit %s (%s)", r.b, capacity_limit_name(r.limit), err);

    // Qwen2.5-7B at 141 GB (issue 11's capacity cells): B fits, B + 1 does not; prefix >= padded
    const CapacityShape q[] = {{4096, 4096, 2}, {16384, 128, 2}, {2048, 1024, 8}};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        int pad = check_largest(&qwen, &q[i], STRATEGY_PADDED, (size_t)141e9);
        int pre = check_largest(&qwen, &q[i], STRATEGY_PREFIX, (size_t)141e9);
        CHECK(pad >= 1 && pre >= pad, "qwen %dx%d K=%d: padded B %d, prefix B %d", q[i].prompt_len,
              q[i].completion_len, q[i].k, pad, pre);
        printf("qwen2.5-7b %dx%d K=%d at 141 GB: padded B %d, prefix B %d\n", q[i].prompt_len, q[i].completion_len,
               q[i].k, pad, pre);
    }
    // at a smaller budget the answer shrinks and still holds
    int small = check_largest(&qwen, &q[0], STRATEGY_PREFIX, (size_t)80e9);
    CHECK(small >= 1 && small < check_largest(&qwen, &q[0], STRATEGY_PREFIX, (size_t)141e9), "80 GB: B %d", small);

    // the budget: given, else the host's 141 GB when no GPU is asked
    const char *from = "";
    CHECK(capacity_default_budget(80.5, 0, &from) == (size_t)80.5e9 && !strcmp(from, "given"), "given budget");
    CHECK(capacity_default_budget(-1, 0, &from) == (size_t)141e9 && !strcmp(from, "host"), "host budget %s", from);
    return test_finish("test_capacity");
}
