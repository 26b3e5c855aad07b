/*
 * groups.c: the input of every layout (GroupBatch: B prompts, K completions each, token ids)
 * and the strategy names.
 *
 * Ids are laid out group by group: the prompt, then its K completions. They are seeded random
 * tokens: timing does not depend on them, and the equality tests only need the same ids for
 * every strategy.
 */
#include "layout.h"

#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"

static const char *const strategy_names[STRATEGY_COUNT] = {"padded", "packed", "prefix", "tree"};

const char *strategy_name(Strategy s) {
    return (s >= 0 && s < STRATEGY_COUNT) ? strategy_names[s] : "?";
}

int strategy_parse(const char *name, Strategy *out) {
    if (!name) return -1;
    for (int i = 0; i < STRATEGY_COUNT; i++)
        if (strcmp(name, strategy_names[i]) == 0) { *out = (Strategy)i; return 0; }
    return -1;
}

void groups_free(GroupBatch *g) {
    if (!g) return;
    free(g->prompt_len); free(g->comp_len); free(g->prompt_off); free(g->comp_off); free(g->ids);
    memset(g, 0, sizeof *g);
}

int groups_make(GroupBatch *g, int n_groups, int k, const int32_t *prompt_lens,
                const int32_t *comp_lens, int vocab, uint64_t seed) {
    memset(g, 0, sizeof *g);
    if (n_groups <= 0 || k < 1 || k > PB_MAX_COMPLETIONS || vocab <= 0 || !prompt_lens || !comp_lens)
        return -1;
    size_t n_ids = 0, nc = (size_t)n_groups * (size_t)k;
    for (int b = 0; b < n_groups; b++) {
        if (prompt_lens[b] < 1) return -1;
        n_ids += (size_t)prompt_lens[b];
    }
    for (size_t c = 0; c < nc; c++) {
        if (comp_lens[c] < 1) return -1;
        n_ids += (size_t)comp_lens[c];
    }
    g->n_groups = n_groups;
    g->k = k;
    g->n_ids = n_ids;
    g->prompt_len = malloc((size_t)n_groups * sizeof *g->prompt_len);
    g->comp_len = malloc(nc * sizeof *g->comp_len);
    g->prompt_off = malloc((size_t)n_groups * sizeof *g->prompt_off);
    g->comp_off = malloc(nc * sizeof *g->comp_off);
    g->ids = malloc(n_ids * sizeof *g->ids);
    if (!g->prompt_len || !g->comp_len || !g->prompt_off || !g->comp_off || !g->ids) {
        groups_free(g);
        return -1;
    }
    size_t off = 0;
    for (int b = 0; b < n_groups; b++) {
        g->prompt_len[b] = prompt_lens[b];
        g->prompt_off[b] = off;
        off += (size_t)prompt_lens[b];
        for (int c = 0; c < k; c++) {
            size_t i = (size_t)b * k + c;
            g->comp_len[i] = comp_lens[i];
            g->comp_off[i] = off;
            off += (size_t)comp_lens[i];
        }
    }
    Rng rng;
    rng_seed(&rng, seed);
    for (size_t i = 0; i < n_ids; i++) g->ids[i] = (int32_t)rng_range(&rng, 0, vocab - 1);
    return 0;
}
