/*
 * test_memory_plan_models.c: the GPU step's memory plan (gpu/memory_plan.c) for the
 * architecture variants, line by line from first principles, on the shipped configs at
 * 2048 x 512 (3 x 2, padded, the cuDNN backend's host figures):
 *  - Qwen3-0.6B: tied (weights = 2 bytes x the published 596,049,920 parameters, the embedding
 *    once; no LM-head gradient line, the embedding's gradient born at the fused CE, which
 *    writes it first), head_dim x heads = 2048 != hidden 1024 (q, att, dq lines are T x 2048),
 *    the q/k norm's lines (the fused qkv line lives on as its input, the fp32 rstd, per layer and pass) and its
 *    weights' fp32 gradient accumulators (2 x 28 x 128 beyond the (2L + 1) x C of the other
 *    norms), cast into whole-tensor gradient lines at the end;
 *  - Llama-3.1-8B: bias-free (8,030,261,248 parameters; no bias gradient lines), no q/k norm
 *    bytes, untied (the embedding's gradient born at the embedding backward);
 *  - both: the RoPE frequency table line (D / 2 doubles, live through the step).
 */
#include <stdio.h>
#include <string.h>

#include "../../gpu/memory_plan.h"
#include "../../harness/config.h"
#include "tiny.h"

static size_t aligned(size_t n) { return (n + GPU_PLAN_ALIGN - 1) / GPU_PLAN_ALIGN * GPU_PLAN_ALIGN; }

static size_t line_bytes(const GpuMemPlan *p, GpuBuf b, int layer, GpuPass pass) {
    const GpuPlanLine *ln = gpu_plan_buf(p, b, layer, pass);
    return ln ? ln->a.bytes : 0;
}

static void check_model(const char *name, size_t params, int qk_norm, int tied) {
    ModelConfig m;
    char path[1024], err[1200];
    if (config_find("models", name, path, sizeof path, err, sizeof err) || config_load_model(path, &m, err, sizeof err)) {
        CHECK(0, "%s", err);
        return;
    }
    CHECK(m.qk_norm == qk_norm && m.tied_embeddings == tied, "%s: qk_norm %d tied %d", name, m.qk_norm,
          m.tied_embeddings);
    int32_t pl[3] = {2048, 2048, 2048}, cl[6] = {512, 512, 512, 512, 512, 512};
    GroupBatch g;
    Layout l;
    CHECK(groups_make(&g, 3, 2, pl, cl, m.vocab, 1) == 0 && layout_build(&l, STRATEGY_PADDED, &g) == 0, "layout");
    const size_t T = l.n_slots, C = (size_t)m.hidden, D = (size_t)m.head_dim;
    const size_t Hq = (size_t)m.n_head, Hkv = (size_t)m.n_kv_head, qk = qk_norm ? 1 : 0;
    const int L = m.layers;
    GpuPlanInput in = {.m = &m, .l = &l, .mode = GPU_PLAN_DEFAULT, .attn_tight = -1};
    const AttnMemoryAsk ask = {ATTN_PREFIX_AUTO, 0, 0}; // the step's defaults
    GpuMemPlan p;
    if (gpu_plan_attn_figures("cudnn", &m, &l, &ask, &in) || gpu_memory_plan(&in, &p, err, sizeof err)) {
        CHECK(0, "%s: plan: %s", name, err);
        return;
    }
    CHECK(line_bytes(&p, GB_WEIGHTS, -1, PASS_NONE) == aligned(2 * params), "%s: weights", name);
    for (int pass = PASS_FWD; pass <= PASS_BWD; pass++) {
        GpuPass ps = (GpuPass)pass;
        CHECK(line_bytes(&p, GB_Q, 3, ps) == aligned(T * Hq * D * 2) && line_bytes(&p, GB_ATT, 3, ps) ==
              aligned(T * Hq * D * 2) && line_bytes(&p, GB_K, 3, ps) == aligned(T * Hkv * D * 2), "%s: q/att/k", name);
        CHECK(line_bytes(&p, GB_LN1, 3, ps) == aligned(T * C * 2), "%s: ln1", name);
        CHECK(line_bytes(&p, GB_QKV, 3, ps) == aligned(T * (Hq + 2 * Hkv) * D * 2), "%s: qkv", name);
        CHECK(line_bytes(&p, GB_QRSTD, 3, ps) == qk * aligned(T * Hq * 4) &&
              line_bytes(&p, GB_KRSTD, 3, ps) == qk * aligned(T * Hkv * 4), "%s: q/k norm lines", name);
    }
    CHECK(line_bytes(&p, GB_DQ, 3, PASS_BWD) == aligned(T * Hq * D * 2), "%s: dq", name);
    CHECK(line_bytes(&p, GB_DQKV, 3, PASS_BWD) == aligned(T * (Hq + 2 * Hkv) * D * 2), "%s: dqkv", name);
    // qkv lives on to the q/k norm's backward (its input) only where the model has the norm
    const GpuPlanLine *qkv = gpu_plan_buf(&p, GB_QKV, 3, PASS_BWD);
    CHECK(qkv && qkv->pass == PASS_BWD && qkv->a.last == gpu_plan_tick_bwd(L, 3, qk ? BWD_QKV_BWD : BWD_QKV),
          "%s: qkv backward line's life", name);
    const GpuPlanLine *gw = gpu_plan_grad(&p, P_WV, 2), *gu = gpu_plan_grad(&p, P_WUP, 2);
    CHECK(gw && gw == gpu_plan_grad(&p, P_WQ, 2) && gw->a.bytes == aligned((Hq + 2 * Hkv) * D * C * 2),
          "%s: one fused q/k/v gradient line", name);
    CHECK(gu && gu == gpu_plan_grad(&p, P_WGATE, 2) && gu->a.bytes == aligned(2 * (size_t)m.mlp * C * 2),
          "%s: one fused gate/up gradient line", name);
    CHECK(line_bytes(&p, GB_NORM_GRAD_ACC, -1, PASS_NONE) ==
          aligned(((2 * (size_t)L + 1) * C + qk * 2 * (size_t)L * D) * 4), "%s: norm accumulators", name);
    const GpuPlanLine *rf = gpu_plan_buf(&p, GB_ROPE_FREQ, -1, PASS_NONE);
    CHECK(rf && rf->a.bytes == aligned(D / 2 * 8) && rf->a.first == 0 && rf->a.last == p.n_ticks - 1,
          "%s: rope table line", name);
    const GpuPlanLine *gq = gpu_plan_grad(&p, P_QNORM, -1), *gb = gpu_plan_grad(&p, P_BQ, 0);
    CHECK(qk ? gq && gq->a.bytes == aligned((size_t)L * D * 2) : !gq, "%s: q_norm gradient line", name);
    CHECK(!gb && !gpu_plan_grad(&p, P_BK, 0), "%s: a bias gradient line without biases", name);
    const GpuPlanLine *ge = gpu_plan_grad(&p, P_EMBED, -1);
    int born = tied ? gpu_plan_tick_loss(L, LOSS_CE) : gpu_plan_tick_embed_bwd(L);
    CHECK(ge && ge->a.first == born && (tied ? !gpu_plan_grad(&p, P_LMHEAD, -1) : gpu_plan_grad(&p, P_LMHEAD, -1) != NULL),
          "%s: embedding / LM head gradient lines", name);
    // selective keeps q, k, v; qkv too only as the q/k norm's input (else its forward line dies at once)
    unsigned char lv[GPU_PLAN_MAX_LAYERS];
    memset(lv, RECOMPUTE_SELECTIVE, (size_t)L);
    GpuRecompute sel;
    gpu_recompute_of_levels(lv, L, &sel);
    GpuPlanInput si = in;
    si.recompute = &sel;
    GpuMemPlan ps;
    if (gpu_memory_plan(&si, &ps, err, sizeof err) == 0) {
        const GpuPlanLine *f = gpu_plan_buf(&ps, GB_QKV, 3, PASS_FWD), *b = gpu_plan_buf(&ps, GB_QKV, 3, PASS_BWD);
        const int last = qk ? gpu_plan_tick_bwd(L, 3, BWD_QKV_BWD) : gpu_plan_tick_fwd(3, FWD_QKV);
        CHECK(f && b == f && f->a.last == last, "%s: selective qkv[3]: forward line to %d, want %d, no backward line",
              name, f ? f->a.last : -1, last);
        CHECK(gpu_plan_keep_bytes(&m, T, 1ull << GB_QKV) == qk * aligned(T * (Hq + 2 * Hkv) * D * 2),
              "%s: kept bytes of qkv", name);
        gpu_memory_plan_free(&ps);
    } else {
        CHECK(0, "%s: selective plan: %s", name, err);
    }
    printf("test_memory_plan_models: %-14s T %zu: planned peak %.3f GB (cuDNN host figures)\n", name, T,
           (double)p.peak / 1e9);
    gpu_memory_plan_free(&p);
    layout_free(&l);
    groups_free(&g);
}

int main(void) {
    check_model("qwen3-0.6b", 596049920u, 1, 1);
    check_model("llama-3.1-8b", 8030261248u, 0, 0);
    return test_finish("test_memory_plan_models");
}
