/*
 * test_weight_layout.c: the GPU step's per-layer order of the parameter table
 * (gpu/weight_layout.h) on the tiny model in every architecture variant and on Qwen2.5-7B's
 * shapes (2 layers): every element of the table has exactly one place in [0, parameter count)
 * (a permutation: params() / grads() copy back in table order through it); the fused groups are
 * adjacent in the order wq | wk | wv, bq | bk | bv, wgate | wup, their sizes the sums of their
 * tensors'; every slice 16-byte aligned where the shapes are multiples of 8 elements (the
 * vectorised kernels' fast path).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../gpu/weight_layout.h"
#include "tiny.h"

static void check_model(const ModelConfig *m) {
    size_t sizes[P_COUNT], offsets[P_COUNT];
    model_param_sizes(m, sizes);
    const size_t total = model_param_offsets(m, offsets);
    unsigned char *seen = calloc(total ? total : 1, 1);
    CHECK(seen != NULL, "out of host memory");
    if (!seen) return;
    int overlap = 0, outside = 0;
    for (int id = 0; id < P_COUNT; id++) {
        if (!sizes[id]) continue;
        const size_t per = model_param_layer_size(m, (ParamId)id);
        const int layers = per ? m->layers : 1;
        const size_t n = per ? per : sizes[id];
        for (int l = 0; l < layers; l++) {
            const size_t at = gpu_weight_offset(m, (ParamId)id, per ? l : -1);
            if (at + n > total) { outside++; continue; }
            CHECK(at % 8 == 0, "%s: %s[%d] at element %zu: not 16-byte aligned", m->name, model_param_name((ParamId)id), l, at);
            for (size_t i = 0; i < n; i++) overlap += seen[at + i]++ != 0;
        }
    }
    size_t covered = 0;
    for (size_t i = 0; i < total; i++) covered += seen[i] != 0;
    CHECK(!outside && !overlap && covered == total, "%s: not a permutation (%d slices outside, %d elements twice, %zu of %zu covered)",
          m->name, outside, overlap, covered, total);
    free(seen);
    // the fused groups: adjacent, lead first, sizes summed
    const ParamId members[3][3] = {{P_WQ, P_WK, P_WV}, {P_BQ, P_BK, P_BV}, {P_WGATE, P_WUP, P_COUNT}};
    for (int g = 0; g < 3; g++) {
        const ParamId lead = members[g][0];
        size_t sum = 0;
        for (int i = 0; i < 3 && members[g][i] != P_COUNT; i++) {
            const ParamId id = members[g][i];
            CHECK(gpu_weight_group(id) == lead, "%s: %s not in group %s", m->name, model_param_name(id), gpu_weight_group_name(lead));
            CHECK(gpu_weight_group_offset(m, id) == sum, "%s: %s at %zu in its group, want %zu", m->name, model_param_name(id),
                  gpu_weight_group_offset(m, id), sum);
            for (int l = 0; l < m->layers; l++)
                CHECK(gpu_weight_offset(m, id, l) == gpu_weight_offset(m, lead, l) + sum, "%s: %s[%d] not after its group's tensors",
                      m->name, model_param_name(id), l);
            sum += model_param_layer_size(m, id);
        }
        CHECK(gpu_weight_group_layer_size(m, lead) == sum, "%s: group %s: %zu elements, want %zu", m->name,
              gpu_weight_group_name(lead), gpu_weight_group_layer_size(m, lead), sum);
    }
    CHECK(gpu_weight_group_layer_size(m, P_WQ) == gpu_qkv_width(m) * (size_t)m->hidden, "%s: qkv width", m->name);
    CHECK(gpu_weight_group_layer_size(m, P_WGATE) == gpu_gate_up_width(m) * (size_t)m->hidden, "%s: gate/up width", m->name);
    CHECK(gpu_weight_group(P_WO) == P_WO && gpu_weight_group_offset(m, P_WO) == 0 && gpu_weight_group(P_EMBED) == P_EMBED,
          "%s: groups of one", m->name);
    printf("test_weight_layout: %-12s %zu elements: ok so far (%d failures)\n", m->name, total, failures);
}

int main(void) {
    const char *arch[] = {"qwen2", "llama", "qwen3"};
    for (int i = 0; i < 3; i++) {
        ModelConfig m = tiny_model_arch(arch[i]);
        check_model(&m);
    }
    ModelConfig q = tiny_model(); // Qwen2.5-7B's shapes, 2 layers, a small vocabulary
    strcpy(q.name, "qwen2.5-7b/2");
    q.hidden = 3584, q.n_head = 28, q.n_kv_head = 4, q.head_dim = 128, q.mlp = 18944, q.vocab = 1024;
    check_model(&q);
    return test_finish("test_weight_layout");
}
