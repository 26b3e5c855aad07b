// capacity.c: the largest batch that fits a memory budget (see capacity.h).
#include "capacity.h"

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "pb_config.h"
#if PB_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

#include "../attention/attn_memory.h"
#include "../attention/prefix_path.h"
#include "../gpu/memory_plan.h"
#include "../gpu/recompute_plan.h"
#include "config.h"
#include "share_rule.h"
#include "sweep.h"

int capacity_plan_peak(const ModelConfig *m, const Layout *l, const StepOptions *so, size_t budget, size_t *peak,
                       char *err, size_t errlen) {
    const char *backend = so->attention ? so->attention : "cudnn";
    AttnPrefixMode mode;
    if (attn_prefix_mode_parse(so->prefix_attention, &mode)) {
        snprintf(err, errlen, "capacity: unknown prefix attention mode");
        return -1;
    }
    RecomputePolicy policy;
    if (recompute_policy_parse(so->recompute, &policy)) {
        snprintf(err, errlen, "capacity: unknown recompute policy");
        return -1;
    }
    // the GPU step's own plan input (gpu/step.cu, prepare): the same fields from the same options
    GpuPlanInput in = {.m = m, .l = l, .mode = GPU_PLAN_DEFAULT, .recompute = NULL, .mlp_cap = so->mlp_chunk,
                       .attn_tight = -1};
    const AttnMemoryAsk ask = {mode, 0, 0};
    if (gpu_plan_attn_figures(backend, m, l, &ask, &in)) {
        snprintf(err, errlen, "capacity: no memory figures for attention backend '%s'", backend);
        return -1;
    }
    RecomputeChoice choice; // the policy's levels at this layout (auto: held to the budget)
    if (gpu_recompute_choose(&in, policy, budget, &choice, err, errlen)) return -1;
    in.recompute = &choice.keep;
    GpuMemPlan p;
    if (gpu_memory_plan(&in, &p, err, errlen)) return -1;
    *peak = p.peak;
    gpu_memory_plan_free(&p);
    return 0;
}

int capacity_fits(const ModelConfig *m, const Layout *l, const StepOptions *so, size_t budget, size_t *peak,
                  char *err, size_t errlen) {
    if (capacity_plan_peak(m, l, so, budget, peak, err, errlen)) return -1;
    return *peak <= budget;
}

const char *capacity_policy_name(const StepOptions *so) {
    RecomputePolicy policy;
    return recompute_policy_parse(so->recompute, &policy) ? "?" : recompute_policy_name(policy);
}

const char *capacity_limit_name(CapacityLimit l) {
    static const char *const names[CAP_LIMIT_COUNT] = {"budget", "prompts", "slots", "host"};
    return l >= 0 && l < CAP_LIMIT_COUNT ? names[l] : "?";
}

// A uniform cell of b prompts of the shape. 0 or -1.
static int shape_cell(const CapacityShape *sh, int b, Cell *c) {
    return cell_make_uniform(0, b, sh->k, sh->prompt_len, sh->completion_len, c);
}

int capacity_layout(const ModelConfig *m, const CapacityShape *sh, int b, Strategy s, uint64_t seed, Layout *out,
                    char *err, size_t errlen) {
    Cell c;
    Forest f;
    char why[256];
    if (shape_cell(sh, b, &c)) { snprintf(err, errlen, "capacity: out of host memory for %d prompts", b); return -1; }
    int rc = cell_batch(&c, m->vocab, seed, &f, why, sizeof why);
    cell_free(&c);
    if (rc) { snprintf(err, errlen, "capacity: cannot make %d prompts: %s", b, why); return -1; }
    // the prefix strategy as the sweep runs it: each group shared only where the share rule says
    // it pays (--prefix-share auto), else the padded way
    const PrefixShare share = share_rule(m, PREFIX_SHARE_AUTO);
    rc = layout_build_forest_share(out, s, &f, &share);
    forest_free(&f);
    if (rc) snprintf(err, errlen, "capacity: cannot build the %s layout of %d prompts (out of host memory)",
                     strategy_name(s), b);
    return rc ? -1 : 0;
}

// Half of this host's memory: what one probe's batch and layout may take (as the sweep's rule).
static double host_limit_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? 0.5 * (double)pages * (double)page : 1e30;
}

// The largest B the bounds other than the budget allow (slots and host bytes are linear in B for
// a uniform cell), and which bound that is. 0, or -1 on bad lengths.
static int bound_b(const CapacityShape *sh, Strategy s, int *b_max, CapacityLimit *limit) {
    Cell c;
    LayoutCounts n;
    if (shape_cell(sh, 1, &c)) return -1;
    int rc = cell_estimate(&c, s, &n);
    cell_free(&c);
    if (rc || n.n_slots <= 0) return -1;
    // per prompt: the layout's arrays, the batch's token ids (int32, twice: groups and forest)
    const double host_per = (double)layout_host_bytes(&n) + 8.0 * (double)sh->prompt_len +
                            8.0 * (double)sh->k * (double)sh->completion_len;
    const int64_t by_slots = PB_MAX_SLOTS / n.n_slots;
    const double by_host = host_limit_bytes() / host_per;
    *b_max = PB_MAX_PROMPTS;
    *limit = CAP_LIMIT_PROMPTS;
    if (by_slots < *b_max) { *b_max = (int)by_slots; *limit = CAP_LIMIT_SLOTS; }
    if (by_host < *b_max) { *b_max = (int)by_host; *limit = CAP_LIMIT_HOST; }
    return 0;
}

// One probe: B's layout planned. 1 fits, 0 not, -1 with err.
static int probe(const ModelConfig *m, const CapacityShape *sh, int b, Strategy s, const StepOptions *so,
                 size_t budget, size_t *peak, int64_t *slots, int *probes, char *err, size_t errlen) {
    Layout l;
    if (capacity_layout(m, sh, b, s, 1, &l, err, errlen)) return -1;
    *slots = (int64_t)l.n_slots;
    int rc = capacity_fits(m, &l, so, budget, peak, err, errlen);
    layout_free(&l);
    (*probes)++;
    return rc;
}

int capacity_search(const ModelConfig *m, const CapacityShape *sh, Strategy s, const StepOptions *so, size_t budget,
                    CapacityResult *out, char *err, size_t errlen) {
    *out = (CapacityResult){0};
    int b_max;
    CapacityLimit bound;
    if (sh->prompt_len < 1 || sh->completion_len < 1 || sh->k < 1 || bound_b(sh, s, &b_max, &bound)) {
        snprintf(err, errlen, "capacity: bad cell %d x %d, K = %d", sh->prompt_len, sh->completion_len, sh->k);
        return -1;
    }
    if (b_max < 1) {
        snprintf(err, errlen, "capacity: one prompt of %d x %d, K = %d, is over the %s bound", sh->prompt_len,
                 sh->completion_len, sh->k, capacity_limit_name(bound));
        return -1;
    }
    size_t peak;
    int64_t slots;
    int rc = probe(m, sh, 1, s, so, budget, &peak, &slots, &out->probes, err, errlen);
    if (rc < 0) return -1;
    out->peak = peak;
    out->slots = slots;
    out->limit = CAP_LIMIT_BUDGET;
    if (!rc) return 0; // even one prompt is over the budget: b = 0
    // lo fits; hi (when hi_known) does not
    int lo = 1, hi = 0, hi_known = 0;
    size_t lo_peak = peak, hi_peak = 0;
    int64_t lo_slots = slots;
    while (!hi_known && lo < b_max) { // doubling
        int b = lo > b_max / 2 ? b_max : 2 * lo;
        if ((rc = probe(m, sh, b, s, so, budget, &peak, &slots, &out->probes, err, errlen)) < 0) return -1;
        if (rc) { lo = b; lo_peak = peak; lo_slots = slots; }
        else { hi = b; hi_peak = peak; hi_known = 1; }
    }
    while (hi_known && hi - lo > 1) { // bisecting
        int b = lo + (hi - lo) / 2;
        if ((rc = probe(m, sh, b, s, so, budget, &peak, &slots, &out->probes, err, errlen)) < 0) return -1;
        if (rc) { lo = b; lo_peak = peak; lo_slots = slots; }
        else { hi = b; hi_peak = peak; }
    }
    out->b = lo;
    out->peak = lo_peak;
    out->slots = lo_slots;
    out->peak_next = hi_known ? hi_peak : 0;
    out->limit = hi_known ? CAP_LIMIT_BUDGET : bound;
    return 0;
}

size_t capacity_default_budget(double gb, int want_gpu, const char **from) {
    if (gb > 0) { *from = "given"; return (size_t)(gb * 1e9); }
#if PB_HAVE_CUDA
    size_t free_b = 0, total_b = 0;
    if (want_gpu && cudaMemGetInfo(&free_b, &total_b) == cudaSuccess && free_b > GPU_RECOMPUTE_MARGIN) {
        *from = "device";
        return free_b - GPU_RECOMPUTE_MARGIN;
    }
    if (want_gpu) cudaGetLastError(); // no usable device: the host's budget
#else
    (void)want_gpu;
#endif
    *from = "host";
    return GPU_RECOMPUTE_HOST_BUDGET;
}
