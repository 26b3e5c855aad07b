// recompute.c: recompute levels, their FLOPs and their names (see recompute.h).
#include "recompute.h"

#include <stdio.h>
#include <string.h>

static const char *const policy_names[] = {"full", "selective", "none", "auto"};

int recompute_policy_parse(const char *name, RecomputePolicy *out) {
    if (!name) { *out = POLICY_FULL; return 0; }
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, policy_names[i])) { *out = (RecomputePolicy)i; return 0; }
    return -1;
}

const char *recompute_policy_name(RecomputePolicy p) { return p >= 0 && p <= POLICY_AUTO ? policy_names[p] : "?"; }
const char *recompute_level_name(RecomputeLevel l) { return l >= 0 && l < RECOMPUTE_LEVELS ? policy_names[l] : "?"; }

RecomputeFlops recompute_layer_flops(const ModelConfig *m, RecomputeLevel lv, size_t tokens, size_t attn_pairs) {
    RecomputeFlops f = {0, 0, 0, 0};
    const LayerMacs mac = model_layer_macs(m);
    const double T = (double)tokens;
    if (lv == RECOMPUTE_NONE) return f;
    f.mlp = 2.0 * T * mac.mlp * 2.0 / 3.0; // gate and up; the down projection's output is not needed
    if (lv == RECOMPUTE_SELECTIVE) return f;
    f.qkv = 2.0 * T * mac.qkv;
    f.o = 2.0 * T * mac.o;
    f.attn = model_attn_fwd_flop_per_pair(m) / (double)m->layers * (double)attn_pairs;
    return f;
}

RecomputeFlops recompute_flops(const ModelConfig *m, const unsigned char *levels, size_t tokens, size_t attn_pairs) {
    RecomputeFlops s = {0, 0, 0, 0};
    for (int l = 0; l < m->layers; l++) {
        RecomputeFlops f = recompute_layer_flops(m, levels ? (RecomputeLevel)levels[l] : RECOMPUTE_FULL, tokens, attn_pairs);
        s.qkv += f.qkv, s.o += f.o, s.mlp += f.mlp, s.attn += f.attn;
    }
    return s;
}

double recompute_flops_total(const RecomputeFlops *f) { return f->qkv + f->o + f->mlp + f->attn; }

double model_hw_flops(const ModelConfig *m, const unsigned char *levels, size_t tokens, size_t attn_pairs,
                      size_t loss_rows) {
    RecomputeFlops r = recompute_flops(m, levels, tokens, attn_pairs);
    return model_flops(m, tokens, attn_pairs, loss_rows).total + recompute_flops_total(&r);
}

void recompute_describe(RecomputePolicy policy, const unsigned char *levels, int layers, char *out, size_t len) {
    int n[RECOMPUTE_LEVELS] = {0, 0, 0};
    for (int l = 0; l < layers; l++) n[levels[l] < RECOMPUTE_LEVELS ? levels[l] : RECOMPUTE_FULL]++;
    if (policy != POLICY_AUTO) {
        snprintf(out, len, "%s", recompute_policy_name(policy));
        return;
    }
    static const char code[RECOMPUTE_LEVELS] = {'f', 's', 'n'};
    int w = snprintf(out, len, "auto: %d none, %d selective, %d full (", n[RECOMPUTE_NONE], n[RECOMPUTE_SELECTIVE],
                     n[RECOMPUTE_FULL]);
    for (int l = 0; l < layers && w >= 0 && (size_t)w + 2 < len; l++) out[w++] = code[levels[l] < RECOMPUTE_LEVELS ? levels[l] : 0];
    if (w >= 0 && (size_t)w + 1 < len) { out[w++] = ')'; out[w] = '\0'; }
}
