/*
 * test_memory_plan.c: the GPU step's size table (gpu/memory_plan.c) on the CPU. It is what makes
 * the step's peak memory known before a cell runs, so it is checked line by line against sizes
 * computed here from first principles, for Qwen2.5-7B at 16384 x 16384 (3 prompts x 2
 * completions) in each layout: totals add up, every line is aligned, the checkpoints and the
 * working buffers scale with the layout's token slots, the MLP and the fused CE work in chunks
 * and share one scratch with the attention backend (as large as the largest user, whichever
 * it is), and the padded total before the attention backend is the 88.0 GB that the H200
 * allocated for that cell before the scratch was shared, less the 1.86 GB MLP chunk that now
 * lives inside the 2.61 GB CE scratch.
 */
#include <stdio.h>
#include <string.h>

#include "../../gpu/memory_plan.h"
#include "../../harness/config.h"
#include "tiny.h"
#include "../test_util.h"



// The fused CE's scratch for a chunk (kernels/cross_entropy.cu): gathered rows, their gradient,
// and the chunk's bf16 logits.
static size_t ce_scratch(size_t rows, size_t C, size_t V) { return 2 * rows * C * 2 + rows * V * 2; }

static size_t aligned(size_t n) { return (n + GPU_PLAN_ALIGN - 1) / GPU_PLAN_ALIGN * GPU_PLAN_ALIGN; }

static void check_layout(const ModelConfig *m, const Layout *l, const char *name) {
    const size_t T = l->n_slots, C = (size_t)m->hidden, L = (size_t)m->layers, F = (size_t)m->mlp;
    const size_t attn = 123456789; // a backend's own figure, taken as it is
    GpuMemPlan p;
    size_t ce_rows = l->n_loss < GPU_CE_CHUNK_ROWS ? l->n_loss : GPU_CE_CHUNK_ROWS;
    const size_t ce = ce_scratch(ce_rows, C, (size_t)m->vocab);
    size_t total = gpu_memory_plan(m, l, attn, 1000, ce, &p);

    size_t sum = 0, model = 0, arena = 0;
    for (int i = 0; i < GB_COUNT; i++) {
        sum += p.bytes[i];
        if (i < GB_FIRST_ARENA) model += p.bytes[i];
        else if (i <= GB_LAST_ARENA) arena += p.bytes[i];
        if (i != GB_ATTENTION) CHECK(p.bytes[i] % GPU_PLAN_ALIGN == 0, "%s: %s not aligned", name, gpu_buf_name((GpuBuf)i));
    }
    CHECK(total == sum && p.total == sum, "%s: total %zu != sum of lines %zu", name, total, sum);
    CHECK(p.model == model && p.arena == arena, "%s: model/arena subtotals", name);
    CHECK(p.bytes[GB_ATTENTION] == attn, "%s: attention bytes changed", name);
    CHECK(p.bytes[GB_WEIGHTS] == aligned(2 * (size_t)7615616512ull), "%s: weights %zu", name, p.bytes[GB_WEIGHTS]);
    CHECK(p.bytes[GB_GRADS] == p.bytes[GB_WEIGHTS], "%s: grads", name);
    CHECK(p.bytes[GB_CHECKPOINTS] == aligned((L + 1) * T * C * 2), "%s: checkpoints", name);
    CHECK(p.bytes[GB_Q] == aligned(T * 3584 * 2) && p.bytes[GB_K] == aligned(T * 512 * 2), "%s: q/k", name);
    CHECK(p.bytes[GB_LSE] == aligned(T * 28 * 4), "%s: lse", name);
    size_t R = T < GPU_MLP_CHUNK_ROWS ? T : GPU_MLP_CHUNK_ROWS;
    CHECK(p.mlp_rows == (int)R && p.mlp_line == aligned(R * F * 2), "%s: MLP chunk", name);
    CHECK(p.ce_bytes == aligned(ce) && p.attn_scratch_bytes == aligned(1000), "%s: scratch users", name);
    // the scratch is the largest of its users, whichever that is
    const size_t mlp3 = 3 * aligned(R * F * 2), big = (size_t)20 << 30;
    CHECK(p.bytes[GB_SCRATCH] == (mlp3 > aligned(ce) ? mlp3 : aligned(ce)), "%s: scratch %zu", name, p.bytes[GB_SCRATCH]);
    GpuMemPlan q;
    gpu_memory_plan(m, l, attn, big, ce, &q);
    CHECK(q.bytes[GB_SCRATCH] == big && q.total == total - p.bytes[GB_SCRATCH] + big, "%s: attention-sized scratch", name);
    gpu_memory_plan(m, l, attn, 0, 0, &q);
    CHECK(q.bytes[GB_SCRATCH] == mlp3, "%s: MLP-sized scratch", name);
    CHECK(p.ce_rows == (int)ce_rows, "%s: CE chunk rows %d", name, p.ce_rows);
    CHECK(p.bytes[GB_LOSS_ROWS] == aligned(l->n_loss * 4), "%s: loss rows", name);
    printf("%-7s slots %6zu  model %.3f GB + arena %.3f GB (+ attention) = %.3f GB without the backend's buffers\n",
           name, T, (double)p.model / 1e9, (double)p.arena / 1e9, (double)(p.total - attn) / 1e9);
}

int main(void) {
    // every buffer has its own name (buf_names is bound to the enumerators)
    for (int i = 0; i < GB_COUNT; i++) {
        CHECK(strcmp(gpu_buf_name((GpuBuf)i), "?") != 0, "buffer %d has no name", i);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(gpu_buf_name((GpuBuf)i), gpu_buf_name((GpuBuf)j)) != 0, "buffers %d and %d share a name", j, i);
    }
    ModelConfig m; // the shipped config: one source of truth for the shape
    char path[1024], err[512];
    if (config_find("models", "qwen2.5-7b", path, sizeof path, err, sizeof err) ||
        config_load_model(path, &m, err, sizeof err)) {
        printf("FAIL: %s\n", err);
        return 1;
    }
    int32_t pl[3] = {16384, 16384, 16384}, cl[6] = {16384, 16384, 16384, 16384, 16384, 16384};
    GroupBatch g;
    CHECK(groups_make(&g, 3, 2, pl, cl, m.vocab, 1) == 0, "groups_make");
    double totals[STRATEGY_COUNT];
    for (int s = 0; s < STRATEGY_COUNT; s++) {
        Layout l;
        CHECK(layout_build(&l, (Strategy)s, &g) == 0, "layout_build");
        check_layout(&m, &l, strategy_name((Strategy)s));
        GpuMemPlan p;
        size_t ce_rows = l.n_loss < GPU_CE_CHUNK_ROWS ? l.n_loss : GPU_CE_CHUNK_ROWS;
        totals[s] = (double)gpu_memory_plan(&m, &l, 0, 0, ce_scratch(ce_rows, 3584, 152064), &p) / 1e9;
        layout_free(&l);
    }
    groups_free(&g);
    // Allocated on the H200 for this cell with the simple attention backend (its own buffers
    // 0.023 GB) before the scratch was shared: 88.004 GB padded and packed, 74.753 GB prefix;
    // sharing saves the MLP chunk, 3 x 16384 x 18944 x 2 bytes = 1.862 GB.
    CHECK(totals[STRATEGY_PADDED] > 87.95 - 1.862 && totals[STRATEGY_PADDED] < 88.0 - 1.862, "padded total %.3f GB",
          totals[STRATEGY_PADDED]);
    CHECK(totals[STRATEGY_PACKED] == totals[STRATEGY_PADDED], "packed total differs from padded (same slots)");
    CHECK(totals[STRATEGY_PREFIX] < totals[STRATEGY_PADDED] - 13.0, "prefix total %.3f GB: the shared prompt saves less than expected",
          totals[STRATEGY_PREFIX]);

    GpuMemPlan none;
    size_t model_only = gpu_memory_plan(&m, NULL, 0, 0, 0, &none);
    CHECK(model_only == none.model && none.arena == 0, "model lines only without a layout");

    printf("test_memory_plan: %d failure(s)\n", failures);
    return failures != 0;
}
