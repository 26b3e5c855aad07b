/*
 * weight_layout.h: the GPU step's own order of the parameter table (plain host C; issue 12).
 *
 * model.h stores each per-layer tensor for all layers, (L, Hq*D, C) etc., so one layer's Wq, Wk
 * and Wv are far apart. The GPU step stores its weights layer by layer instead, so that a layer's
 * fused projections are contiguous and run as ONE GEMM each:
 *   P_EMBED, then for each layer: ln1 | wq wk wv | bq bk bv | wo | ln2 | wgate wup | wdown |
 *   q_norm k_norm, then P_LNF, P_LMHEAD.
 * [wq; wk; wv] is then a (Hq*D + 2*Hkv*D, C) row-major weight (its GEMM writes one
 * (T, Hq*D + 2*Hkv*D) buffer, each row [q | k | v]) with the bias [bq; bk; bv] beside it, and
 * [wgate; wup] a (2F, C) weight (rows [gate | up]). Same elements as the table, no padding: the
 * weights line of the memory plan is model_param_bytes_bf16. The weight gradients have one plan
 * line per layer and fused group (gpu/memory_plan.h), laid out as the group's weights.
 * params() / grads() copy out in the table order (step_backend.cu).
 */
#ifndef PB_GPU_WEIGHT_LAYOUT_H
#define PB_GPU_WEIGHT_LAYOUT_H

#include <stddef.h>

#include "../model/model.h"

// Element offset of tensor id's slice of layer `layer` (per-layer tensors), or of the whole
// tensor (P_EMBED, P_LNF, P_LMHEAD; layer ignored) in the GPU step's weights.
size_t gpu_weight_offset(const ModelConfig *m, ParamId id, int layer);

// The fused group a tensor belongs to, named by its first tensor: P_WQ for wq, wk, wv; P_BQ for
// bq, bk, bv; P_WGATE for wgate, wup; every other tensor is its own group.
ParamId gpu_weight_group(ParamId id);
// Elements of id's own slice before it inside its group's per-layer slice (wk: Hq*D*C).
size_t gpu_weight_group_offset(const ModelConfig *m, ParamId id);
// Elements of one layer's slice of group `lead` (the sum of its tensors'; 0 where they are absent).
size_t gpu_weight_group_layer_size(const ModelConfig *m, ParamId lead);
// "wqkv", "bqkv", "wgate_up"; the tensor's own name for a group of one.
const char *gpu_weight_group_name(ParamId lead);

// Rows of the fused projections' outputs: Hq*D + 2*Hkv*D (q | k | v) and 2F (gate | up).
size_t gpu_qkv_width(const ModelConfig *m);
size_t gpu_gate_up_width(const ModelConfig *m);

#endif
