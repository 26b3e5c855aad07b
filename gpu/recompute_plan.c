// recompute_plan.c: choosing the recompute level of every layer (see recompute_plan.h).
#include "recompute_plan.h"

#include <stdio.h>
#include <string.h>

_Static_assert((int)POLICY_FULL == (int)RECOMPUTE_FULL && (int)POLICY_SELECTIVE == (int)RECOMPUTE_SELECTIVE &&
                   (int)POLICY_NONE == (int)RECOMPUTE_NONE, "a policy of one level has that level's value");

// One upgrade: layer `layer` to level `to`.
typedef struct Upgrade { int layer; unsigned char to; } Upgrade;

// The levels after the first k upgrades of seq applied to base.
static void apply(const unsigned char *base, int L, const Upgrade *seq, int k, unsigned char *out) {
    memcpy(out, base, (size_t)L);
    for (int i = 0; i < k; i++)
        if (out[seq[i].layer] < seq[i].to) out[seq[i].layer] = seq[i].to;
}

// The plan's peak with these levels; 0 on failure (err set).
static size_t peak_of(const GpuPlanInput *in, const unsigned char *levels, RecomputeChoice *c, char *err, size_t errlen) {
    GpuPlanInput q = *in;
    gpu_recompute_of_levels(levels, in->m->layers, &c->keep);
    q.recompute = &c->keep;
    q.mode = GPU_PLAN_DEFAULT;
    GpuMemPlan p;
    c->plans++;
    if (gpu_memory_plan(&q, &p, err, errlen)) return 0;
    size_t peak = p.peak;
    gpu_memory_plan_free(&p);
    return peak;
}

// The longest prefix of seq[0..n) over base that fits; base updated to it. -1 on a plan failure.
static int longest_fit(const GpuPlanInput *in, unsigned char *base, const Upgrade *seq, int n, RecomputeChoice *c,
                       char *err, size_t errlen) {
    const int L = in->m->layers;
    unsigned char lv[GPU_PLAN_MAX_LAYERS];
    int lo = 0, hi = n; // prefix lo fits (the caller checked base), the answer is in [lo, hi]
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        apply(base, L, seq, mid, lv);
        size_t peak = peak_of(in, lv, c, err, errlen);
        if (!peak) return -1;
        if (peak <= c->budget) lo = mid;
        else hi = mid - 1;
    }
    apply(base, L, seq, lo, lv);
    memcpy(base, lv, (size_t)L);
    return 0;
}

int gpu_recompute_choose(const GpuPlanInput *in, RecomputePolicy policy, size_t budget, RecomputeChoice *out,
                         char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    const ModelConfig *m = in->m;
    if (!m || !in->l || m->layers <= 0 || m->layers > GPU_PLAN_MAX_LAYERS) {
        snprintf(err, errlen, "recompute: needs a model of 1..%d layers and a layout", GPU_PLAN_MAX_LAYERS);
        return -1;
    }
    const int L = m->layers;
    out->policy = policy;
    if (policy != POLICY_AUTO) {
        // the policy's level in every layer (POLICY_FULL .. POLICY_NONE are the levels' values)
        memset(out->level, (int)policy, (size_t)L);
        out->peak = peak_of(in, out->level, out, err, errlen);
        out->budget = budget;
        out->fits = !budget || out->peak <= budget;
        out->plans = 0;
        return out->peak ? 0 : -1;
    }
    out->budget = budget;
    memset(out->level, RECOMPUTE_FULL, (size_t)L);
    size_t peak = peak_of(in, out->level, out, err, errlen);
    if (!peak) return -1;
    if (peak > budget) { out->peak = peak; out->fits = 0; return 0; }
    // the two upgrades ranked by FLOPs saved per byte kept (recompute_plan.h)
    const size_t T = in->l->n_slots, P = in->l->attn_pairs;
    const RecomputeFlops ff = recompute_layer_flops(m, RECOMPUTE_FULL, T, P);
    const double f_full = recompute_flops_total(&ff);
    const RecomputeFlops fs = recompute_layer_flops(m, RECOMPUTE_SELECTIVE, T, P);
    const double f_sel = recompute_flops_total(&fs);
    const double b_sel = (double)gpu_plan_keep_bytes(m, T, gpu_recompute_keep(RECOMPUTE_SELECTIVE));
    const double b_none = (double)gpu_plan_keep_bytes(m, T, gpu_recompute_keep(RECOMPUTE_NONE));
    const double r_sel = (f_full - f_sel) / b_sel, r_none = f_sel / (b_none - b_sel);
    Upgrade seq[2 * GPU_PLAN_MAX_LAYERS];
    int n = 0;
    if (r_sel >= r_none) {
        for (int l = L - 1; l >= 0; l--) seq[n++] = (Upgrade){l, RECOMPUTE_SELECTIVE};
        for (int l = L - 1; l >= 0; l--) seq[n++] = (Upgrade){l, RECOMPUTE_NONE};
        if (longest_fit(in, out->level, seq, n, out, err, errlen)) return -1;
    } else {
        for (int l = L - 1; l >= 0; l--) seq[n++] = (Upgrade){l, RECOMPUTE_NONE};
        if (longest_fit(in, out->level, seq, n, out, err, errlen)) return -1;
        n = 0; // the layers left at full may still go selective
        for (int l = L - 1; l >= 0; l--)
            if (out->level[l] == RECOMPUTE_FULL) seq[n++] = (Upgrade){l, RECOMPUTE_SELECTIVE};
        if (longest_fit(in, out->level, seq, n, out, err, errlen)) return -1;
    }
    out->peak = peak_of(in, out->level, out, err, errlen); // also leaves out->keep of the choice
    out->fits = out->peak && out->peak <= budget;
    return out->peak ? 0 : -1;
}
