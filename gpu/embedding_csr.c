// embedding_csr.c: the embedding backward's slots grouped by token (see embedding_csr.h).
#include "embedding_csr.h"

#include <stdlib.h>

// Embedding-backward CSR over the real slots: unique tokens ascending, each with its slots.
// Returns the number of unique tokens, or -1 (out of host memory, or real slots != n_real).
int build_embedding_csr(const Layout *l, int V, int32_t *uniq_tok, int32_t *uniq_off, int32_t *slots) {
    int32_t *count = (int32_t *)calloc((size_t)V + 1, sizeof *count);
    if (!count) return -1;
    size_t real = 0;
    for (size_t t = 0; t < l->n_slots; t++)
        if (l->kv_lo[t] >= 0) { count[l->tokens[t] + 1]++; real++; }
    if (real != l->n_real) { free(count); return -1; }
    int n = 0;
    for (int v = 0; v < V; v++) {
        if (count[v + 1]) { uniq_tok[n] = v; uniq_off[n] = count[v]; n++; }
        count[v + 1] += count[v]; // count[v] = first slot index of token v
    }
    uniq_off[n] = count[V];
    for (size_t t = 0; t < l->n_slots; t++)
        if (l->kv_lo[t] >= 0) slots[count[l->tokens[t]]++] = (int32_t)t;
    free(count);
    return n;
}
