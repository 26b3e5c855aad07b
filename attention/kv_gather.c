/*
 * kv_gather.c: a tree layout's gathers (kv_gather.h), from its nodes: each node with a parent
 * gathers its ancestors' slot runs (root first, touching runs merged) and its own.
 */
#include "kv_gather.h"

#include <stdlib.h>

int kv_gathers_of_tree(const Layout *l, KvGather **out, size_t *cat_tokens) {
    *out = NULL;
    *cat_tokens = 0;
    int n = 0;
    for (int i = 0; i < l->n_nodes; i++) n += l->nodes[i].parent >= 0;
    if (!n) return 0;
    KvGather *g = calloc((size_t)n, sizeof *g);
    if (!g) return -1;
    size_t at = 0;
    for (int i = 0, j = 0; i < l->n_nodes; i++) {
        const LayoutNode *nd = &l->nodes[i];
        if (nd->parent < 0) continue;
        KvGather *gt = &g[j++];
        int32_t chain[PB_MAX_DEPTH], m = 0; // ancestors, parent first
        for (int32_t a = nd->parent; a >= 0 && m < PB_MAX_DEPTH; a = l->nodes[a].parent) chain[m++] = a;
        for (int k = m; k-- > 0;) { // root first
            const LayoutNode *an = &l->nodes[chain[k]];
            SlotRun *last = gt->n_anc ? &gt->anc[gt->n_anc - 1] : NULL;
            if (last && last->start + last->len == (size_t)an->start) last->len += (size_t)an->len;
            else gt->anc[gt->n_anc++] = (SlotRun){(size_t)an->start, (size_t)an->len};
            gt->anc_len += (size_t)an->len;
        }
        gt->own = (SlotRun){(size_t)nd->start, (size_t)nd->len};
        gt->dst = at; // packed one after the other: a deep node's long gather costs only itself
        at += gt->anc_len + gt->own.len;
    }
    *out = g;
    *cat_tokens = at;
    return n;
}
