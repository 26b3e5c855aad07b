/*
 * roofline.h: the op classes of one training step, what each costs (FLOPs or bytes, from the
 * shapes alone), the ceilings it is held against, and the step's ideal time at those ceilings.
 * Plain host C: the CSV's roofline_eff (every step, harness/run.c), the --profile table
 * (harness/profile_report.c) and the GPU profiler (gpu/profile.h, which times the same classes)
 * all read this one list.
 *
 * A class is an op kind in a pass: forward, recompute (the layer's forward again from its
 * checkpoint, in the backward sweep), backward. The costs are what the GPU step executes with
 * its recompute policy (model/recompute.h, per layer; by default full: layer inputs kept, each
 * layer's forward recomputed except the down projection), so recomputation counts here, unlike
 * model FLOPs (the recompute pass's GEMM and attention FLOPs are recompute_layer_flops'):
 *   GEMMs and attention: FLOPs (model_layer_macs, model_attn_fwd_flop_per_pair: the counts
 *     model_flops uses), 2 per multiply-add forward, 4 backward (input and weight gradients);
 *     attention backward MODEL_ATTN_BWD_FACTOR x forward; the LM head on every loss pair (the
 *     fused CE gathers a shared prompt row once per pair).
 *   Everything else: bytes, each bf16 tensor read once and written once (fp32 per-row
 *     statistics counted, int32 index arrays and per-channel weights not):
 *     embedding fwd 4TC; bwd 2TC + 2VC (dres read, the whole table written; counted so when tied too)
 *     norms fwd / recompute 4TC + 4T each (2L + 1 / 2 per full or selective layer); bwd 8TC + 4T (dinp read and written);
 *       with qk_norm (Qwen3) per layer also 4T(q + kv) + 4T(Hq + Hkv) fwd / recompute, 8T(q + kv) + 4T(Hq + Hkv) bwd
 *     RoPE 4T(q + 2kv) per layer: q and k read from the fused q/k/v output and written contiguous
 *       (dq, dk back into its gradient), and v (dv) copied out (in): the split; recomputed in full layers only
 *     SwiGLU fwd 6TF, bwd 10TF per layer (recomputed in full and selective layers) (the residual adds are the o and down projections' C)
 *     CE (gather, softmax and dlogits, scatter-add) 10NC + 4NV; misc (zero fills of dres and
 *     dln, the norm-gradient accumulators and their casts) 4TC + 10(2L + 1)C.
 * T token slots, N loss pairs, C hidden, F MLP width, V vocabulary, L layers, q / kv the query /
 * key-value widths (heads x head_dim).
 */
#ifndef PB_ROOFLINE_H
#define PB_ROOFLINE_H

#include <stddef.h>

#include "model.h"

typedef enum OpKind {
    OPK_EMBED,    // embedding gather / its gradient
    OPK_NORM,     // RMSNorms (ln1, ln2, final)
    OPK_QKV,      // q, k, v projections (GEMM, bias in the epilogue)
    OPK_ROPE,     // RoPE, which is also the split of the fused q/k/v output (v copied out; dv in)
    OPK_ATTN,     // the attention backend's forward / backward
    OPK_O,        // o projection (GEMM)
    OPK_MLP,      // gate, up, down (GEMMs)
    OPK_SWIGLU,
    OPK_LMHEAD,   // the fused CE's GEMMs (logits, dhidden, dW)
    OPK_CE,       // the fused CE's own kernels (gather, softmax + NLL + dlogits, scatter-add)
    OPK_MISC,     // zero fills and casts of gradients
    OPK_COUNT
} OpKind;

typedef enum OpPass { OPP_FWD, OPP_RECOMPUTE, OPP_BWD, OPP_COUNT } OpPass;

const char *op_kind_name(OpKind k); // "qkv gemm", "attention", ...
const char *op_pass_name(OpPass p); // "forward", "recompute", "backward"
// 1 for the GEMM kinds (QKV, O, MLP, LM head), whose ceilings are GEMM TFLOP/s.
int op_kind_is_gemm(OpKind k);

/*
 * Ceilings measured on one H200 SXM (dev/NOTES.md, "Ceilings"; DESIGN.md section 6), in FLOP/s
 * and bytes/s. GEMMs: bf16 16384 x 3584 x 18944 through kernels/matmul (tests/kernels
 * test_kernels' bench): 817 forward, 744 backward-input, 721 backward-weight TFLOP/s.
 * Attention: cuDNN's fused graph, 28/4 heads, d 128, causal 16k x 4 rows: 613 forward, 524
 * backward TFLOP/s (DESIGN.md section 6, the figures the attention backends are held against).
 * Memory: 4.1 TB/s, the fastest streaming kernels of the step (swiglu, add) in test_kernels.
 */
#define ROOF_H200_GEMM_FWD 817e12
#define ROOF_H200_GEMM_BWD_INPUT 744e12
#define ROOF_H200_GEMM_BWD_WEIGHT 721e12
#define ROOF_H200_ATTN_FWD 613e12
#define ROOF_H200_ATTN_BWD 524e12
#define ROOF_H200_BANDWIDTH 4.1e12

typedef struct RoofCeilings {
    double gemm_fwd, gemm_bwd_input, gemm_bwd_weight; // FLOP/s
    double attn_fwd, attn_bwd;                        // FLOP/s
    double bandwidth;                                 // bytes/s
} RoofCeilings;

extern const RoofCeilings roof_h200;

// The shape of one step: what the layout gives (strategies/layout.h: n_slots, attn_pairs, n_loss).
typedef struct RoofShape {
    size_t tokens;     // T token slots (padding included)
    size_t attn_pairs; // allowed (query, key) pairs
    size_t loss_pairs; // N (loss pairs: the rows the fused CE gathers)
    const unsigned char *recompute; // RecomputeLevel per layer (model/recompute.h); NULL: every layer full
} RoofShape;

typedef struct OpCost {
    double flop;  // > 0 for GEMM and attention classes
    double bytes; // > 0 for the memory-bound ones
} OpCost;

typedef struct RoofCosts { OpCost c[OPK_COUNT][OPP_COUNT]; } RoofCosts; // zero where a class does not occur

void roofline_costs(const ModelConfig *m, const RoofShape *shape, RoofCosts *out);
// The ceiling a class is held against (FLOP/s or bytes/s; the GEMM backward is the harmonic
// mean of the input and weight ceilings, the two halves of its FLOPs); 0 where none applies.
double roofline_ceiling(const RoofCeilings *c, OpKind k, OpPass p);
// Ideal seconds of one class, and of the whole step (the sum over classes).
double roofline_class_s(const RoofCosts *costs, const RoofCeilings *c, OpKind k, OpPass p);
double roofline_ideal_s(const RoofCosts *costs, const RoofCeilings *c);

#endif
