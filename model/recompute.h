/*
 * recompute.h: the recompute policy (issue 11) as the model sees it: what each layer keeps from
 * its forward for the backward, what it recomputes, and the FLOPs that recomputation costs.
 * The one place hardware FLOPs (model FLOPs + recomputed FLOPs, DESIGN.md section 3) come from;
 * the roofline's recompute pass (model/roofline.h) reads the same counts.
 *
 * Per layer, one of three levels (nested: each keeps what the one before keeps, and more):
 *   full       layer input only (the checkpoint, always kept); in backward the layer's forward
 *              runs again except the down projection, whose output the backward does not need:
 *              ln1, q/k/v (+ q/k norm), RoPE, attention, o projection, ln2, gate/up, SwiGLU.
 *   selective  keeps the attention block's expensive outputs: q, k, v after RoPE (and the q/k
 *              norm's inputs and statistics), the attention output and its softmax statistics,
 *              and x1 (the residual after the o projection, a GEMM output). Recomputes the
 *              norms (ln1 from the checkpoint, ln2 from x1) and the MLP's gate/up + SwiGLU,
 *              chunk by chunk as in the forward: the MLP's lines stay chunk-sized, so selective
 *              never holds a full-T MLP line (keeping gate/up of all chunks is what none does).
 *   none       keeps every activation the backward reads (also ln1, ln2, their statistics, and
 *              gate, up, h of all T tokens); recomputes nothing.
 * Policies: full, selective, none (that level in every layer), auto (per layer, the least
 * recomputation whose planned peak fits the memory budget; chosen by the GPU memory plan,
 * gpu/recompute_plan.h).
 */
#ifndef PB_MODEL_RECOMPUTE_H
#define PB_MODEL_RECOMPUTE_H

#include <stddef.h>

#include "model.h"

typedef enum RecomputeLevel { RECOMPUTE_FULL, RECOMPUTE_SELECTIVE, RECOMPUTE_NONE, RECOMPUTE_LEVELS } RecomputeLevel;
typedef enum RecomputePolicy { POLICY_FULL, POLICY_SELECTIVE, POLICY_NONE, POLICY_AUTO } RecomputePolicy;

// "full", "selective", "none", "auto". 0, or -1 for another name (NULL is full, the default).
int recompute_policy_parse(const char *name, RecomputePolicy *out);
const char *recompute_policy_name(RecomputePolicy p);
const char *recompute_level_name(RecomputeLevel l); // "full", "selective", "none"

// FLOPs one layer recomputes in backward at a level, by op class (2 per multiply-add; attention
// model_attn_fwd_flop_per_pair / L per allowed pair), for T token slots and P allowed pairs.
typedef struct RecomputeFlops { double qkv, o, mlp, attn; } RecomputeFlops;
RecomputeFlops recompute_layer_flops(const ModelConfig *m, RecomputeLevel lv, size_t tokens, size_t attn_pairs);
// Summed over the layers: levels[m->layers] (NULL: every layer full, the step's default).
RecomputeFlops recompute_flops(const ModelConfig *m, const unsigned char *levels, size_t tokens, size_t attn_pairs);
double recompute_flops_total(const RecomputeFlops *f);
// Model FLOPs (model_flops) + recomputed FLOPs: what the device executes.
double model_hw_flops(const ModelConfig *m, const unsigned char *levels, size_t tokens, size_t attn_pairs,
                      size_t loss_rows);

// What ran, for the CSV and `bench plan`: "none" / "selective" / "full" when every layer has one
// level, else "auto: 12 none, 8 selective, 8 full" followed by a per-layer code (layer 0 first,
// n none, s selective, f full): "auto: 12 none, 8 selective, 8 full (ffffffffssssssssnnnnnnnnnnnn)".
// policy: the policy asked for (auto is named even when all layers came out equal).
void recompute_describe(RecomputePolicy policy, const unsigned char *levels, int layers, char *out, size_t len);

#endif
