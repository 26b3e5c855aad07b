// tiny.h: the tiny Qwen2-shaped model and the gradient error metric the CPU tests share.
#ifndef PB_TEST_TINY_H
#define PB_TEST_TINY_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../core/rng.h"
#include "../../model/model.h"
#include "../../strategies/layout.h"
#include "../test_util.h"

// 2 layers, hidden 64, 4 query / 2 kv heads of 16, MLP 128, vocab 512, untied LM head.
static inline ModelConfig tiny_model(void) {
    ModelConfig m;
    memset(&m, 0, sizeof m);
    strcpy(m.name, "tiny");
    m.vocab = 512; m.hidden = 64; m.layers = 2; m.n_head = 4; m.n_kv_head = 2; m.head_dim = 16;
    m.mlp = 128; m.rms_eps = 1e-6f; m.rope_theta = 10000.0; m.tied_embeddings = 0;
    model_set_arch(&m, "qwen2"); // q, k, v biases
    return m;
}

// The tiny model in each architecture variant: "qwen2" (tiny_model: q/k/v biases, untied);
// "llama": no biases, tied LM head, head_dim 8 (4 x 8 != hidden 64), Llama 3 RoPE scaling with
// its three frequency bands in use at the tests' positions; "qwen3": q/k norm, no biases,
// untied, head_dim 24 (4 x 24 != 64).
static inline ModelConfig tiny_model_arch(const char *arch) {
    ModelConfig m = tiny_model();
    snprintf(m.name, sizeof m.name, "tiny-%s", arch);
    model_set_arch(&m, arch);
    if (!strcmp(arch, "llama")) {
        m.tied_embeddings = 1;
        m.head_dim = 8;
        m.rope_scaling = (RopeScaling){.factor = 8.0, .low_freq_factor = 1.0, .high_freq_factor = 4.0,
                                       .original_max_pos = 16.0};
    } else if (!strcmp(arch, "qwen3")) {
        m.head_dim = 24;
    }
    return m;
}

// Worst per-tensor relative difference ||b - a|| / ||a|| (||b - a|| where a is zero; NaN counts
// as worst); *worst_t (may be NULL) gets the tensor.
static inline double grads_rel_err(const ModelConfig *m, const float *a, const float *b, int *worst_t) {
    size_t off[P_COUNT], sizes[P_COUNT];
    model_param_offsets(m, off);
    model_param_sizes(m, sizes);
    double worst = 0.0;
    for (int t = 0; t < P_COUNT; t++) {
        double na = 0.0, nd = 0.0;
        for (size_t j = 0; j < sizes[t]; j++) {
            double x = a[off[t] + j], d = x - b[off[t] + j];
            na += x * x; nd += d * d;
        }
        if (sizes[t] == 0) continue;
        double e = na > 0 ? sqrt(nd / na) : sqrt(nd);
        if (e > worst || !(e == e)) {
            worst = e;
            if (worst_t) *worst_t = t;
        }
    }
    return worst;
}

#endif
