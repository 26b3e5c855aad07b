// tiny.h: the tiny Qwen2-shaped model and random group batches the CPU tests share.
#ifndef PB_TEST_TINY_H
#define PB_TEST_TINY_H

#include <string.h>

#include "../../harness/rng.h"
#include "../../model/model.h"
#include "../../strategies/layout.h"

// 2 layers, hidden 64, 4 query / 2 kv heads of 16, MLP 128, vocab 512, untied LM head.
static inline ModelConfig tiny_model(void) {
    ModelConfig m;
    memset(&m, 0, sizeof m);
    strcpy(m.name, "tiny");
    m.vocab = 512; m.hidden = 64; m.layers = 2; m.n_head = 4; m.n_kv_head = 2; m.head_dim = 16;
    m.mlp = 128; m.rms_eps = 1e-6f; m.rope_theta = 10000.0; m.tied_embeddings = 0;
    return m;
}

// B groups of K completions, prompt lengths in [1, max_p], completion lengths in [1, max_c].
static inline int tiny_groups(GroupBatch *g, int B, int K, int max_p, int max_c, int vocab, uint64_t seed) {
    int32_t pl[16], cl[16 * PB_MAX_COMPLETIONS];
    Rng r;
    rng_seed(&r, seed ^ 0x5eedull);
    for (int b = 0; b < B; b++) pl[b] = (int32_t)rng_range(&r, 1, max_p);
    for (int i = 0; i < B * K; i++) cl[i] = (int32_t)rng_range(&r, 1, max_c);
    return groups_make(g, B, K, pl, cl, vocab, seed);
}

#endif
