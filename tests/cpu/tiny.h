// tiny.h: the tiny Qwen2-shaped model, random forests and the gradient error metric the CPU tests share.
#ifndef PB_TEST_TINY_H
#define PB_TEST_TINY_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../core/rng.h"
#include "../../model/model.h"
#include "../../strategies/forest.h"
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

/* A random forest of `depth` levels (2..PB_MAX_DEPTH): 1-2 roots, every node above the last
 * level 1-3 children (the first root's first chain reaches the last level), lengths 1..max_len,
 * leaves carry loss and inner segments at random (roots too: their first token has no
 * predecessor). Segment indices are shuffled so parents need not come first. */
static inline int tiny_forest(Forest *f, int depth, int max_len, int vocab, uint64_t seed) {
    enum { MAX_N = 96 };
    int32_t len[MAX_N], parent[MAX_N], lvl[MAX_N], perm[MAX_N], len2[MAX_N], parent2[MAX_N];
    uint8_t loss[MAX_N], loss2[MAX_N];
    Rng r;
    rng_seed(&r, seed ^ 0xf0e57ull);
    uint8_t spine[MAX_N] = {0}; // the chain from the first root that reaches the last level
    int n = 0, roots = (int)rng_range(&r, 1, 2);
    for (int i = 0; i < roots; i++) { parent[n] = -1; spine[n] = i == 0; lvl[n++] = 0; }
    for (int i = 0; i < n; i++) {
        if (lvl[i] + 1 >= depth) continue;
        int kids = (int)rng_range(&r, spine[i] ? 1 : 0, 3);
        for (int c = 0; c < kids && n < MAX_N; c++) { parent[n] = i; spine[n] = spine[i] && c == 0; lvl[n++] = lvl[i] + 1; }
    }
    for (int i = 0; i < n; i++) {
        len[i] = (int32_t)rng_range(&r, 1, max_len);
        loss[i] = (uint8_t)rng_range(&r, 0, 1);
    }
    for (int i = 0; i < n; i++) { // leaves carry loss
        int has_child = 0;
        for (int j = 0; j < n; j++) has_child |= parent[j] == i;
        if (!has_child) loss[i] = 1;
    }
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) { int j = (int)rng_range(&r, 0, i), t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
    for (int i = 0; i < n; i++) { // segment i moves to perm[i]
        len2[perm[i]] = len[i];
        loss2[perm[i]] = loss[i];
        parent2[perm[i]] = parent[i] < 0 ? -1 : perm[parent[i]];
    }
    char err[160];
    return forest_make(f, n, len2, parent2, loss2, vocab, seed, err, sizeof err);
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
