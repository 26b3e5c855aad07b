/*
 * cpu_step.c: the whole unit of work in fp32 on the CPU (DESIGN.md section 2), the oracle of the
 * GPU step and the ground of the strategy-equality test. The variants of model.h: q, k, v biases
 * where the table has them; Qwen3's q/k norm between the projections and RoPE (its inputs and
 * rstd kept for backward); RoPE from model_rope_inv_freq (Llama 3 scaling included); a tied LM
 * head's gradient is the embedding's, so the CE and the embedding backward both add into it.
 *
 * Activations are carved out of one allocation from a size table (llm.c style), so their bytes
 * are known exactly (cpu_step_activation_bytes) and the table depends on the recompute policy:
 * the residual stream (every layer's input, and the last layer's output) is always kept; the
 * per-layer intermediates (LayerActs) follow each layer's RecomputeLevel (model/recompute.h):
 * a layer at none keeps its own set; full uses one shared scratch set, recomputed from the
 * layer's input in backward; selective keeps q, k, v (and the q/k norm's inputs and rstd), att,
 * lse and res2 (x1) in its own set and puts ln1, ln2, their rstd, gate, up and h in the scratch,
 * recomputing them in backward (ln2 from the kept res2). Before any recompute the scratch is
 * filled with NaN, so a part the path forgets to recompute shows in the gradients. The same
 * functions run either way, so every policy gives bit-identical results.
 */
#include "cpu_step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"
#include "../model/recompute.h"

// One layer's intermediates; T token slots.
typedef struct LayerActs {
    float *ln1;   // (T, C)
    float *rstd1; // (T)
    float *qraw;  // (T, Hq, D) q projection before the q/k norm (qk_norm only; else 0 floats)
    float *kraw;  // (T, Hkv, D) (qk_norm only)
    float *qrstd; // (T, Hq) (qk_norm only)
    float *krstd; // (T, Hkv) (qk_norm only)
    float *q;     // (T, Hq, D) after the q/k norm and RoPE
    float *k;     // (T, Hkv, D) after the q/k norm and RoPE
    float *v;     // (T, Hkv, D)
    float *att;   // (T, Hq, D)
    float *lse;   // (T, Hq)
    float *res2;  // (T, C) residual after attention
    float *ln2;   // (T, C)
    float *rstd2; // (T)
    float *gate;  // (T, F)
    float *up;    // (T, F)
    float *h;     // (T, F) silu(gate) * up
} LayerActs;
enum { LA_COUNT = 17 };

// Backward scratch, shared by all layers.
typedef struct GradActs {
    float *dres;  // (T, C) gradient of the current layer's output, then of its input
    float *dres2; // (T, C)
    float *dln;   // (T, C)
    float *dtmp;  // (T, C)
    float *dh;    // (T, F)
    float *dgate; // (T, F)
    float *dup;   // (T, F)
    float *datt;  // (T, Hq, D)
    float *dq;    // (T, Hq, D)
    float *dk;    // (T, Hkv, D)
    float *dv;    // (T, Hkv, D)
    float *dqraw; // (T, Hq, D) (qk_norm only)
    float *dkraw; // (T, Hkv, D) (qk_norm only)
} GradActs;
enum { GA_COUNT = 13 };

static void layer_acts_sizes(const ModelConfig *m, size_t T, size_t s[LA_COUNT]) {
    size_t C = (size_t)m->hidden, F = (size_t)m->mlp, Q = (size_t)m->n_head * m->head_dim,
           KV = (size_t)m->n_kv_head * m->head_dim;
    size_t n = m->qk_norm ? 1 : 0, Hq = (size_t)m->n_head, Hkv = (size_t)m->n_kv_head;
    size_t v[LA_COUNT] = {T * C, T, n * T * Q, n * T * KV, n * T * Hq, n * T * Hkv, T * Q, T * KV, T * KV, T * Q,
                          T * Hq, T * C, T * C, T, T * F, T * F, T * F};
    memcpy(s, v, sizeof v);
}

static void grad_acts_sizes(const ModelConfig *m, size_t T, size_t s[GA_COUNT]) {
    size_t C = (size_t)m->hidden, F = (size_t)m->mlp, Q = (size_t)m->n_head * m->head_dim,
           KV = (size_t)m->n_kv_head * m->head_dim;
    size_t n = m->qk_norm ? 1 : 0;
    size_t v[GA_COUNT] = {T * C, T * C, T * C, T * C, T * F, T * F, T * F, T * Q, T * Q, T * KV, T * KV,
                          n * T * Q, n * T * KV};
    memcpy(s, v, sizeof v);
}

static size_t sum_sizes(const size_t *s, int n) {
    size_t t = 0;
    for (int i = 0; i < n; i++) t += s[i];
    return t;
}

// LayerActs sets: one per layer not at full, and the shared scratch unless every layer is at none.
static size_t act_sets(const ModelConfig *m, const unsigned char *levels) {
    size_t own = 0, scratch = 0;
    for (int i = 0; i < m->layers; i++) {
        own += levels[i] != RECOMPUTE_FULL;
        scratch |= levels[i] != RECOMPUTE_NONE;
    }
    return own + scratch;
}

// Floats of the whole table: residual stream (L+1)(T, C), final norm (T, C) + (T),
// LayerActs x act_sets, and GradActs when backward runs.
static size_t step_floats(const ModelConfig *m, size_t T, const unsigned char *levels, int backward) {
    size_t la[LA_COUNT], ga[GA_COUNT], C = (size_t)m->hidden;
    layer_acts_sizes(m, T, la);
    grad_acts_sizes(m, T, ga);
    size_t n = ((size_t)m->layers + 1) * T * C + T * C + T;
    n += act_sets(m, levels) * sum_sizes(la, LA_COUNT);
    if (backward) n += sum_sizes(ga, GA_COUNT);
    return n;
}

size_t cpu_step_activation_bytes_levels(const ModelConfig *m, const Layout *l, const unsigned char *levels) {
    // + the cross-entropy's logits buffer (V + C doubles)
    return step_floats(m, l->n_slots, levels, 1) * sizeof(float) + ((size_t)m->vocab + (size_t)m->hidden) * sizeof(double);
}

size_t cpu_step_activation_bytes(const ModelConfig *m, const Layout *l, int checkpoint) {
    unsigned char lv[PB_MODEL_MAX_LAYERS];
    memset(lv, checkpoint ? RECOMPUTE_FULL : RECOMPUTE_NONE, (size_t)m->layers);
    return cpu_step_activation_bytes_levels(m, l, lv);
}

static float *carve_layer(LayerActs *a, float *p, const size_t s[LA_COUNT]) {
    float **f[LA_COUNT] = {&a->ln1, &a->rstd1, &a->qraw, &a->kraw, &a->qrstd, &a->krstd, &a->q, &a->k, &a->v,
                           &a->att, &a->lse, &a->res2, &a->ln2, &a->rstd2, &a->gate, &a->up, &a->h};
    for (int i = 0; i < LA_COUNT; i++) { *f[i] = p; p += s[i]; }
    return p;
}

static float *carve_grads(GradActs *g, float *p, const size_t s[GA_COUNT]) {
    float **f[GA_COUNT] = {&g->dres, &g->dres2, &g->dln, &g->dtmp, &g->dh, &g->dgate, &g->dup, &g->datt,
                           &g->dq, &g->dk, &g->dv, &g->dqraw, &g->dkraw};
    for (int i = 0; i < GA_COUNT; i++) { *f[i] = p; p += s[i]; }
    return p;
}

// Pointers to layer l's slice of every per-layer tensor of a flat parameter (or gradient) buffer;
// NULL for a tensor the variant lacks (biases, q/k norms).
typedef struct LayerParams {
    float *ln1, *wq, *bq, *wk, *bk, *wv, *bv, *qnorm, *knorm, *wo, *ln2, *wgate, *wup, *wdown;
} LayerParams;

static LayerParams layer_params(const ModelConfig *m, const float *base, int layer) {
    float *b = (float *)base;
    LayerParams p = {
        model_layer_tensor(m, b, P_LN1, layer),   model_layer_tensor(m, b, P_WQ, layer),
        model_layer_tensor(m, b, P_BQ, layer),    model_layer_tensor(m, b, P_WK, layer),
        model_layer_tensor(m, b, P_BK, layer),    model_layer_tensor(m, b, P_WV, layer),
        model_layer_tensor(m, b, P_BV, layer),    model_layer_tensor(m, b, P_QNORM, layer),
        model_layer_tensor(m, b, P_KNORM, layer), model_layer_tensor(m, b, P_WO, layer),
        model_layer_tensor(m, b, P_LN2, layer),   model_layer_tensor(m, b, P_WGATE, layer),
        model_layer_tensor(m, b, P_WUP, layer),   model_layer_tensor(m, b, P_WDOWN, layer),
    };
    return p;
}

// ln1 = rmsnorm(inp) (and rstd1).
static void norm1_forward(const ModelConfig *m, const LayerParams *p, LayerActs *a, const float *inp, size_t T) {
    cpu_rmsnorm_forward(a->ln1, a->rstd1, inp, p->ln1, T, m->hidden, m->rms_eps);
}

// q, k, v (q/k norm, RoPE), attention, res2 = inp + att Wo^T: the parts selective keeps.
static void attention_forward(const ModelConfig *m, const LayerParams *p, LayerActs *a, const float *inp,
                              const Layout *l, const double *inv_freq) {
    size_t T = l->n_slots, C = (size_t)m->hidden;
    int Hq = m->n_head, Hkv = m->n_kv_head, D = m->head_dim, Q = Hq * D, KV = Hkv * D;
    cpu_linear_forward(m->qk_norm ? a->qraw : a->q, a->ln1, p->wq, p->bq, T, (int)C, Q);
    cpu_linear_forward(m->qk_norm ? a->kraw : a->k, a->ln1, p->wk, p->bk, T, (int)C, KV);
    cpu_linear_forward(a->v, a->ln1, p->wv, p->bv, T, (int)C, KV);
    if (m->qk_norm) {
        cpu_head_rmsnorm_forward(a->q, a->qrstd, a->qraw, p->qnorm, T, Hq, D, m->rms_eps);
        cpu_head_rmsnorm_forward(a->k, a->krstd, a->kraw, p->knorm, T, Hkv, D, m->rms_eps);
    }
    cpu_rope_forward(a->q, l->pos, T, Hq, D, inv_freq);
    cpu_rope_forward(a->k, l->pos, T, Hkv, D, inv_freq);
    cpu_attention_forward(a->att, a->lse, a->q, a->k, a->v, l, Hq, Hkv, D);
    cpu_linear_forward(a->res2, a->att, p->wo, NULL, T, Q, (int)C);
    for (size_t i = 0; i < T * C; i++) a->res2[i] += inp[i];
}

// ln2 = rmsnorm(res2), gate, up, h = silu(gate) * up.
static void mlp_inner_forward(const ModelConfig *m, const LayerParams *p, LayerActs *a, size_t T) {
    size_t C = (size_t)m->hidden, F = (size_t)m->mlp;
    cpu_rmsnorm_forward(a->ln2, a->rstd2, a->res2, p->ln2, T, (int)C, m->rms_eps);
    cpu_linear_forward(a->gate, a->ln2, p->wgate, NULL, T, (int)C, (int)F);
    cpu_linear_forward(a->up, a->ln2, p->wup, NULL, T, (int)C, (int)F);
    cpu_swiglu_forward(a->h, a->gate, a->up, T * F);
}

// out (T, C) = layer(inp); intermediates into a.
static void layer_forward(const ModelConfig *m, const LayerParams *p, LayerActs *a, float *out,
                          const float *inp, const Layout *l, const double *inv_freq) {
    size_t T = l->n_slots, C = (size_t)m->hidden, F = (size_t)m->mlp;
    norm1_forward(m, p, a, inp, T);
    attention_forward(m, p, a, inp, l, inv_freq);
    mlp_inner_forward(m, p, a, T);
    cpu_linear_forward(out, a->h, p->wdown, NULL, T, (int)F, (int)C);
    for (size_t i = 0; i < T * C; i++) out[i] += a->res2[i];
}

// A layer's intermediates at its level: none all in its own set, full all in the scratch,
// selective the kept ones (q, k, v, their q/k norm parts, att, lse, res2) own, the rest scratch.
static LayerActs layer_view(const LayerActs *own, const LayerActs *scratch, RecomputeLevel lv) {
    if (lv == RECOMPUTE_NONE) return *own;
    LayerActs a = *scratch;
    if (lv == RECOMPUTE_SELECTIVE) {
        a.qraw = own->qraw, a.kraw = own->kraw, a.qrstd = own->qrstd, a.krstd = own->krstd;
        a.q = own->q, a.k = own->k, a.v = own->v, a.att = own->att, a.lse = own->lse, a.res2 = own->res2;
    }
    return a;
}

static void fill_nan(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = NAN;
}

// On entry g->dres holds d(loss)/d(layer output); on return d(loss)/d(layer input).
static void layer_backward(const ModelConfig *m, const LayerParams *p, LayerParams *dp, const LayerActs *a,
                           GradActs *g, const float *inp, const Layout *l, const double *inv_freq) {
    size_t T = l->n_slots, C = (size_t)m->hidden, F = (size_t)m->mlp, TC = T * C;
    int Hq = m->n_head, Hkv = m->n_kv_head, D = m->head_dim, Q = Hq * D, KV = Hkv * D;
    // out = res2 + h Wdown^T
    memcpy(g->dres2, g->dres, TC * sizeof(float));
    cpu_linear_backward(g->dh, dp->wdown, NULL, g->dres, a->h, p->wdown, T, (int)F, (int)C);
    cpu_swiglu_backward(g->dgate, g->dup, g->dh, a->gate, a->up, T * F);
    cpu_linear_backward(g->dln, dp->wup, NULL, g->dup, a->ln2, p->wup, T, (int)C, (int)F);
    cpu_linear_backward(g->dtmp, dp->wgate, NULL, g->dgate, a->ln2, p->wgate, T, (int)C, (int)F);
    for (size_t i = 0; i < TC; i++) g->dln[i] += g->dtmp[i];
    cpu_rmsnorm_backward(g->dres2, dp->ln2, g->dln, a->res2, p->ln2, a->rstd2, T, (int)C);
    // res2 = inp + att Wo^T
    memcpy(g->dres, g->dres2, TC * sizeof(float));
    cpu_linear_backward(g->datt, dp->wo, NULL, g->dres2, a->att, p->wo, T, Q, (int)C);
    cpu_attention_backward(g->dq, g->dk, g->dv, g->datt, a->q, a->k, a->v, a->att, a->lse, l, Hq, Hkv, D);
    cpu_rope_backward(g->dq, l->pos, T, Hq, D, inv_freq);
    cpu_rope_backward(g->dk, l->pos, T, Hkv, D, inv_freq);
    float *dq = g->dq, *dk = g->dk; // gradients of the q and k projections' outputs
    if (m->qk_norm) {
        cpu_head_rmsnorm_backward(g->dqraw, dp->qnorm, g->dq, a->qraw, p->qnorm, a->qrstd, T, Hq, D);
        cpu_head_rmsnorm_backward(g->dkraw, dp->knorm, g->dk, a->kraw, p->knorm, a->krstd, T, Hkv, D);
        dq = g->dqraw;
        dk = g->dkraw;
    }
    cpu_linear_backward(g->dln, dp->wq, dp->bq, dq, a->ln1, p->wq, T, (int)C, Q);
    cpu_linear_backward(g->dtmp, dp->wk, dp->bk, dk, a->ln1, p->wk, T, (int)C, KV);
    for (size_t i = 0; i < TC; i++) g->dln[i] += g->dtmp[i];
    cpu_linear_backward(g->dtmp, dp->wv, dp->bv, g->dv, a->ln1, p->wv, T, (int)C, KV);
    for (size_t i = 0; i < TC; i++) g->dln[i] += g->dtmp[i];
    cpu_rmsnorm_backward(g->dres, dp->ln1, g->dln, inp, p->ln1, a->rstd1, T, (int)C);
}

// Forward (and backward when grads != NULL) over one allocation from the size table; levels[L]
// per layer (forward only: every layer full, one set of intermediates is enough).
static double step_run(const ModelConfig *m, const float *params, float *grads, const Layout *l,
                       const unsigned char *levels_in) {
    size_t T = l->n_slots, C = (size_t)m->hidden, TC = T * C, L = (size_t)m->layers;
    int backward = grads != NULL;
    unsigned char levels[PB_MODEL_MAX_LAYERS];
    for (size_t i = 0; i < L; i++) {
        levels[i] = backward ? levels_in[i] : RECOMPUTE_FULL;
        if (levels[i] >= RECOMPUTE_LEVELS) return NAN;
    }
    float *mem = malloc(step_floats(m, T, levels, backward) * sizeof(float));
    if (!mem) return NAN;
    size_t la[LA_COUNT], ga[GA_COUNT], off[P_COUNT];
    layer_acts_sizes(m, T, la);
    grad_acts_sizes(m, T, ga);
    model_param_offsets(m, off);

    float *resid = mem;               // (L+1, T, C): input of layer i at resid + i*TC
    float *lnf = resid + (L + 1) * TC; // (T, C)
    float *rstdf = lnf + TC;           // (T)
    float *p = rstdf + T;
    size_t n_acts = act_sets(m, levels);
    LayerActs *acts = malloc((n_acts ? n_acts : 1) * sizeof *acts), scratch = {0};
    int *own = malloc(L * sizeof *own); // layer -> its own set (-1: full)
    if (!acts || !own) { free(acts); free(own); free(mem); return NAN; }
    size_t next = 0;
    for (size_t i = 0; i < L; i++) {
        own[i] = levels[i] == RECOMPUTE_FULL ? -1 : (int)next;
        if (own[i] >= 0) p = carve_layer(&acts[next++], p, la);
    }
    if (next < n_acts) p = carve_layer(&scratch, p, la);
    GradActs g;
    if (backward) p = carve_grads(&g, p, ga);
    double inv_freq[CPU_ROPE_MAX_HALF];
    if (m->head_dim / 2 > CPU_ROPE_MAX_HALF) { free(acts); free(own); free(mem); return NAN; }
    model_rope_inv_freq(m, inv_freq);
    const size_t scratch_floats = sum_sizes(la, LA_COUNT);

    cpu_embedding_forward(resid, l->tokens, params + off[P_EMBED], T, (int)C);
    for (size_t i = 0; i < L; i++) {
        LayerParams lp = layer_params(m, params, (int)i);
        LayerActs a = layer_view(own[i] >= 0 ? &acts[own[i]] : &scratch, &scratch, (RecomputeLevel)levels[i]);
        layer_forward(m, &lp, &a, resid + (i + 1) * TC, resid + i * TC, l, inv_freq);
    }
    cpu_rmsnorm_forward(lnf, rstdf, resid + L * TC, params + off[P_LNF], T, (int)C, m->rms_eps);
    const float *head = params + off[model_lm_head(m)];
    double loss;
    if (!backward) {
        // the CE writes gradients: give it throwaway buffers (dhidden in the layer scratch, dW once)
        float *dw = calloc((size_t)m->vocab * C, sizeof(float));
        memset(scratch.res2, 0, TC * sizeof(float));
        loss = dw ? cpu_linear_cross_entropy(scratch.res2, dw, lnf, head, l->loss_row, l->loss_target,
                                             l->loss_weight, l->n_loss, (int)C, m->vocab)
                  : NAN;
        free(dw);
        free(acts);
        free(own);
        free(mem);
        return loss;
    }

    memset(grads, 0, model_param_offsets(m, off) * sizeof(float));
    memset(g.dln, 0, TC * sizeof(float));
    loss = cpu_linear_cross_entropy(g.dln, grads + off[model_lm_head(m)], lnf, head, l->loss_row,
                                    l->loss_target, l->loss_weight, l->n_loss, (int)C, m->vocab);
    memset(g.dres, 0, TC * sizeof(float));
    cpu_rmsnorm_backward(g.dres, grads + off[P_LNF], g.dln, resid + L * TC, params + off[P_LNF], rstdf, T, (int)C);
    for (size_t i = L; i-- > 0;) {
        LayerParams lp = layer_params(m, params, (int)i), dlp = layer_params(m, grads, (int)i);
        const RecomputeLevel lv = (RecomputeLevel)levels[i];
        LayerActs a = layer_view(own[i] >= 0 ? &acts[own[i]] : &scratch, &scratch, lv);
        const float *inp = resid + i * TC;
        if (lv != RECOMPUTE_NONE) fill_nan(scratch.ln1, scratch_floats); // what is not recomputed stays NaN
        if (lv == RECOMPUTE_FULL) {
            layer_forward(m, &lp, &a, resid + (i + 1) * TC, inp, l, inv_freq); // recompute all but the output's use
        } else if (lv == RECOMPUTE_SELECTIVE) { // the norms from the input and the kept res2, then the MLP
            norm1_forward(m, &lp, &a, inp, T);
            mlp_inner_forward(m, &lp, &a, T);
        }
        layer_backward(m, &lp, &dlp, &a, &g, inp, l, inv_freq);
    }
    cpu_embedding_backward(grads + off[P_EMBED], g.dres, l->tokens, T, (int)C);
    free(acts);
    free(own);
    free(mem);
    return loss;
}

double cpu_step_levels(const ModelConfig *m, const float *params, float *grads, const Layout *l,
                       const unsigned char *levels) {
    return grads && levels && m->layers <= PB_MODEL_MAX_LAYERS ? step_run(m, params, grads, l, levels) : NAN;
}

double cpu_step(const ModelConfig *m, const float *params, float *grads, const Layout *l, int checkpoint) {
    unsigned char lv[PB_MODEL_MAX_LAYERS];
    if (m->layers > PB_MODEL_MAX_LAYERS) return NAN;
    memset(lv, checkpoint ? RECOMPUTE_FULL : RECOMPUTE_NONE, (size_t)m->layers);
    return cpu_step_levels(m, params, grads, l, lv);
}

double cpu_loss(const ModelConfig *m, const float *params, const Layout *l) {
    unsigned char lv[1] = {RECOMPUTE_FULL}; // forward only: the levels are not read
    return step_run(m, params, NULL, l, lv);
}
