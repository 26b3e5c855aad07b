/*
 * test_roofline: the op classes' costs and the step's ideal time (model/roofline.h) against
 * numbers computed by hand, and the classes' FLOPs against model_flops (one count).
 *
 * Tiny model (tiny.h: C 64, 4 q / 2 kv heads of 16 so q 64, kv 32, F 128, L 2, V 512), T 10
 * slots, 25 pairs, N 3 loss pairs. Multiply-adds per token and layer: qkv 64 * 128 = 8192,
 * o 64 * 64 = 4096, mlp 3 * 64 * 128 = 24576.
 *   FLOPs (2 L T macs forward and recompute, 4 L T macs backward; recompute MLP 2 of 3 GEMMs):
 *     qkv 327680 / 327680 / 655360; o 163840 / 163840 / 327680; mlp 983040 / 655360 / 1966080;
 *     attention 2*4*64 = 512 per pair: 12800 / 12800 / 32000; lm head 2*3*64*512 = 196608 fwd,
 *     393216 bwd.
 *   Bytes: embedding 4TC = 2560 fwd, 2TC + 2VC = 1280 + 65536 = 66816 bwd; one norm fwd
 *     4TC + 4T = 2600 (5 forward = 13000, 4 recompute = 10400), bwd 8TC + 4T = 5160 (5 = 25800);
 *     rope 4LT(q + 2kv) = 10240 per pass (with the split of v out of the fused q/k/v output); swiglu 6LTF = 15360 fwd and recompute, 10LTF = 25600
 *     bwd; CE 10NC + 4NV = 1920 + 6144 = 8064; misc 4TC + 10(2L + 1)C = 2560 + 3200 = 5760.
 *     Sum of bytes 219440 (the residual adds are GEMM epilogues: no bytes of their own).
 * Ceilings: GEMM fwd 1e6 FLOP/s, bwd input 2e6 and weight 2e6/3 (harmonic mean 1e6), attention
 * fwd 1e5 and bwd 5e4, bandwidth 1e6 B/s. Ideal time:
 *   GEMM fwd + recompute 2818048 / 1e6 = 2.818048 s; GEMM bwd 3342336 / 1e6 = 3.342336 s;
 *   attention 25600 / 1e5 + 32000 / 5e4 = 0.256 + 0.64 s; bytes 219440 / 1e6 = 0.21944 s;
 *   total 7.275824 s.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>

#include "../../model/roofline.h"
#include "tiny.h"
#include "../test_util.h"

static int near(double a, double b) { return fabs(a - b) <= 1e-12 * fmax(fabs(a), fabs(b)); }

static void expect(const RoofCosts *c, OpKind k, OpPass p, double flop, double bytes) {
    const OpCost *x = &c->c[k][p];
    CHECK(x->flop == flop && x->bytes == bytes, "%s %s: flop %.17g bytes %.17g, want %.17g %.17g", op_kind_name(k),
          op_pass_name(p), x->flop, x->bytes, flop, bytes);
}

int main(void) {
    ModelConfig m = tiny_model();
    RoofShape sh = {10, 25, 3, NULL};
    RoofCosts c;
    roofline_costs(&m, &sh, &c);
    // per kind: FLOPs forward / recompute / backward, then bytes
    static const struct { OpKind k; double flop[OPP_COUNT], bytes[OPP_COUNT]; } hand[] = {
        {OPK_EMBED, {0, 0, 0}, {2560, 0, 66816}},
        {OPK_NORM, {0, 0, 0}, {13000, 10400, 25800}},
        {OPK_QKV, {327680, 327680, 655360}, {0, 0, 0}},
        {OPK_ROPE, {0, 0, 0}, {10240, 10240, 10240}},
        {OPK_ATTN, {12800, 12800, 32000}, {0, 0, 0}},
        {OPK_O, {163840, 163840, 327680}, {0, 0, 0}},
        {OPK_MLP, {983040, 655360, 1966080}, {0, 0, 0}},
        {OPK_SWIGLU, {0, 0, 0}, {15360, 15360, 25600}},
        {OPK_LMHEAD, {196608, 0, 393216}, {0, 0, 0}},
        {OPK_CE, {0, 0, 0}, {0, 0, 8064}},
        {OPK_MISC, {0, 0, 0}, {0, 0, 5760}},
    };
    static_assert(sizeof hand / sizeof hand[0] == OPK_COUNT, "every op kind has its hand-computed costs");
    for (int i = 0; i < OPK_COUNT; i++)
        for (int p = 0; p < OPP_COUNT; p++) expect(&c, hand[i].k, (OpPass)p, hand[i].flop[p], hand[i].bytes[p]);

    RoofCeilings ce = {1e6, 2e6, 2e6 / 3, 1e5, 5e4, 1e6};
    CHECK(near(roofline_ceiling(&ce, OPK_MLP, OPP_BWD), 1e6), "GEMM backward ceiling %.17g, want 1e6",
          roofline_ceiling(&ce, OPK_MLP, OPP_BWD));
    CHECK(roofline_ceiling(&ce, OPK_ATTN, OPP_RECOMPUTE) == 1e5 && roofline_ceiling(&ce, OPK_ROPE, OPP_BWD) == 1e6,
          "attention recompute / rope ceilings");
    double attn = roofline_class_s(&c, &ce, OPK_ATTN, OPP_BWD), bytes = 0;
    CHECK(near(attn, 0.64), "attention backward ideal %.17g s, want 0.64", attn);
    for (int k = 0; k < OPK_COUNT; k++)
        for (int p = 0; p < OPP_COUNT; p++)
            if (!op_kind_is_gemm((OpKind)k) && k != OPK_ATTN) bytes += roofline_class_s(&c, &ce, (OpKind)k, (OpPass)p);
    CHECK(near(bytes, 0.21944), "memory-bound ideal %.17g s, want 0.21944", bytes);
    double ideal = roofline_ideal_s(&c, &ce);
    CHECK(near(ideal, 7.275824), "ideal step %.17g s, want 7.275824", ideal);

    // one count: the classes without recompute are model_flops' dense, attention and LM head
    Flops f = model_flops(&m, sh.tokens, sh.attn_pairs, sh.loss_pairs);
    double dense = 0;
    static const OpKind linear[] = {OPK_QKV, OPK_O, OPK_MLP};
    for (int i = 0; i < 3; i++) dense += c.c[linear[i]][OPP_FWD].flop + c.c[linear[i]][OPP_BWD].flop;
    CHECK(dense == f.dense, "dense %.17g, model_flops %.17g", dense, f.dense);
    CHECK(c.c[OPK_ATTN][OPP_FWD].flop + c.c[OPK_ATTN][OPP_BWD].flop == f.attention, "attention vs model_flops");
    CHECK(c.c[OPK_LMHEAD][OPP_FWD].flop + c.c[OPK_LMHEAD][OPP_BWD].flop == f.lm_head, "lm head vs model_flops");

    // Qwen2.5-7B at the H200 ceilings: the GEMMs of one 512-token slot step alone take
    // 512 * (39151730688 model + 28 * 2 * (C(q + 2kv) + qC + 2CF) recompute) FLOPs
    ModelConfig q = {.name = "qwen2.5-7b", .vocab = 152064, .hidden = 3584, .layers = 28, .n_head = 28,
                     .n_kv_head = 4, .head_dim = 128, .mlp = 18944, .rms_eps = 1e-6f, .rope_theta = 1e6};
    RoofShape s7 = {512, 512 * 513 / 2, 0, NULL};
    roofline_costs(&q, &s7, &c);
    double gemm = 0;
    for (int k = 0; k < OPK_COUNT; k++)
        for (int p = 0; p < OPP_COUNT; p++) gemm += op_kind_is_gemm((OpKind)k) ? c.c[k][p].flop : 0;
    double want = 512.0 * (39151730688.0 + 28.0 * 2 * (3584.0 * 4608 + 3584.0 * 3584 + 2 * 3584.0 * 18944));
    CHECK(gemm == want, "7B GEMM FLOPs with recompute %.17g, want %.17g", gemm, want);
    CHECK(roofline_ideal_s(&c, &roof_h200) > gemm / ROOF_H200_GEMM_FWD, "ideal below the GEMMs alone at the fwd ceiling");
    return test_finish("test_roofline");
}
