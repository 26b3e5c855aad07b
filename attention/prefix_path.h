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

/* The depth calls, from the layout's nodes. A chain is a node and, while the last one has exactly
 * one child, that child: depth first, a single child's slots follow its parent's, so a chain's
 * slots are one run. Each chain is one sequence of the call of its depth among the chains:
 * queries its head's subtree, keys the chain's slots, top-left causal (a row of the chain sees
 * the chain's earlier nodes, its ancestors, and its own node up to itself; a row below the chain
 * sees all of it). So a group with one completion is one causal sequence, and a conversation's
 * unbranched turns are one call, not one each. Chains of one node are the layout's nodes.
 * memory.c and cudnn_tree.c build the calls from this one definition. */
typedef struct DepthSeq {
    int64_t q_start, kv_start; // slots (equal: a chain's rows start with its keys)
    int32_t q_len, kv_len;
    int32_t depth;             // chains above it
} DepthSeq;
typedef struct DepthCalls {
    int n_seqs, n_depths;      // chains; levels of chains (the calls)
    DepthSeq *seqs;            // [n_seqs] in slot order
} DepthCalls;
int prefix_depth_calls(const Layout *l, DepthCalls *out); // 0 or -1 (out of host memory)
void prefix_depth_calls_free(DepthCalls *c);

/* The (query, key) pairs a chain's sequence visits per layer and head: its causal triangle and
 * the rows below it against all of its keys. Summed over the chains it is the layout's
 * attn_pairs (tests/cpu/test_prefix_path.c): the calls visit exactly the allowed pairs, so the
 * FLOP ideal holds them as it holds one causal call. */
static inline double depth_seq_pairs(const DepthSeq *s) {
    const double own = s->kv_len, below = (double)s->q_len - own;
    return own * (own + 1.0) / 2.0 + below * own;
}

#endif
