// memory_plan.c: the GPU step's lifetime table and its placement (see memory_plan.h).
#include "memory_plan.h"

#include "../kernels/cross_entropy_scratch.h"
#include "weight_layout.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>


// Each name is bound to its enumerator, so reordering GpuBuf cannot shift them; the assert fails
// when the last enumerator has no name, and test_memory_plan checks that none is missing.
static const char *const buf_names[] = {
    [GB_WEIGHTS] = "weights",
    [GB_MATMUL_WORKSPACE] = "matmul_workspace",
    [GB_ATTN_HELD] = "attention_held",
    [GB_LOSS] = "loss",
    [GB_TOKENS] = "tokens",
    [GB_POS] = "pos",
    [GB_KV_LO] = "kv_lo",
    [GB_SHARED_END] = "shared_end",
    [GB_SEG_LO] = "seg_lo",
    [GB_LOSS_ROWS] = "loss_rows",
    [GB_LOSS_TARGETS] = "loss_targets",
    [GB_LOSS_WEIGHTS] = "loss_weights",
    [GB_EMB_UNIQ_TOK] = "emb_uniq_tok",
    [GB_EMB_UNIQ_OFF] = "emb_uniq_off",
    [GB_EMB_SLOTS] = "emb_slots",
    [GB_ROPE_FREQ] = "rope_freq",
    [GB_CHECKPOINT] = "ckpt",
    [GB_NORM_GRAD_ACC] = "norm_grad_acc",
    [GB_LNF] = "lnf",
    [GB_RSTDF] = "rstdf",
    [GB_DLNF] = "dlnf",
    [GB_CE_SCRATCH] = "ce_scratch",
    [GB_DRES] = "dres",
    [GB_LN1] = "ln1",
    [GB_RSTD1] = "rstd1",
    [GB_QKV] = "qkv",
    [GB_Q] = "q",
    [GB_K] = "k",
    [GB_V] = "v",
    [GB_QRSTD] = "qrstd",
    [GB_KRSTD] = "krstd",
    [GB_ATT] = "att",
    [GB_LSE] = "lse",
    [GB_LN2] = "ln2",
    [GB_RSTD2] = "rstd2",
    [GB_MLP_CHUNK] = "mlp_chunk",
    [GB_ATTN_FWD_SCRATCH] = "attn_fwd_scratch",
    [GB_X1] = "x1",
    [GB_DLN_MLP] = "dln_mlp",
    [GB_DATT] = "datt",
    [GB_DQ] = "dq",
    [GB_DK] = "dk",
    [GB_DV] = "dv",
    [GB_DQKV] = "dqkv",
    [GB_ATTN_BWD_SCRATCH] = "attn_bwd_scratch",
    [GB_DLN_ATT] = "dln_att",
    [GB_GRAD] = "grad",
};
static_assert(sizeof buf_names / sizeof buf_names[0] == GB_COUNT, "every GpuBuf needs a name in buf_names");

static_assert(GB_COUNT <= 64, "GpuRecompute.keep is a 64-bit set of kinds");

uint64_t gpu_recompute_keep(RecomputeLevel lv) {
    const uint64_t sel = (1ull << GB_Q) | (1ull << GB_K) | (1ull << GB_V) | (1ull << GB_QKV) |
                         (1ull << GB_QRSTD) | (1ull << GB_KRSTD) | (1ull << GB_ATT) | (1ull << GB_LSE) | (1ull << GB_X1);
    const uint64_t all = sel | (1ull << GB_LN1) | (1ull << GB_RSTD1) | (1ull << GB_LN2) | (1ull << GB_RSTD2) |
                         (1ull << GB_MLP_CHUNK);
    return lv == RECOMPUTE_NONE ? all : lv == RECOMPUTE_SELECTIVE ? sel : 0;
}

void gpu_recompute_of_levels(const unsigned char *levels, int layers, GpuRecompute *out) {
    memset(out, 0, sizeof *out);
    for (int l = 0; l < layers && l < GPU_PLAN_MAX_LAYERS; l++) out->keep[l] = gpu_recompute_keep((RecomputeLevel)levels[l]);
}

const char *gpu_buf_name(GpuBuf b) { return (b >= 0 && b < GB_COUNT && buf_names[b]) ? buf_names[b] : "?"; }

static size_t align_up(size_t n) { return (n + GPU_PLAN_ALIGN - 1) / GPU_PLAN_ALIGN * GPU_PLAN_ALIGN; }

int gpu_plan_tick_fwd(int l, int sub) { return 1 + l * FWD_STEPS + sub; }
int gpu_plan_tick_loss(int L, int sub) { return 1 + L * FWD_STEPS + sub; }
int gpu_plan_tick_bwd(int L, int l, int sub) { return 1 + L * FWD_STEPS + LOSS_STEPS + (L - 1 - l) * BWD_STEPS + sub; }
int gpu_plan_tick_embed_bwd(int L) { return 1 + L * FWD_STEPS + LOSS_STEPS + L * BWD_STEPS; }

size_t gpu_plan_norm_acc_floats(const ModelConfig *m) {
    return (2 * (size_t)m->layers + 1) * (size_t)m->hidden + (m->qk_norm ? 2 * (size_t)m->layers * m->head_dim : 0);
}

int gpu_plan_balanced_rows(size_t n, int cap) {
    if (n == 0 || cap <= 0) return 0;
    size_t chunks = (n + (size_t)cap - 1) / (size_t)cap;
    return (int)((n + chunks - 1) / chunks);
}

/* ---- the table ------------------------------------------------------------------------- */

// A per-layer working buffer: its size and its live sub-steps in each pass (-1: not in it).
// kept_only: the forward line exists only where the layer keeps the kind (x1: the forward
// otherwise writes it into the next checkpoint, which the MLP then adds into).
typedef struct LayerKind { GpuBuf kind; int fwd_first, fwd_last, bwd_first, bwd_last, kept_only; } LayerKind;

// The step's order (gpu/step_layer.cu): forward ln1 -> q,k,v -> attention -> x1 = x + o-proj, ln2 ->
// MLP chunks; backward: the same recompute, then MLP backward, o-proj gradient, attention
// backward, q/k/v gradients, ln1 backward.
static const LayerKind layer_kinds[] = {
    {GB_LN1, FWD_LN1, FWD_QKV, BWD_LN1, BWD_QKV_BWD, 0},
    {GB_RSTD1, FWD_LN1, FWD_LN1, BWD_LN1, BWD_LN1_BWD, 0},
    // the fused projection's output: read by RoPE and the v copy in the same sub-step; with the
    // q/k norm also by the norm's backward (bwd_last BWD_QKV_BWD then: bwd_last_of)
    {GB_QKV, FWD_QKV, FWD_QKV, BWD_QKV, BWD_QKV, 0},
    {GB_Q, FWD_QKV, FWD_ATTN, BWD_QKV, BWD_ATTN_BWD, 0},
    {GB_K, FWD_QKV, FWD_ATTN, BWD_QKV, BWD_ATTN_BWD, 0},
    {GB_V, FWD_QKV, FWD_ATTN, BWD_QKV, BWD_ATTN_BWD, 0},
    // Qwen3's q/k norm: its rstd, from the projections to the norm's backward
    {GB_QRSTD, FWD_QKV, FWD_QKV, BWD_QKV, BWD_QKV_BWD, 0},
    {GB_KRSTD, FWD_QKV, FWD_QKV, BWD_QKV, BWD_QKV_BWD, 0},
    {GB_ATT, FWD_ATTN, FWD_OPROJ, BWD_ATTN, BWD_ATTN_BWD, 0},
    {GB_LSE, FWD_ATTN, FWD_ATTN, BWD_ATTN, BWD_ATTN_BWD, 0},
    {GB_LN2, FWD_OPROJ, FWD_MLP, BWD_OPROJ, BWD_MLP, 0},
    {GB_RSTD2, FWD_OPROJ, FWD_OPROJ, BWD_OPROJ, BWD_MLP, 0},
    {GB_MLP_CHUNK, FWD_MLP, FWD_MLP, BWD_MLP, BWD_MLP, 0},
    {GB_ATTN_FWD_SCRATCH, FWD_ATTN, FWD_ATTN, BWD_ATTN, BWD_ATTN, 0},
    {GB_X1, FWD_OPROJ, FWD_MLP, BWD_OPROJ, BWD_MLP, 1},
    {GB_DLN_MLP, -1, -1, BWD_MLP, BWD_MLP, 0},
    {GB_DATT, -1, -1, BWD_OGRAD, BWD_ATTN_BWD, 0},
    {GB_DQ, -1, -1, BWD_ATTN_BWD, BWD_QKV_BWD, 0},
    {GB_DK, -1, -1, BWD_ATTN_BWD, BWD_QKV_BWD, 0},
    {GB_DV, -1, -1, BWD_ATTN_BWD, BWD_QKV_BWD, 0},
    {GB_DQKV, -1, -1, BWD_QKV_BWD, BWD_QKV_BWD, 0},
    {GB_ATTN_BWD_SCRATCH, -1, -1, BWD_ATTN_BWD, BWD_ATTN_BWD, 0},
    {GB_DLN_ATT, -1, -1, BWD_QKV_BWD, BWD_LN1_BWD, 0},
};
enum { N_LAYER_KINDS = sizeof layer_kinds / sizeof layer_kinds[0] };

// Where a layer's weight gradient is born in its backward (default mode).
static int grad_birth(ParamId id) {
    switch (id) {
    case P_WGATE: case P_WUP: case P_WDOWN: return BWD_MLP;
    case P_WO: return BWD_OGRAD;
    default: return BWD_QKV_BWD; // q, k, v weights and biases
    }
}

// A kind's last backward sub-step: GB_QKV lives to the q/k norm's backward where the model has it.
static int bwd_last_of(const LayerKind *lk, const ModelConfig *m) {
    return lk->kind == GB_QKV && m->qk_norm ? BWD_QKV_BWD : lk->bwd_last;
}

static int index_of(const GpuMemPlan *p, GpuBuf kind, int layer, GpuPass pass) {
    return ((int)kind * (p->L + 2) + layer + 1) * 3 + (int)pass;
}
static int grad_index_of(const GpuMemPlan *p, int param, int layer) {
    return GB_COUNT * (p->L + 2) * 3 + param * (p->L + 2) + layer + 1;
}

static int add_line(GpuMemPlan *p, GpuBuf kind, int layer, int param, GpuPass pass, size_t bytes, int first,
                    int last) {
    if (p->n_lines == p->cap_lines) {
        int cap = p->cap_lines ? 2 * p->cap_lines : 1024;
        GpuPlanLine *n = realloc(p->lines, (size_t)cap * sizeof *n);
        if (!n) return -1;
        p->lines = n;
        p->cap_lines = cap;
    }
    GpuPlanLine *ln = &p->lines[p->n_lines];
    *ln = (GpuPlanLine){kind, layer, param, pass, {align_up(bytes), first, last, ARENA_ANY, 0}};
    if (kind == GB_CHECKPOINT) ln->a.stack = ARENA_UP;
    // born and then live to the end, like the gradients: dres, the norms' fp32 gradients
    if (kind == GB_GRAD || kind == GB_DRES || kind == GB_NORM_GRAD_ACC) ln->a.stack = ARENA_DOWN;
    p->n_lines++;
    return 0;
}

const GpuPlanLine *gpu_plan_buf(const GpuMemPlan *p, GpuBuf kind, int layer, GpuPass pass) {
    if (kind < 0 || kind >= GB_GRAD || layer < -1 || layer > p->L) return NULL;
    int i = p->index[index_of(p, kind, layer, pass)];
    if (i < 0 && pass == PASS_BWD) i = p->index[index_of(p, kind, layer, PASS_FWD)]; // kept (recompute policy)
    return i < 0 ? NULL : &p->lines[i];
}

const GpuPlanLine *gpu_plan_grad(const GpuMemPlan *p, int param, int layer) {
    if (param < 0 || param >= P_COUNT || layer < -1 || layer >= p->L) return NULL;
    int i = p->index[grad_index_of(p, gpu_weight_group((ParamId)param), layer)];
    return i < 0 ? NULL : &p->lines[i];
}

static size_t layer_kind_bytes(GpuBuf k, const ModelConfig *m, size_t T, const GpuMemPlan *p) {
    const size_t C = (size_t)m->hidden, QD = (size_t)m->n_head * m->head_dim, KVD = (size_t)m->n_kv_head * m->head_dim;
    switch (k) {
    case GB_LN1: case GB_LN2: case GB_X1: case GB_DLN_MLP: case GB_DLN_ATT: return T * C * 2;
    case GB_RSTD1: case GB_RSTD2: return T * 4;
    case GB_Q: case GB_ATT: case GB_DATT: case GB_DQ: return T * QD * 2;
    case GB_K: case GB_V: case GB_DK: case GB_DV: return T * KVD * 2;
    case GB_LSE: return T * (size_t)m->n_head * 4;
    case GB_QKV: case GB_DQKV: return T * (QD + 2 * KVD) * 2;
    case GB_QRSTD: return m->qk_norm ? T * (size_t)m->n_head * 4 : 0;
    case GB_KRSTD: return m->qk_norm ? T * (size_t)m->n_kv_head * 4 : 0;
    case GB_MLP_CHUNK: return 3 * p->mlp_line; // kept: 3 * mlp_full_line (fill_table)
    case GB_ATTN_FWD_SCRATCH: return p->attn.scratch[ATTN_FWD];
    case GB_ATTN_BWD_SCRATCH: return p->attn.scratch[ATTN_BWD];
    default: return 0;
    }
}

size_t gpu_plan_keep_bytes(const ModelConfig *m, size_t T, uint64_t keep) {
    size_t sum = 0;
    for (int k = 0; k < N_LAYER_KINDS; k++) {
        const GpuBuf b = layer_kinds[k].kind;
        if (!((keep >> b) & 1) || layer_kinds[k].fwd_first < 0 || b == GB_ATTN_FWD_SCRATCH) continue;
        if (b == GB_QKV && !m->qk_norm) continue; // kept only as the q/k norm's input (fill_table)
        sum += b == GB_MLP_CHUNK ? 3 * align_up(T * (size_t)m->mlp * 2) : align_up(layer_kind_bytes(b, m, T, NULL));
    }
    return sum;
}

static int fill_table(const GpuPlanInput *in, GpuMemPlan *p) {
    const ModelConfig *m = in->m;
    const Layout *l = in->l;
    const int L = m->layers, last = p->n_ticks - 1;
    const size_t C = (size_t)m->hidden, V = (size_t)m->vocab, T = l->n_slots, real = l->n_real;
    const size_t U = real < V ? real : V;
    const int accum = in->mode == GPU_PLAN_ACCUMULATE;
    int rc = 0;
    // outside the arena, then the layout's inputs: always live
    rc |= add_line(p, GB_WEIGHTS, -1, -1, PASS_NONE, model_param_bytes_bf16(m), 0, last);
    rc |= add_line(p, GB_MATMUL_WORKSPACE, -1, -1, PASS_NONE, GPU_MATMUL_WORKSPACE, 0, last);
    if (p->attn.held) rc |= add_line(p, GB_ATTN_HELD, -1, -1, PASS_NONE, p->attn.held, 0, last);
    rc |= add_line(p, GB_LOSS, -1, -1, PASS_NONE, sizeof(double), 0, last);
    const GpuBuf per_slot[5] = {GB_TOKENS, GB_POS, GB_KV_LO, GB_SHARED_END, GB_SEG_LO};
    for (int i = 0; i < 5; i++) rc |= add_line(p, per_slot[i], -1, -1, PASS_NONE, T * 4, 0, last);
    rc |= add_line(p, GB_LOSS_ROWS, -1, -1, PASS_NONE, l->n_loss * 4, 0, last);
    rc |= add_line(p, GB_LOSS_TARGETS, -1, -1, PASS_NONE, l->n_loss * 4, 0, last);
    rc |= add_line(p, GB_LOSS_WEIGHTS, -1, -1, PASS_NONE, l->n_loss * 4, 0, last);
    rc |= add_line(p, GB_EMB_UNIQ_TOK, -1, -1, PASS_NONE, U * 4, 0, last);
    rc |= add_line(p, GB_EMB_UNIQ_OFF, -1, -1, PASS_NONE, (U + 1) * 4, 0, last);
    rc |= add_line(p, GB_EMB_SLOTS, -1, -1, PASS_NONE, real * 4, 0, last);
    rc |= add_line(p, GB_ROPE_FREQ, -1, -1, PASS_NONE, (size_t)(m->head_dim / 2) * sizeof(double), 0, last);
    // checkpoints: layer l's input is born in layer l-1's forward and dies after layer l's backward
    for (int c = 0; c <= L; c++) {
        int first = c == 0 ? 0 : gpu_plan_tick_fwd(c - 1, FWD_OPROJ);
        int end = c == L ? gpu_plan_tick_loss(L, LOSS_NORM_BWD) : gpu_plan_tick_bwd(L, c, BWD_LN1_BWD);
        rc |= add_line(p, GB_CHECKPOINT, c, -1, PASS_NONE, T * C * 2, first, end);
    }
    const int ce = gpu_plan_tick_loss(L, LOSS_CE), eb = gpu_plan_tick_embed_bwd(L);
    rc |= add_line(p, GB_NORM_GRAD_ACC, -1, -1, PASS_NONE, gpu_plan_norm_acc_floats(m) * 4, ce, eb);
    rc |= add_line(p, GB_LNF, -1, -1, PASS_NONE, T * C * 2, gpu_plan_tick_loss(L, LOSS_NORM), ce);
    rc |= add_line(p, GB_RSTDF, -1, -1, PASS_NONE, T * 4, gpu_plan_tick_loss(L, LOSS_NORM),
                   gpu_plan_tick_loss(L, LOSS_NORM_BWD));
    rc |= add_line(p, GB_DLNF, -1, -1, PASS_NONE, T * C * 2, ce, gpu_plan_tick_loss(L, LOSS_NORM_BWD));
    rc |= add_line(p, GB_CE_SCRATCH, -1, -1, PASS_NONE, ce_scratch_bytes(p->ce_rows, (int)C, (int)V), ce, ce);
    rc |= add_line(p, GB_DRES, -1, -1, PASS_NONE, T * C * 2, ce, eb);
    // per layer and pass
    for (int ly = 0; ly < L; ly++) {
        const uint64_t keep = in->recompute && ly < GPU_PLAN_MAX_LAYERS ? in->recompute->keep[ly] : 0;
        for (int k = 0; k < N_LAYER_KINDS; k++) {
            const LayerKind *lk = &layer_kinds[k];
            int kept = (keep >> lk->kind) & 1 && lk->fwd_first >= 0;
            // a kept MLP holds gate, up and h of every token, not one chunk
            size_t bytes = kept && lk->kind == GB_MLP_CHUNK ? 3 * p->mlp_full_line : layer_kind_bytes(lk->kind, m, T, p);
            // attention kept: the backward runs no attention forward, so lends it no scratch
            if (lk->kind == GB_ATTN_FWD_SCRATCH && (keep >> GB_ATT) & 1) kept = -1;
            // q, k, v kept and no q/k norm: the backward reads nothing of qkv, so it keeps none
            if (lk->kind == GB_QKV && kept && !m->qk_norm) kept = -1;
            const int bwd_last = bwd_last_of(lk, m);
            if (lk->fwd_first >= 0 && (!lk->kept_only || kept == 1)) {
                int end = kept == 1 ? gpu_plan_tick_bwd(L, ly, bwd_last) : gpu_plan_tick_fwd(ly, lk->fwd_last);
                rc |= add_line(p, lk->kind, ly, -1, PASS_FWD, bytes, gpu_plan_tick_fwd(ly, lk->fwd_first), end);
                // kept lines nest like the checkpoints (born layer by layer, dying in reverse): the
                // same bottom stack, so they leave no holes between them
                if (kept == 1 && !rc) p->lines[p->n_lines - 1].a.stack = ARENA_UP;
            }
            if (!kept)
                rc |= add_line(p, lk->kind, ly, -1, PASS_BWD, bytes, gpu_plan_tick_bwd(L, ly, lk->bwd_first),
                               gpu_plan_tick_bwd(L, ly, bwd_last));
        }
    }
    // weight gradients: per-layer slices born in their layer's backward; the rest at the loss
    // (LM head) or at the end (embedding, norms, cast from fp32); all held from 0 when accumulating
    for (int id = 0; id < P_COUNT; id++) {
        size_t sizes[P_COUNT];
        model_param_sizes(m, sizes);
        if (!sizes[id]) continue;
        size_t per_layer = model_param_layer_size(m, (ParamId)id);
        if (per_layer && !model_param_is_norm((ParamId)id)) { // norms: cast from fp32 at the end
            if (gpu_weight_group((ParamId)id) != (ParamId)id) continue; // in its group's line
            per_layer = gpu_weight_group_layer_size(m, (ParamId)id);
            for (int ly = 0; ly < L; ly++)
                rc |= add_line(p, GB_GRAD, ly, id, PASS_NONE, per_layer * 2,
                               accum ? 0 : gpu_plan_tick_bwd(L, ly, grad_birth((ParamId)id)), last);
        } else {
            int birth = id == (int)model_lm_head(m) ? ce : eb;
            rc |= add_line(p, GB_GRAD, -1, id, PASS_NONE, sizes[id] * 2, accum ? 0 : birth, last);
        }
    }
    return rc;
}

void gpu_memory_plan_free(GpuMemPlan *p) {
    free(p->lines);
    free(p->index);
    memset(p, 0, sizeof *p);
}

// The lines' intervals and sizes for the planner (a copy; free() it). NULL: out of host memory,
// the plan freed and err set.
static ArenaBuf *arena_copy(GpuMemPlan *p, char *err, size_t errlen) {
    ArenaBuf *a = malloc((size_t)(p->n_lines ? p->n_lines : 1) * sizeof *a);
    if (!a) {
        gpu_memory_plan_free(p);
        snprintf(err, errlen, "memory plan: out of host memory");
        return NULL;
    }
    for (int i = 0; i < p->n_lines; i++) a[i] = p->lines[i].a;
    return a;
}

// The table of one chunking, not yet placed; p->live_peak set.
static int plan_table(const GpuPlanInput *in, int mlp_rows, int ce_rows, int tight, GpuMemPlan *p, char *err,
                      size_t errlen) {
    memset(p, 0, sizeof *p);
    const ModelConfig *m = in->m;
    if (!m || !in->l || m->layers <= 0 || m->layers > GPU_PLAN_MAX_LAYERS || in->l->n_slots == 0) {
        snprintf(err, errlen, "memory plan: needs a model of 1..%d layers and a non-empty layout", GPU_PLAN_MAX_LAYERS);
        return -1;
    }
    p->L = m->layers;
    p->mode = in->mode;
    p->attn = in->attn[tight];
    p->attn_tight = tight;
    p->mlp_rows = mlp_rows;
    p->ce_rows = ce_rows;
    p->mlp_line = align_up((size_t)mlp_rows * (size_t)m->mlp * 2);
    p->mlp_full_line = align_up(in->l->n_slots * (size_t)m->mlp * 2);
    p->n_uniq_max = in->l->n_real < (size_t)m->vocab ? in->l->n_real : (size_t)m->vocab;
    p->n_ticks = gpu_plan_tick_embed_bwd(p->L) + 1;
    size_t n_index = (size_t)GB_COUNT * (size_t)(p->L + 2) * 3 + (size_t)P_COUNT * (size_t)(p->L + 2);
    p->index = malloc(n_index * sizeof *p->index);
    if (!p->index || fill_table(in, p)) {
        gpu_memory_plan_free(p);
        snprintf(err, errlen, "memory plan: out of host memory");
        return -1;
    }
    for (size_t i = 0; i < n_index; i++) p->index[i] = -1;
    for (int i = 0; i < p->n_lines; i++) {
        const GpuPlanLine *ln = &p->lines[i];
        p->index[ln->kind == GB_GRAD ? grad_index_of(p, ln->param, ln->layer) : index_of(p, ln->kind, ln->layer, ln->pass)] = i;
    }
    ArenaBuf *a = arena_copy(p, err, errlen);
    if (!a) return -1;
    p->live_peak = arena_live_peak(a, p->n_lines, p->n_ticks, &p->peak_tick);
    free(a);
    return 0;
}

static int plan_once(const GpuPlanInput *in, int mlp_rows, int ce_rows, int tight, GpuMemPlan *p, char *err,
                     size_t errlen) {
    if (plan_table(in, mlp_rows, ce_rows, tight, p, err, errlen)) return -1;
    ArenaBuf *a = arena_copy(p, err, errlen);
    if (!a) return -1;
    int bad = -1;
    p->peak = arena_place(a, p->n_lines, p->n_ticks, GPU_PLAN_ALIGN, &bad);
    for (int i = 0; i < p->n_lines; i++) p->lines[i].a = a[i];
    free(a);
    if (!p->peak) {
        char name[64] = "?";
        if (bad >= 0) gpu_plan_line_name(&p->lines[bad], name, sizeof name);
        gpu_memory_plan_free(p);
        snprintf(err, errlen, "memory plan: cannot place %s", name);
        return -1;
    }
    // the outside lines are always live and placed first, in table order: [0, outside)
    p->outside = 0;
    for (int i = 0; i < p->n_lines; i++)
        if (p->lines[i].kind <= GB_ATTN_HELD) p->outside += p->lines[i].a.bytes;
    p->arena = p->peak - p->outside;
    return 0;
}

static int same_attn(const AttnMemory *a, const AttnMemory *b) {
    return a->held == b->held && a->scratch[ATTN_FWD] == b->scratch[ATTN_FWD] && a->scratch[ATTN_BWD] == b->scratch[ATTN_BWD];
}

int gpu_plan_chunks(const GpuPlanInput *in, int *mlp_rows, int *ce_rows, int *attn_tight, char *err, size_t errlen) {
    const Layout *l = in->l;
    size_t best = 0;
    *mlp_rows = *ce_rows = 0;
    *attn_tight = in->attn_tight > 0;
    // the same caps for every layout, so a layout with fewer slots never gets coarser choices;
    // or the one cap asked for
    const int fixed_cap = in->mlp_cap;
    int mlp[3], ce[3], n_mlp = 0, n_ce = 0;
    const size_t full_chunks = (l->n_slots + GPU_MLP_CHUNK_MAX - 1) / GPU_MLP_CHUNK_MAX;
    for (int i = 0; i < (fixed_cap > 0 ? 1 : 3); i++) {
        const int cap = fixed_cap > 0 ? fixed_cap : GPU_MLP_CHUNK_MAX >> i;
        if (fixed_cap <= 0 && i > 0 && (l->n_slots + (size_t)cap - 1) / (size_t)cap > GPU_MLP_CHUNKS_GROWTH * full_chunks)
            break; // smaller caps only while the chunk count stays within the bound (memory_plan.h)
        int mr = gpu_plan_balanced_rows(l->n_slots, cap);
        if (!n_mlp || mr != mlp[n_mlp - 1]) mlp[n_mlp++] = mr;
    }
    for (int j = 0; j < 3; j++) {
        int cr = l->n_loss ? gpu_plan_balanced_rows(l->n_loss, GPU_CE_CHUNK_MAX >> j) : 1;
        if (!n_ce || cr != ce[n_ce - 1]) ce[n_ce++] = cr;
    }
    GpuPlanInput d = *in;
    d.mode = GPU_PLAN_DEFAULT;
    for (int tight = 0; tight < ATTN_TIGHT_LEVELS; tight++) {
        if (in->attn_tight >= 0 && tight != in->attn_tight) continue;
        if (in->attn_tight < 0 && tight > 0 && same_attn(&in->attn[tight], &in->attn[tight - 1])) continue; // same plan
        for (int i = 0; i < n_mlp; i++)
            for (int j = 0; j < n_ce; j++) {
                GpuMemPlan p; // the live peak is what the placement reaches (tested), and is cheap
                if (plan_table(&d, mlp[i], ce[j], tight, &p, err, errlen)) return -1;
                // the lowest peak; ties to the larger chunks and the fewer parts (tried first)
                if (!best || p.live_peak < best) {
                    best = p.live_peak;
                    *mlp_rows = mlp[i], *ce_rows = ce[j], *attn_tight = tight;
                }
                gpu_memory_plan_free(&p);
            }
    }
    return 0;
}

int gpu_plan_attn_figures(const char *backend, const ModelConfig *m, const Layout *l, const AttnMemoryAsk *ask,
                          GpuPlanInput *in) {
    const AttnShape sh = {m->n_head, m->n_kv_head, m->head_dim};
    for (int tight = 0; tight < ATTN_TIGHT_LEVELS; tight++) {
        AttnMemoryAsk a = {ask->prefix, tight, ask->padded_part_rows};
        if (attn_memory(backend, &sh, l, &a, &in->attn[tight])) return -1;
    }
    return 0;
}

int gpu_memory_plan(const GpuPlanInput *in, GpuMemPlan *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (!in->m || !in->l) {
        snprintf(err, errlen, "memory plan: no model or layout");
        return -1;
    }
    int mr = in->mlp_rows, cr = in->ce_rows, tight = in->attn_tight;
    if ((mr <= 0 || cr <= 0 || tight < 0) && gpu_plan_chunks(in, &mr, &cr, &tight, err, errlen)) return -1;
    return plan_once(in, mr, cr, tight, out, err, errlen);
}

/* ---- names and printing ---------------------------------------------------------------- */

void gpu_plan_line_name(const GpuPlanLine *ln, char *buf, size_t len) {
    if (ln->kind == GB_GRAD) {
        if (ln->layer >= 0) snprintf(buf, len, "grad %s[%d]", gpu_weight_group_name((ParamId)ln->param), ln->layer);
        else snprintf(buf, len, "grad %s", model_param_name((ParamId)ln->param));
    } else if (ln->pass != PASS_NONE) {
        snprintf(buf, len, "%s %s[%d]", gpu_buf_name(ln->kind), ln->pass == PASS_FWD ? "fwd" : "bwd", ln->layer);
    } else if (ln->layer >= 0) {
        snprintf(buf, len, "%s[%d]", gpu_buf_name(ln->kind), ln->layer);
    } else {
        snprintf(buf, len, "%s", gpu_buf_name(ln->kind));
    }
}

void gpu_plan_tick_name(const GpuMemPlan *p, int t, char *buf, size_t len) {
    static const char *const fwd[FWD_STEPS] = {"ln1", "q/k/v", "attention", "o-proj + ln2", "MLP"};
    static const char *const bwd[BWD_STEPS] = {"recompute ln1", "recompute q/k/v", "recompute attention",
                                               "recompute o-proj + ln2", "MLP backward", "o-proj backward",
                                               "attention backward", "q/k/v backward", "ln1 backward"};
    static const char *const loss[LOSS_STEPS] = {"final norm", "fused cross-entropy", "final norm backward"};
    const int L = p->L;
    if (t <= 0) snprintf(buf, len, "embedding");
    else if (t < gpu_plan_tick_loss(L, 0)) snprintf(buf, len, "forward of layer %d, %s", (t - 1) / FWD_STEPS, fwd[(t - 1) % FWD_STEPS]);
    else if (t < gpu_plan_tick_bwd(L, L - 1, 0)) snprintf(buf, len, "loss, %s", loss[t - gpu_plan_tick_loss(L, 0)]);
    else if (t < gpu_plan_tick_embed_bwd(L)) {
        int i = t - gpu_plan_tick_bwd(L, L - 1, 0);
        snprintf(buf, len, "backward of layer %d, %s", L - 1 - i / BWD_STEPS, bwd[i % BWD_STEPS]);
    } else snprintf(buf, len, "embedding backward");
}

static int by_bytes_desc(const void *a, const void *b) {
    const GpuPlanLine *x = *(const GpuPlanLine *const *)a, *y = *(const GpuPlanLine *const *)b;
    return x->a.bytes < y->a.bytes ? 1 : x->a.bytes > y->a.bytes ? -1 : 0;
}

void gpu_memory_plan_print(const GpuMemPlan *p, int n_largest, FILE *f) {
    char tick[96];
    gpu_plan_tick_name(p, p->peak_tick, tick, sizeof tick);
    char parts[32] = "few";
    if (p->attn_tight) snprintf(parts, sizeof parts, "tight (level %d)", p->attn_tight);
    fprintf(f, "  peak %.3f GB (%s), arena %.3f GB + outside %.3f GB; live at the peak %.3f GB; "
            "MLP chunk %d rows, CE chunk %d rows, attention parts %s\n", (double)p->peak / 1e9,
            p->mode == GPU_PLAN_ACCUMULATE ? "gradients held" : "no gradients held", (double)p->arena / 1e9,
            (double)p->outside / 1e9, (double)p->live_peak / 1e9, p->mlp_rows, p->ce_rows, parts);
    fprintf(f, "  peak at: %s\n", tick);
    const GpuPlanLine **live = malloc((size_t)p->n_lines * sizeof *live);
    if (!live) return;
    int n = 0;
    size_t grads = 0, ckpts = 0;
    int n_grads = 0, n_ckpts = 0;
    for (int i = 0; i < p->n_lines; i++) {
        const GpuPlanLine *ln = &p->lines[i];
        if (ln->a.first > p->peak_tick || ln->a.last < p->peak_tick || !ln->a.bytes) continue;
        if (ln->kind == GB_GRAD) { grads += ln->a.bytes; n_grads++; continue; }
        if (ln->kind == GB_CHECKPOINT) { ckpts += ln->a.bytes; n_ckpts++; continue; }
        live[n++] = ln;
    }
    qsort(live, (size_t)n, sizeof *live, by_bytes_desc);
    char what[64];
    snprintf(what, sizeof what, "gradients (%d lines)", n_grads);
    fprintf(f, "    %-28s %10.3f GB\n", what, (double)grads / 1e9);
    snprintf(what, sizeof what, "checkpoints (%d)", n_ckpts);
    fprintf(f, "    %-28s %10.3f GB\n", what, (double)ckpts / 1e9);
    for (int i = 0; i < n && i < n_largest; i++) {
        char name[64];
        gpu_plan_line_name(live[i], name, sizeof name);
        fprintf(f, "    %-28s %10.3f GB\n", name, (double)live[i]->a.bytes / 1e9);
    }
    free(live);
}
