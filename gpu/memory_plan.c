// memory_plan.c: the GPU step's size table (see memory_plan.h). Plain host C: builds without CUDA.
#include "memory_plan.h"

#include <assert.h>

// Each name is bound to its enumerator, so reordering GpuBuf cannot shift them; the assert fails
// when the last enumerator has no name, and test_memory_plan checks that none is missing.
static const char *const buf_names[] = {
    [GB_WEIGHTS] = "weights",
    [GB_GRADS] = "grads",
    [GB_NORM_GRAD_ACC] = "norm_grad_acc",
    [GB_LOSS] = "loss",
    [GB_MATMUL_WORKSPACE] = "matmul_workspace",
    [GB_TOKENS] = "tokens",
    [GB_POS] = "pos",
    [GB_KV_LO] = "kv_lo",
    [GB_SHARED_END] = "shared_end",
    [GB_SEG_LO] = "seg_lo",
    [GB_LOSS_ROWS] = "loss_rows",
    [GB_LOSS_TARGETS] = "loss_targets",
    [GB_EMB_UNIQ_TOK] = "emb_uniq_tok",
    [GB_EMB_UNIQ_OFF] = "emb_uniq_off",
    [GB_EMB_SLOTS] = "emb_slots",
    [GB_CHECKPOINTS] = "checkpoints",
    [GB_LN1] = "ln1",
    [GB_RSTD1] = "rstd1",
    [GB_Q] = "q",
    [GB_K] = "k",
    [GB_V] = "v",
    [GB_ATT] = "att",
    [GB_LSE] = "lse",
    [GB_LN2] = "ln2",
    [GB_RSTD2] = "rstd2",
    [GB_DRES] = "dres",
    [GB_DLN] = "dln",
    [GB_DATT] = "datt",
    [GB_DQ] = "dq",
    [GB_DK] = "dk",
    [GB_DV] = "dv",
    [GB_ATTENTION] = "attention",
    [GB_SCRATCH] = "scratch",
};
static_assert(sizeof buf_names / sizeof buf_names[0] == GB_COUNT, "every GpuBuf needs a name in buf_names");

const char *gpu_buf_name(GpuBuf b) { return (b >= 0 && b < GB_COUNT && buf_names[b]) ? buf_names[b] : "?"; }

static size_t align_up(size_t n) { return (n + GPU_PLAN_ALIGN - 1) / GPU_PLAN_ALIGN * GPU_PLAN_ALIGN; }

int gpu_plan_mlp_rows(const Layout *l) {
    if (!l || l->n_slots == 0) return 0;
    return l->n_slots < GPU_MLP_CHUNK_ROWS ? (int)l->n_slots : GPU_MLP_CHUNK_ROWS;
}

int gpu_plan_ce_rows(const Layout *l) {
    if (!l || l->n_loss == 0) return 1;
    return l->n_loss < GPU_CE_CHUNK_ROWS ? (int)l->n_loss : GPU_CE_CHUNK_ROWS;
}

size_t gpu_memory_plan(const ModelConfig *m, const Layout *l, size_t attn_bytes, size_t attn_scratch_bytes,
                       size_t ce_scratch_bytes, GpuMemPlan *out) {
    size_t *b = out->bytes;
    for (int i = 0; i < GB_COUNT; i++) b[i] = 0;
    const size_t C = (size_t)m->hidden, L = (size_t)m->layers, F = (size_t)m->mlp, V = (size_t)m->vocab;
    const size_t QD = (size_t)m->n_head * m->head_dim, KVD = (size_t)m->n_kv_head * m->head_dim;
    const size_t bf = 2, i32 = 4, f32 = 4;

    b[GB_WEIGHTS] = model_param_bytes_bf16(m);
    b[GB_GRADS] = model_param_bytes_bf16(m);
    b[GB_NORM_GRAD_ACC] = (2 * L + 1) * C * f32;
    b[GB_LOSS] = sizeof(double);
    b[GB_MATMUL_WORKSPACE] = GPU_MATMUL_WORKSPACE;

    out->mlp_rows = gpu_plan_mlp_rows(l);
    out->ce_rows = gpu_plan_ce_rows(l);
    out->n_uniq_max = 0;
    out->mlp_line = out->ce_bytes = out->attn_scratch_bytes = 0;
    if (l) {
        const size_t T = l->n_slots, R = (size_t)out->mlp_rows, real = l->n_real;
        const size_t U = real < V ? real : V;
        out->n_uniq_max = U;
        b[GB_TOKENS] = b[GB_POS] = b[GB_KV_LO] = b[GB_SHARED_END] = b[GB_SEG_LO] = T * i32;
        b[GB_LOSS_ROWS] = b[GB_LOSS_TARGETS] = l->n_loss * i32;
        b[GB_EMB_UNIQ_TOK] = U * i32;
        b[GB_EMB_UNIQ_OFF] = (U + 1) * i32;
        b[GB_EMB_SLOTS] = real * i32;
        b[GB_CHECKPOINTS] = (L + 1) * T * C * bf;
        b[GB_LN1] = b[GB_LN2] = b[GB_DRES] = b[GB_DLN] = T * C * bf;
        b[GB_RSTD1] = b[GB_RSTD2] = T * f32;
        b[GB_Q] = b[GB_ATT] = b[GB_DATT] = b[GB_DQ] = T * QD * bf;
        b[GB_K] = b[GB_V] = b[GB_DK] = b[GB_DV] = T * KVD * bf;
        b[GB_LSE] = T * (size_t)m->n_head * f32;
        b[GB_ATTENTION] = attn_bytes;
        out->mlp_line = align_up(R * F * bf);
        out->ce_bytes = align_up(ce_scratch_bytes);
        out->attn_scratch_bytes = align_up(attn_scratch_bytes);
        size_t scratch = 3 * out->mlp_line;
        if (out->ce_bytes > scratch) scratch = out->ce_bytes;
        if (out->attn_scratch_bytes > scratch) scratch = out->attn_scratch_bytes;
        b[GB_SCRATCH] = scratch;
    }
    out->model = out->arena = out->total = 0;
    for (int i = 0; i < GB_COUNT; i++) {
        if (i != GB_ATTENTION) b[i] = align_up(b[i]); // the backend's figure is its own
        if (i < GB_FIRST_ARENA) out->model += b[i];
        else if (i <= GB_LAST_ARENA) out->arena += b[i];
        out->total += b[i];
    }
    return out->total;
}
