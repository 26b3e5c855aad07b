/*
 * prefix_path.h: how the cuDNN backend runs the attention of a prefix or tree layout (host C, no
 * CUDA: the choice is tested on the CPU). A layout of more than one level is a forest of nodes,
 * each node's subtree contiguous in slot order (strategies/layout.h).
 *
 * Backward, always by depth (attention/cudnn_tree.c): for every depth d one ragged call where
 * each node at depth d is the keys and its whole subtree the queries, top-left causal (the node's
 * own rows causal against themselves, its descendants' rows see all of it). Given the final o and
 * lse each call's backward is its exact share: dK/dV of every key come from the one call of its
 * node's depth, and a query's dQ is the sum of its depth + 1 calls' (added in bf16). No copies.
 * At two levels (a flat prefix group) these are the prompt-keys call and the completions' self
 * call.
 *
 * Forward, one of two ways:
 *   gather  the roots causal against themselves, and each non-root node against a copy of
 *           [its ancestors' K/V, its own K/V] (bottom-right causal), gathered into kcat / vcat:
 *           two calls, and every ancestor copied once per descendant node.
 *   merge   the backward's depth calls, each merged into the running output through the softmax
 *           statistics (kernels/attn_merge.cu): no copies, one merge per depth below the roots.
 * Both visit exactly the allowed (query, key) pairs.
 */
#ifndef PB_PREFIX_PATH_H
#define PB_PREFIX_PATH_H

#include <stdint.h>

#include "../strategies/layout.h"

typedef enum AttnPrefixMode {
    ATTN_PREFIX_AUTO,   // by prefix_forward (the default)
    ATTN_PREFIX_GATHER, // every layout's forward gathered (for measurement)
    ATTN_PREFIX_MERGE,  // every layout's forward merged by depth (for measurement)
} AttnPrefixMode;

typedef enum PrefixForward { PREFIX_FWD_GATHER, PREFIX_FWD_MERGE } PrefixForward;

const char *attn_prefix_mode_name(AttnPrefixMode m);            // "auto", "gather", "merge"
int attn_prefix_mode_parse(const char *name, AttnPrefixMode *out); // 0 or -1 (NULL: auto)
const char *prefix_forward_name(PrefixForward f);               // "gather", "merge"

/* The forward of a layout of max_depth levels. Auto: gather at two levels (the flat prefix, as
 * measured on the H200 with its forward: one copy of the prompt per completion is cheap), merge
 * deeper (a tree's gathers copy every ancestor once per descendant node: dev/NOTES.md "Trees",
 * system 16k x 1024: 349k tokens gathered). Not yet measured against each other. */
PrefixForward prefix_forward(AttnPrefixMode mode, int max_depth);

/* One node's sequence in its depth's call: queries its subtree, keys its own slots (top-left
 * causal). The one definition memory.c and cudnn_tree.c build the depth calls from. */
typedef struct DepthSeq { int64_t q_start, kv_start; int32_t q_len, kv_len; } DepthSeq;
static inline DepthSeq prefix_depth_seq(const LayoutNode *nd) {
    return (DepthSeq){nd->start, nd->start, nd->subtree_end - nd->start, nd->len};
}

/* The (query, key) pairs the depth-d call visits, per layer and head: each node at depth d's
 * causal triangle and its descendants' rows against all of its keys. Summed over the depths it is
 * the layout's attn_pairs (tests/cpu/test_prefix_path.c): the calls visit exactly the allowed
 * pairs, so the FLOP ideal holds them as it holds one causal call. */
double prefix_depth_pairs(const Layout *l, int d);

#endif
