/*
 * kv_gather.h: which keys each query run of a prefix or tree layout attends to, as the
 * cuDNN backend's gather forward copies into one buffer (host C, no CUDA: tested on the CPU).
 *
 * A gather is one node of the layout's mask tree that has a parent (a prefix completion; any
 * non-root segment of a tree): its queries are its own slots, and its keys are its ancestors'
 * slots then its own, which is exactly [anc..., own] with bottom-right causal masking (the
 * queries are the last own.len of the anc_len + own.len keys). Copied to kcat at dst, the keys
 * of every gather sit together, so one THD call covers every non-root node of the layout.
 */
#ifndef PB_KV_GATHER_H
#define PB_KV_GATHER_H

#include <stddef.h>

#include "../strategies/layout.h"

typedef struct SlotRun { size_t start, len; } SlotRun;

typedef struct KvGather {
    SlotRun anc[PB_MAX_DEPTH]; // the ancestors' slots in slot order, touching runs merged (prefix: the prompt)
    int n_anc;
    size_t anc_len;            // sum of anc[].len
    SlotRun own;               // the node's slots: its queries, and its last keys
    size_t dst;                // where [anc..., own] starts in the gathered buffer (tokens)
} KvGather;

/* Every node with a parent, in slot order, their gathers packed one after the other (dst);
 * *cat_tokens: the gathered tokens in all. Returns the number of gathers (0: none), or -1 (out
 * of host memory). *out: free() it. */
int kv_gathers_of_tree(const Layout *l, KvGather **out, size_t *cat_tokens);

#endif
