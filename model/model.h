/*
 * model.h: the one source of truth for model shapes, the parameter table and FLOP counts.
 *
 * A Llama-family decoder (DESIGN.md section 2) in the variants users train: Qwen2 (q, k, v
 * biases), Llama / Mistral (no biases; Llama 3 RoPE frequency scaling), Qwen3 (per-head RMSNorm
 * on q and k before RoPE); head_dim independent of hidden / n_head; tied or untied LM head.
 * A tensor a variant lacks has 0 elements (its offset equals the next one's). Parameters live in one flat
 * buffer, tensor after tensor in the order of ParamId; per-layer tensors are stacked
 * with a leading layer dimension (llm.c style). Linear weights are [out, in] row-major,
 * y = x W^T + b, as in PyTorch's nn.Linear.
 */
#ifndef PB_MODEL_H
#define PB_MODEL_H

#include <stddef.h>
#include <stdint.h>

/*
 * Bounds of a model config (checked by model_validate and by the config reader; README,
 * "Configs"). Far above any real decoder (Llama 3 405B: hidden 16384, mlp 53248, 126 layers),
 * low enough that every size product below fits 64 bits with room: parameters <= 2^40, and
 * hidden x token slots (< 2^31) x layers stays below 2^63.
 */
#define PB_MODEL_MAX_VOCAB (1 << 24)
#define PB_MODEL_MAX_HIDDEN (1 << 16)
#define PB_MODEL_MAX_LAYERS 1024
#define PB_MODEL_MAX_HEADS 1024
#define PB_MODEL_MAX_HEAD_DIM 1024
#define PB_MODEL_MAX_MLP (1 << 20)
#define PB_MODEL_MAX_PARAMS (1ull << 40)

// Llama 3's RoPE frequency scaling (HF rope_scaling with rope_type "llama3"); factor 0: none.
typedef struct RopeScaling {
    double factor;             // 0: no scaling
    double low_freq_factor;
    double high_freq_factor;
    double original_max_pos;   // original_max_position_embeddings
} RopeScaling;

typedef struct ModelConfig {
    char name[64];
    char arch[16];  // "qwen2", "llama", "mistral", "qwen3" (HF model_type; informative)
    int vocab;      // V
    int hidden;     // C
    int layers;     // L
    int n_head;     // Hq
    int n_kv_head;  // Hkv
    int head_dim;   // D
    int mlp;        // F
    float rms_eps;
    double rope_theta;
    int tied_embeddings; // 1: the LM head is the embedding matrix (no P_LMHEAD tensor)
    int qkv_bias;        // 1: q, k, v projections have biases (Qwen2)
    int qk_norm;         // 1: RMSNorm over head_dim on every q and k head before RoPE (Qwen3)
    RopeScaling rope_scaling;
} ModelConfig;

typedef enum ParamId {
    P_EMBED,   // (V, C)
    P_LN1,     // (L, C)
    P_WQ,      // (L, Hq*D, C)
    P_BQ,      // (L, Hq*D); 0 elements without qkv_bias (so are P_BK, P_BV)
    P_WK,      // (L, Hkv*D, C)
    P_BK,      // (L, Hkv*D)
    P_WV,      // (L, Hkv*D, C)
    P_BV,      // (L, Hkv*D)
    P_WO,      // (L, C, Hq*D)
    P_LN2,     // (L, C)
    P_WGATE,   // (L, F, C)
    P_WUP,     // (L, F, C)
    P_WDOWN,   // (L, C, F)
    P_LNF,     // (C)
    P_LMHEAD,  // (V, C); 0 elements when tied
    P_QNORM,   // (L, D); 0 elements without qk_norm (so is P_KNORM)
    P_KNORM,   // (L, D)
    P_COUNT
} ParamId;

// Elements of each tensor, all layers together.
void model_param_sizes(const ModelConfig *m, size_t sizes[P_COUNT]);
// Element offset of each tensor in the flat buffer; returns the total element count.
size_t model_param_offsets(const ModelConfig *m, size_t offsets[P_COUNT]);
// Elements of one layer's slice of a per-layer tensor (0 for P_EMBED, P_LNF, P_LMHEAD).
size_t model_param_layer_size(const ModelConfig *m, ParamId id);
const char *model_param_name(ParamId id);
// The LM head's weight (P_LMHEAD, or P_EMBED when tied).
ParamId model_lm_head(const ModelConfig *m);

// 1 for the RMSNorm weights (P_LN1, P_LN2, P_LNF, P_QNORM, P_KNORM), 0 otherwise.
int model_param_is_norm(ParamId id);
// A per-layer tensor's slice, or NULL where the variant lacks the tensor (bias-free, no qk-norm).
float *model_layer_tensor(const ModelConfig *m, float *base, ParamId id, int layer);

// RoPE inverse frequencies (head_dim / 2 of them): theta^(-2i/D), then Llama 3's scaling
// where factor > 0 (HF _compute_llama3_parameters). The one definition the CPU and GPU use.
void rope_inv_freq(double theta, const RopeScaling *scaling, int head_dim, double *inv_freq);
void model_rope_inv_freq(const ModelConfig *m, double *inv_freq);

// Seeded host initialisation (fp32): norms 1, other weights N(0, 0.02), biases N(0, 0.02).
// Deterministic in (m, seed); the tests hand the same values to every implementation.
void model_init_params(const ModelConfig *m, uint64_t seed, float *params);

// The architectures (HF model_type) packbench runs: "qwen2", "llama", "mistral", "qwen3".
// Sets m->arch and the architecture's defaults: qwen2 qkv_bias 1; qwen3 qk_norm 1; llama and
// mistral neither. Returns 0, or -1 for an unknown name.
int model_set_arch(ModelConfig *m, const char *arch);

// Checks a config: every size within the bounds above, Hq divisible by Hkv, D even, scaling
// factors sane, the parameter count <= PB_MODEL_MAX_PARAMS (computed in 64 bits with overflow
// checks before any size_t table is used). 0 or -1 with a one-line reason in err.
int model_validate(const ModelConfig *m, char *err, size_t errlen);

/*
 * FLOPs (DESIGN.md section 3). Model FLOPs only: no recomputation.
 * Dense: 2 per multiply-add forward, 4 backward, for every token slot the layout computes
 * (padding slots of the padded layout included: that is the work padding costs).
 * Attention: 4*D per allowed (query, key) pair per layer and query head forward, 2.5x that backward.
 * LM head: on loss rows only.
 */
typedef struct Flops {
    double dense;     // projections + MLP, forward + backward
    double attention; // forward + backward
    double lm_head;   // forward + backward
    double total;
} Flops;
Flops model_flops(const ModelConfig *m, size_t token_slots, size_t attn_pairs, size_t loss_rows);

// Parameter count in 64 bits with overflow checks: 0, or -1 when it does not fit 64 bits.
int model_param_count_checked(const ModelConfig *m, uint64_t *count);

// Multiply-adds per token slot of ONE layer's projections (the count model_flops and the
// roofline's op classes, model/roofline.h, share): q, k and v together; o; gate, up and down.
typedef struct LayerMacs { double qkv, o, mlp; } LayerMacs;
LayerMacs model_layer_macs(const ModelConfig *m);
// Attention forward FLOPs per allowed (query, key) pair over all layers and query heads
// (4 * D per pair and head); the backward is MODEL_ATTN_BWD_FACTOR times that.
double model_attn_fwd_flop_per_pair(const ModelConfig *m);
#define MODEL_ATTN_BWD_FACTOR 2.5

// Bytes of the parameter table stored as bf16 (the GPU step's weights, and its gradients).
size_t model_param_bytes_bf16(const ModelConfig *m);

#endif
