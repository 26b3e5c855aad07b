// model.c: parameter table, initialisation and FLOP counts (see model.h).
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/rng.h"

static const char *const param_names[P_COUNT] = {
    "embed", "ln1", "wq", "bq", "wk", "bk", "wv", "bv", "wo", "ln2",
    "wgate", "wup", "wdown", "lnf", "lm_head", "q_norm", "k_norm",
};

const char *model_param_name(ParamId id) { return (id >= 0 && id < P_COUNT) ? param_names[id] : "?"; }

ParamId model_lm_head(const ModelConfig *m) { return m->tied_embeddings ? P_EMBED : P_LMHEAD; }

int model_param_is_norm(ParamId id) {
    return id == P_LN1 || id == P_LN2 || id == P_LNF || id == P_QNORM || id == P_KNORM;
}

size_t model_param_layer_size(const ModelConfig *m, ParamId id) {
    size_t C = (size_t)m->hidden, F = (size_t)m->mlp;
    size_t q = (size_t)m->n_head * m->head_dim, kv = (size_t)m->n_kv_head * m->head_dim;
    switch (id) {
    case P_LN1: case P_LN2: return C;
    case P_WQ: return q * C;
    case P_BQ: return m->qkv_bias ? q : 0;
    case P_WK: case P_WV: return kv * C;
    case P_BK: case P_BV: return m->qkv_bias ? kv : 0;
    case P_QNORM: case P_KNORM: return m->qk_norm ? (size_t)m->head_dim : 0;
    case P_WO: return C * q;
    case P_WGATE: case P_WUP: case P_WDOWN: return F * C;
    default: return 0;
    }
}

void model_param_sizes(const ModelConfig *m, size_t sizes[P_COUNT]) {
    size_t V = (size_t)m->vocab, C = (size_t)m->hidden, L = (size_t)m->layers;
    for (int i = 0; i < P_COUNT; i++) sizes[i] = L * model_param_layer_size(m, (ParamId)i);
    sizes[P_EMBED] = V * C;
    sizes[P_LNF] = C;
    sizes[P_LMHEAD] = m->tied_embeddings ? 0 : V * C;
}

size_t model_param_offsets(const ModelConfig *m, size_t offsets[P_COUNT]) {
    size_t sizes[P_COUNT], total = 0;
    model_param_sizes(m, sizes);
    for (int i = 0; i < P_COUNT; i++) { offsets[i] = total; total += sizes[i]; }
    return total;
}

float *model_layer_tensor(const ModelConfig *m, float *base, ParamId id, int layer) {
    size_t off[P_COUNT], n = model_param_layer_size(m, id);
    model_param_offsets(m, off);
    return n ? base + off[id] + (size_t)layer * n : NULL;
}

/* Llama 3 (HF _compute_llama3_parameters): wavelengths longer than original / low_freq_factor
 * are slowed by factor, shorter than original / high_freq_factor kept, and in between blended
 * linearly in original / wavelength. */
void rope_inv_freq(double theta, const RopeScaling *sc, int D, double *inv_freq) {
    const double two_pi = 6.283185307179586476925286766559;
    for (int i = 0; i < D / 2; i++) {
        double f = pow(theta, -2.0 * i / D);
        if (sc && sc->factor > 0) {
            double wavelen = two_pi / f, low_wl = sc->original_max_pos / sc->low_freq_factor,
                   high_wl = sc->original_max_pos / sc->high_freq_factor;
            if (wavelen > low_wl) {
                f /= sc->factor;
            } else if (!(wavelen < high_wl)) {
                double smooth = (sc->original_max_pos / wavelen - sc->low_freq_factor) /
                                (sc->high_freq_factor - sc->low_freq_factor);
                f = (1.0 - smooth) * f / sc->factor + smooth * f;
            }
        }
        inv_freq[i] = f;
    }
}

void model_rope_inv_freq(const ModelConfig *m, double *inv_freq) {
    rope_inv_freq(m->rope_theta, &m->rope_scaling, m->head_dim, inv_freq);
}

size_t model_param_bytes_bf16(const ModelConfig *m) {
    size_t offsets[P_COUNT];
    return 2 * model_param_offsets(m, offsets);
}

void model_init_params(const ModelConfig *m, uint64_t seed, float *params) {
    size_t sizes[P_COUNT], offsets[P_COUNT];
    model_param_sizes(m, sizes);
    model_param_offsets(m, offsets);
    Rng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < P_COUNT; i++) {
        float *p = params + offsets[i];
        int is_norm = model_param_is_norm((ParamId)i);
        for (size_t j = 0; j < sizes[i]; j++) p[j] = is_norm ? 1.0f : 0.02f * rng_normal(&rng);
    }
}

// a * b + c in 64 bits; -1 on overflow
static int mul_add_u64(uint64_t a, uint64_t b, uint64_t *acc) {
    uint64_t p;
    if (__builtin_mul_overflow(a, b, &p) || __builtin_add_overflow(*acc, p, acc)) return -1;
    return 0;
}

int model_param_count_checked(const ModelConfig *m, uint64_t *count) {
    if (m->vocab <= 0 || m->hidden <= 0 || m->layers <= 0 || m->n_head <= 0 || m->n_kv_head <= 0 ||
        m->head_dim <= 0 || m->mlp <= 0)
        return -1;
    uint64_t V = (uint64_t)m->vocab, C = (uint64_t)m->hidden, L = (uint64_t)m->layers, F = (uint64_t)m->mlp;
    uint64_t q = 0, kv = 0, layer = 0, total = 0;
    if (mul_add_u64((uint64_t)m->n_head, (uint64_t)m->head_dim, &q) ||
        mul_add_u64((uint64_t)m->n_kv_head, (uint64_t)m->head_dim, &kv))
        return -1;
    // per layer: ln1, ln2 (C each); wq, wo (q x C); wk, wv (kv x C); gate, up, down (F x C); the
    // variants' bq (q), bk, bv (kv) and q/k norms (D each), as model_param_layer_size has them
    const uint64_t bias = m->qkv_bias ? 1 : 0, qk = m->qk_norm ? 2 : 0;
    if (mul_add_u64(2, C, &layer) || mul_add_u64(2 * C, q, &layer) || mul_add_u64(bias, q, &layer) ||
        mul_add_u64(2 * C, kv, &layer) || mul_add_u64(2 * bias, kv, &layer) || mul_add_u64(3 * C, F, &layer) ||
        mul_add_u64(qk, (uint64_t)m->head_dim, &layer))
        return -1;
    if (mul_add_u64(L, layer, &total) || mul_add_u64(m->tied_embeddings ? 1 : 2, V * C, &total) ||
        mul_add_u64(1, C, &total))
        return -1;
    *count = total;
    return 0;
}

int model_set_arch(ModelConfig *m, const char *arch) {
    static const char *const archs[] = {"qwen2", "llama", "mistral", "qwen3"};
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (!strcmp(arch, archs[i])) {
            snprintf(m->arch, sizeof m->arch, "%s", archs[i]);
            m->qkv_bias = i == 0;
            m->qk_norm = i == 3;
            return 0;
        }
    return -1;
}

int model_validate(const ModelConfig *m, char *err, size_t errlen) {
    char why[160] = "";
    uint64_t params = 0;
    if (m->vocab <= 1 || m->hidden <= 0 || m->layers <= 0 || m->n_head <= 0 || m->n_kv_head <= 0 ||
        m->head_dim <= 0 || m->mlp <= 0)
        snprintf(why, sizeof why, "every size must be positive (vocab at least 2)");
    else if (m->vocab > PB_MODEL_MAX_VOCAB || m->hidden > PB_MODEL_MAX_HIDDEN || m->layers > PB_MODEL_MAX_LAYERS ||
             m->n_head > PB_MODEL_MAX_HEADS || m->n_kv_head > PB_MODEL_MAX_HEADS ||
             m->head_dim > PB_MODEL_MAX_HEAD_DIM || m->mlp > PB_MODEL_MAX_MLP)
        snprintf(why, sizeof why, "a size is above its bound (vocab %d, hidden %d, layers %d, heads %d, head_dim %d, mlp %d)",
                 PB_MODEL_MAX_VOCAB, PB_MODEL_MAX_HIDDEN, PB_MODEL_MAX_LAYERS, PB_MODEL_MAX_HEADS,
                 PB_MODEL_MAX_HEAD_DIM, PB_MODEL_MAX_MLP);
    else if (m->n_head % m->n_kv_head != 0)
        snprintf(why, sizeof why, "n_head must be a multiple of n_kv_head");
    else if (m->head_dim % 2 != 0)
        snprintf(why, sizeof why, "head_dim must be even (RoPE rotates pairs)");
    else if (!(m->rms_eps > 0.0f) || !(m->rope_theta > 0.0))
        snprintf(why, sizeof why, "rms_eps and rope_theta must be positive");
    else if (m->rope_scaling.factor != 0.0 &&
             !(m->rope_scaling.factor >= 1.0 && m->rope_scaling.low_freq_factor > 0.0 &&
               m->rope_scaling.high_freq_factor > m->rope_scaling.low_freq_factor &&
               m->rope_scaling.original_max_pos > 0.0))
        snprintf(why, sizeof why, "rope scaling needs factor >= 1, 0 < low_freq_factor < high_freq_factor, "
                 "original_max_pos > 0");
    else if (model_param_count_checked(m, &params) || params > PB_MODEL_MAX_PARAMS)
        snprintf(why, sizeof why, "%.4g parameters, above the bound of %.4g", (double)params,
                 (double)PB_MODEL_MAX_PARAMS);
    if (why[0]) { snprintf(err, errlen, "model %s: %s", m->name, why); return -1; }
    return 0;
}

LayerMacs model_layer_macs(const ModelConfig *m) {
    double C = m->hidden, F = m->mlp;
    double q = (double)m->n_head * m->head_dim, kv = (double)m->n_kv_head * m->head_dim;
    LayerMacs r = {C * (q + 2.0 * kv), q * C, 3.0 * C * F};
    return r;
}

double model_attn_fwd_flop_per_pair(const ModelConfig *m) {
    return (double)m->layers * m->n_head * (4.0 * m->head_dim);
}

Flops model_flops(const ModelConfig *m, size_t token_slots, size_t attn_pairs, size_t loss_rows) {
    LayerMacs lm = model_layer_macs(m);
    double macs_per_token = m->layers * (lm.qkv + lm.o + lm.mlp);
    Flops f;
    f.dense = 6.0 * macs_per_token * (double)token_slots;
    f.attention = model_attn_fwd_flop_per_pair(m) * (1.0 + MODEL_ATTN_BWD_FACTOR) * (double)attn_pairs;
    f.lm_head = 6.0 * (double)m->hidden * (double)m->vocab * (double)loss_rows;
    f.total = f.dense + f.attention + f.lm_head;
    return f;
}
