/*
 * test_memory_plan_models.c: the GPU size table (gpu/memory_plan.c) for the architecture
 * variants, line by line from first principles, on the shipped configs at 2048 x 512 (3 x 2):
 *  - Qwen3-0.6B: tied (weights = 2 bytes x the published 596,049,920 parameters, the embedding
 *    once), head_dim x heads = 2048 != hidden 1024 (q, att, dq lines are T x 2048), the q/k
 *    norm's lines (pre-norm q and k, their fp32 rstd) and its weights' fp32 gradient
 *    accumulators (2 x 28 x 128 beyond the (2L + 1) x C of the other norms);
 *  - Llama-3.1-8B: no biases (8,030,261,248 parameters), no q/k norm lines;
 *  - both: the RoPE frequency table line (D / 2 doubles), and the --list estimate equals the
 *    table with the fused CE scratch computed here.
 */
#include <stdio.h>
#include <string.h>

#include "../../gpu/memory_plan.h"
#include "../../harness/config.h"
#include "tiny.h"


static size_t aligned(size_t n) { return (n + GPU_PLAN_ALIGN - 1) / GPU_PLAN_ALIGN * GPU_PLAN_ALIGN; }
static size_t a256(size_t n) { return (n + 255) / 256 * 256; }

static void check_model(const char *name, size_t params, int qk_norm_expected) {
    ModelConfig m;
    char path[1024], err[1200];
    if (config_find("models", name, path, sizeof path, err, sizeof err) || config_load_model(path, &m, err, sizeof err)) {
        CHECK(0, "%s", err);
        return;
    }
    CHECK(m.qk_norm == qk_norm_expected, "%s: qk_norm %d", name, m.qk_norm);
    int32_t pl[3] = {2048, 2048, 2048}, cl[6] = {512, 512, 512, 512, 512, 512};
    GroupBatch g;
    Layout l;
    CHECK(groups_make(&g, 3, 2, pl, cl, m.vocab, 1) == 0 && layout_build(&l, STRATEGY_PADDED, &g) == 0, "layout");
    const size_t T = l.n_slots, C = (size_t)m.hidden, L = (size_t)m.layers, D = (size_t)m.head_dim;
    const size_t Hq = (size_t)m.n_head, Hkv = (size_t)m.n_kv_head, qk = qk_norm_expected ? 1 : 0;
    GpuMemPlan p;
    size_t total = gpu_memory_plan_estimate(&m, &l, &p);
    size_t ce_rows = l.n_loss < GPU_CE_CHUNK_ROWS ? l.n_loss : GPU_CE_CHUNK_ROWS;
    size_t ce = 2 * a256(ce_rows * C * 2) + a256(ce_rows * (size_t)m.vocab * 2);
    GpuMemPlan q;
    CHECK(total == gpu_memory_plan(&m, &l, 0, 0, ce, &q) && total == q.total, "%s: estimate != table with CE %zu", name, ce);
    CHECK(p.bytes[GB_WEIGHTS] == aligned(2 * params) && p.bytes[GB_GRADS] == p.bytes[GB_WEIGHTS], "%s: weights %zu",
          name, p.bytes[GB_WEIGHTS]);
    CHECK(p.bytes[GB_Q] == aligned(T * Hq * D * 2) && p.bytes[GB_ATT] == p.bytes[GB_Q] && p.bytes[GB_DQ] == p.bytes[GB_Q],
          "%s: q / att / dq lines", name);
    CHECK(p.bytes[GB_K] == aligned(T * Hkv * D * 2) && p.bytes[GB_LN1] == aligned(T * C * 2), "%s: k / ln1", name);
    CHECK(p.bytes[GB_QRAW] == qk * aligned(T * Hq * D * 2) && p.bytes[GB_KRAW] == qk * aligned(T * Hkv * D * 2) &&
          p.bytes[GB_QRSTD] == qk * aligned(T * Hq * 4) && p.bytes[GB_KRSTD] == qk * aligned(T * Hkv * 4),
          "%s: q/k norm lines %zu %zu %zu %zu", name, p.bytes[GB_QRAW], p.bytes[GB_KRAW], p.bytes[GB_QRSTD],
          p.bytes[GB_KRSTD]);
    CHECK(p.bytes[GB_NORM_GRAD_ACC] == aligned(((2 * L + 1) * C + qk * 2 * L * D) * 4), "%s: norm accumulators", name);
    CHECK(p.bytes[GB_ROPE_FREQ] == aligned(D / 2 * 8), "%s: rope table", name);
    printf("test_memory_plan_models: %-14s T %zu: %.3f GB before the attention backend\n", name, T, (double)total / 1e9);
    layout_free(&l);
    groups_free(&g);
}

int main(void) {
    check_model("qwen3-0.6b", 596049920u, 1);
    check_model("llama-3.1-8b", 8030261248u, 0);
    return test_finish("test_memory_plan_models");
}
