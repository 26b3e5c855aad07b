// roofline.c: op classes, their costs from the shapes, ceilings and ideal time (see roofline.h).
#include "roofline.h"

#include "recompute.h"

const RoofCeilings roof_h200 = {ROOF_H200_GEMM_FWD, ROOF_H200_GEMM_BWD_INPUT, ROOF_H200_GEMM_BWD_WEIGHT,
                                ROOF_H200_ATTN_FWD, ROOF_H200_ATTN_BWD, ROOF_H200_BANDWIDTH};

static const char *const kind_names[OPK_COUNT] = {
    [OPK_EMBED] = "embedding", [OPK_NORM] = "rmsnorm",    [OPK_QKV] = "qkv gemm",    [OPK_ROPE] = "rope",
    [OPK_ATTN] = "attention",  [OPK_O] = "o gemm",          [OPK_MLP] = "mlp gemm",
    [OPK_SWIGLU] = "swiglu",   [OPK_LMHEAD] = "lm head gemm", [OPK_CE] = "cross-entropy", [OPK_MISC] = "zero/cast",
};
static const char *const pass_names[OPP_COUNT] = {"forward", "recompute", "backward"};

const char *op_kind_name(OpKind k) { return k >= 0 && k < OPK_COUNT ? kind_names[k] : "?"; }
const char *op_pass_name(OpPass p) { return p >= 0 && p < OPP_COUNT ? pass_names[p] : "?"; }
int op_kind_is_gemm(OpKind k) { return k == OPK_QKV || k == OPK_O || k == OPK_MLP || k == OPK_LMHEAD; }

// One kind's cost in each pass.
static void set_flop(RoofCosts *o, OpKind k, double fwd, double recompute, double bwd) {
    o->c[k][OPP_FWD].flop = fwd;
    o->c[k][OPP_RECOMPUTE].flop = recompute;
    o->c[k][OPP_BWD].flop = bwd;
}
static void set_bytes(RoofCosts *o, OpKind k, double fwd, double recompute, double bwd) {
    o->c[k][OPP_FWD].bytes = fwd;
    o->c[k][OPP_RECOMPUTE].bytes = recompute;
    o->c[k][OPP_BWD].bytes = bwd;
}

void roofline_costs(const ModelConfig *m, const RoofShape *sh, RoofCosts *o) {
    *o = (RoofCosts){0};
    const double T = (double)sh->tokens, N = (double)sh->loss_pairs, P = (double)sh->attn_pairs;
    const double C = m->hidden, F = m->mlp, V = m->vocab, L = m->layers;
    const double q = (double)m->n_head * m->head_dim, kv = (double)m->n_kv_head * m->head_dim;
    const LayerMacs mac = model_layer_macs(m);
    const RecomputeFlops re = recompute_flops(m, sh->recompute, sh->tokens, sh->attn_pairs);
    set_flop(o, OPK_QKV, 2 * L * T * mac.qkv, re.qkv, 4 * L * T * mac.qkv);
    set_flop(o, OPK_O, 2 * L * T * mac.o, re.o, 4 * L * T * mac.o);
    set_flop(o, OPK_MLP, 2 * L * T * mac.mlp, re.mlp, 4 * L * T * mac.mlp);
    const double attn = model_attn_fwd_flop_per_pair(m) * P;
    set_flop(o, OPK_ATTN, attn, re.attn, MODEL_ATTN_BWD_FACTOR * attn);
    o->c[OPK_LMHEAD][OPP_FWD].flop = 2 * N * C * V;
    o->c[OPK_LMHEAD][OPP_BWD].flop = 4 * N * C * V;
    // layers whose norms and SwiGLU (full, selective) and RoPE and q/k norm (full) run again
    double L_norm = 0, L_rope = 0;
    for (int l = 0; l < m->layers; l++) {
        const int lv = sh->recompute ? sh->recompute[l] : RECOMPUTE_FULL;
        L_norm += lv != RECOMPUTE_NONE;
        L_rope += lv == RECOMPUTE_FULL;
    }

    set_bytes(o, OPK_EMBED, 4 * T * C, 0, 2 * T * C + 2 * V * C);
    const double norm_fwd = 4 * T * C + 4 * T, norm_bwd = 8 * T * C + 4 * T;
    set_bytes(o, OPK_NORM, (2 * L + 1) * norm_fwd, 2 * L_norm * norm_fwd, (2 * L + 1) * norm_bwd);
    if (m->qk_norm) { // per-head norms of q and k (Qwen3), fp32 1/rms per head
        const double heads = (double)m->n_head + m->n_kv_head;
        const double hn = 4 * T * (q + kv) + 4 * T * heads, hn_bwd = L * (8 * T * (q + kv) + 4 * T * heads);
        o->c[OPK_NORM][OPP_FWD].bytes += L * hn;
        o->c[OPK_NORM][OPP_RECOMPUTE].bytes += L_rope * hn;
        o->c[OPK_NORM][OPP_BWD].bytes += hn_bwd;
    }
    const double rope = 4 * T * (q + 2 * kv); // q, k rotated; v (dv) copied out of (into) the fused q/k/v rows
    set_bytes(o, OPK_ROPE, L * rope, L_rope * rope, L * rope);
    set_bytes(o, OPK_SWIGLU, 6 * L * T * F, 6 * L_norm * T * F, 10 * L * T * F);
    o->c[OPK_CE][OPP_BWD].bytes = 10 * N * C + 4 * N * V;
    o->c[OPK_MISC][OPP_BWD].bytes = 4 * T * C + 10 * (2 * L + 1) * C;
}

double roofline_ceiling(const RoofCeilings *c, OpKind k, OpPass p) {
    if (op_kind_is_gemm(k))
        return p == OPP_BWD ? 2.0 / (1.0 / c->gemm_bwd_input + 1.0 / c->gemm_bwd_weight) : c->gemm_fwd;
    if (k == OPK_ATTN) return p == OPP_BWD ? c->attn_bwd : c->attn_fwd;
    return c->bandwidth;
}

double roofline_class_s(const RoofCosts *costs, const RoofCeilings *c, OpKind k, OpPass p) {
    const OpCost *x = &costs->c[k][p];
    double ceiling = roofline_ceiling(c, k, p);
    if (!(ceiling > 0)) return 0;
    return (op_kind_is_gemm(k) || k == OPK_ATTN ? x->flop : x->bytes) / ceiling;
}

double roofline_ideal_s(const RoofCosts *costs, const RoofCeilings *c) {
    double s = 0;
    for (int k = 0; k < OPK_COUNT; k++)
        for (int p = 0; p < OPP_COUNT; p++) s += roofline_class_s(costs, c, (OpKind)k, (OpPass)p);
    return s;
}
