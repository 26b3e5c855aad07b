// weight_layout.c: the GPU step's per-layer order of the parameter table (see weight_layout.h).
#include "weight_layout.h"

// A layer's tensors in the GPU order; each fused group's tensors adjacent, its lead first.
static const ParamId layer_order[] = {P_LN1, P_WQ, P_WK, P_WV, P_BQ, P_BK, P_BV, P_WO,
                                      P_LN2, P_WGATE, P_WUP, P_WDOWN, P_QNORM, P_KNORM};
enum { N_LAYER_ORDER = sizeof layer_order / sizeof layer_order[0] };

// Elements of one layer's tensors before id (the whole layer for id == P_COUNT).
static size_t before_in_layer(const ModelConfig *m, ParamId id) {
    size_t n = 0;
    for (int i = 0; i < N_LAYER_ORDER && layer_order[i] != id; i++) n += model_param_layer_size(m, layer_order[i]);
    return n;
}

size_t gpu_weight_offset(const ModelConfig *m, ParamId id, int layer) {
    const size_t embed = (size_t)m->vocab * (size_t)m->hidden;
    const size_t layers = (size_t)m->layers * before_in_layer(m, P_COUNT);
    switch (id) {
    case P_EMBED: return 0;
    case P_LNF: return embed + layers;
    case P_LMHEAD: return embed + layers + (size_t)m->hidden;
    default: return embed + (size_t)layer * before_in_layer(m, P_COUNT) + before_in_layer(m, id);
    }
}

ParamId gpu_weight_group(ParamId id) {
    switch (id) {
    case P_WK: case P_WV: return P_WQ;
    case P_BK: case P_BV: return P_BQ;
    case P_WUP: return P_WGATE;
    default: return id;
    }
}

size_t gpu_weight_group_offset(const ModelConfig *m, ParamId id) {
    return before_in_layer(m, id) - before_in_layer(m, gpu_weight_group(id));
}

size_t gpu_weight_group_layer_size(const ModelConfig *m, ParamId lead) {
    size_t n = 0;
    for (int i = 0; i < N_LAYER_ORDER; i++)
        if (gpu_weight_group(layer_order[i]) == lead) n += model_param_layer_size(m, layer_order[i]);
    return n;
}

const char *gpu_weight_group_name(ParamId lead) {
    switch (lead) {
    case P_WQ: return "wqkv";
    case P_BQ: return "bqkv";
    case P_WGATE: return "wgate_up";
    default: return model_param_name(lead);
    }
}

size_t gpu_qkv_width(const ModelConfig *m) { return (size_t)(m->n_head + 2 * m->n_kv_head) * (size_t)m->head_dim; }
size_t gpu_gate_up_width(const ModelConfig *m) { return 2 * (size_t)m->mlp; }
