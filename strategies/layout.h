/*
 * layout.h: the four ways to lay out a batch (DESIGN.md sections 1 and 7). The input is a Forest
 * (strategies/forest.h); the flat B prompts x K completions (GroupBatch) is its depth-2 case.
 *
 *   padded  one row per path (root-to-leaf), right-padded to the longest; causal per row.
 *   packed  one document per path in one row; positions restart per document; causal per document.
 *   prefix  per parent of leaves: its path once, then its leaves; each leaf sees that path and
 *           itself, never a sibling; deeper ancestors are repeated per parent of leaves.
 *   tree    every segment once, depth-first; a token sees its ancestors' segments and, causally,
 *           its own; a segment's positions continue from its parent's end.
 * At depth 2 prefix and tree are the same layout.
 *
 * A Layout is plain host data: token slots (n_rows x row_len, flattened row-major), the mask as
 * a tree of nodes (one source of truth) and what is derived from it, the attention sequences and
 * the loss pairs. Every device copy is made from it; nothing else describes a batch.
 */
#ifndef PB_LAYOUT_H
#define PB_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "forest.h"

#define PB_MAX_COMPLETIONS 64
// Token slots of one layout at most: slot indices are int32 (seg_lo may equal n_slots).
#define PB_MAX_SLOTS ((int64_t)INT32_MAX - 1)

typedef enum Strategy { STRATEGY_PADDED, STRATEGY_PACKED, STRATEGY_PREFIX, STRATEGY_TREE, STRATEGY_COUNT } Strategy;

const char *strategy_name(Strategy s);            // "padded", "packed", "prefix", "tree"
int strategy_parse(const char *name, Strategy *out); // 0 or -1

/* The input of every layout: B groups, each one prompt and K completions of token ids. */
typedef struct GroupBatch {
    int n_groups;        // B
    int k;               // K completions per group, 1..PB_MAX_COMPLETIONS
    int32_t *prompt_len; // [B]
    int32_t *comp_len;   // [B*K], group-major
    size_t *prompt_off;  // [B]   offset of each prompt in ids
    size_t *comp_off;    // [B*K] offset of each completion in ids
    int32_t *ids;        // all token ids
    size_t n_ids;
} GroupBatch;

// Random token ids in [0, vocab) for the given lengths (prompt_lens [B], comp_lens [B*K]).
int groups_make(GroupBatch *g, int n_groups, int k, const int32_t *prompt_lens,
                const int32_t *comp_lens, int vocab, uint64_t seed);
void groups_free(GroupBatch *g);

/* A node of the mask tree: a run of slots [start, start + len) that attend to each other causally
 * and to all of their ancestors' slots. padded/packed: a document; prefix: a leaf's parent path
 * (root) or a leaf; tree: a segment. Nodes are in slot order and a node's subtree is the slot
 * range [start, subtree_end) (depth-first), which is what makes the per-key rule below exact. */
typedef struct LayoutNode {
    int32_t start, len;
    int32_t parent;      // node index, -1 for a root
    int32_t depth;       // root 0
    int32_t subtree_end; // end slot of the node and everything below it
} LayoutNode;

/* An attention sequence: a padded row, a packed document, or a root's subtree (prefix / tree). */
typedef struct LayoutSeq {
    int32_t start;      // first token slot
    int32_t len;        // real tokens (a padded row's padding excluded)
    int32_t shared_len; // prefix, tree: the root node (every token of the subtree sees it); 0 otherwise
} LayoutSeq;

/* A leaf node of a two-level layout: its slots [start, start + len) inside sequence seq. */
typedef struct LayoutSeg {
    int32_t seq;
    int32_t start;
    int32_t len;
} LayoutSeg;

typedef struct Layout {
    Strategy strategy;
    int n_groups, k;     // the GroupBatch's B and K when built from one; 0 for a general forest
    int n_rows;          // padded: one per path; packed, prefix, tree: 1
    int row_len;         // padded: longest path; else all tokens
    size_t n_slots;      // n_rows * row_len
    size_t n_real;       // slots holding a real token
    int32_t *tokens;     // [n_slots] token id; 0 in padding
    int32_t *pos;        // [n_slots] RoPE position; 0 in padding

    /* The mask rule, definition: q may see k iff k <= q, both are real, and node_of[k] is
     * node_of[q] or one of its ancestors (layout_allows). */
    int n_nodes;
    LayoutNode *nodes;   // [n_nodes] in slot order
    int32_t *node_of;    // [n_slots] node of each slot, -1 in padding
    int max_depth;       // levels of the node tree: padded/packed 1, prefix <= 2, tree the forest's
    int32_t *seq_id;     // [n_slots] attention sequence of each slot, -1 in padding

    /* Encodings of the rule, each tested against the definition:
     * - per key: q sees k iff k <= q < key_end[k] (key_end = subtree_end of k's node; k in padding);
     * - per query: layout_key_ranges, the ancestors' slot ranges then its own up to itself;
     * - per query bounds, for kernels that skip tiles: the keys lie in [kv_lo, shared_end) or
     *   [seg_lo, q]: kv_lo = the root's start, shared_end = the parent's end (kv_lo when no
     *   parent), seg_lo = its node's start. Exact for padded, packed and prefix (at most one
     *   ancestor range), a superset for deeper trees. kv_lo == -1 in padding. */
    int32_t *key_end;    // [n_slots]
    int32_t *kv_lo;      // [n_slots]
    int32_t *shared_end; // [n_slots]
    int32_t *seg_lo;     // [n_slots]

    int n_seqs;
    LayoutSeq *seqs;     // [n_seqs] in slot order
    int n_segs;
    LayoutSeg *segs;     // [n_segs] leaves of a two-level layout in slot order; 0 otherwise

    /* Loss pairs: a loss-carrying token is predicted from the hidden state of the previous token
     * of its path: a segment's first token from its parent's last token, the others from the
     * token before them. A token of a loss-carrying segment written once for n paths (prefix's
     * shared path, a tree's inner segment) is one pair of weight n, so the weighted sum is the
     * same in every layout and its logits are computed once. Stably sorted by loss_row, so equal
     * rows are adjacent (a parent's last token predicts each child's first: one row, several
     * targets). */
    size_t n_loss;       // loss pairs
    int32_t *loss_row;   // [n_loss] hidden-state slot
    int32_t *loss_target;// [n_loss] target token id
    int32_t *loss_weight;// [n_loss] paths the pair stands for, >= 1
    size_t n_loss_terms; // sum of the weights: loss terms over all paths (the same in every layout)

    size_t attn_pairs;   // allowed (q, k) pairs, for FLOPs (from key_end)
    size_t n_loss_rows;  // distinct loss_row values: the rows the LM head runs on

    /* Asked for prefix: its groups (parents of leaves) and how many share their path
     * (strategies/prefix_share.h); 0 and 0 for the other strategies. */
    int n_prefix_groups, n_shared_groups;
} Layout;

int layout_build(Layout *out, Strategy s, const GroupBatch *g); // 0 or -1 (out of memory / bad input)
int layout_build_forest(Layout *out, Strategy s, const Forest *f); // 0 or -1; prefix shares every group

/* The same, with prefix's per-group choice by the rule `share` (prefix_share.h; NULL: every
 * group shares, as layout_build_forest; other strategies ignore it). An unshared group's leaves
 * are written as documents [path, leaf] (one root node each, positions from 0, loss weight 1)
 * where the group would be; when no group shares, the layout is the padded strategy's (strategy
 * STRATEGY_PADDED, the same rows and order as layout_build_forest(PADDED) builds), so the prefix
 * step is then the padded step. n_prefix_groups / n_shared_groups say what was chosen.
 * Why not a padded section beside shared groups: a Layout has one row shape and every attention
 * backend one method per layout; mixing right-padded rows with ragged groups would split every
 * backend's plan and memory figure in two. */
typedef struct PrefixShare PrefixShare;
int layout_build_forest_share(Layout *out, Strategy s, const Forest *f, const PrefixShare *share); // 0 or -1
int layout_build_share(Layout *out, Strategy s, const GroupBatch *g, const PrefixShare *share); // 0 or -1
void layout_free(Layout *l);

// The mask rule from the definition (nodes and their parents).
static inline int layout_allows(const Layout *l, size_t q, size_t k) {
    if (k > q) return 0;
    int32_t nq = l->node_of[q], nk = l->node_of[k];
    if (nq < 0 || nk < 0) return 0;
    for (int32_t a = nq; a >= 0; a = l->nodes[a].parent)
        if (a == nk) return 1;
    return 0;
}

// The mask rule from the per-key encoding; must agree with layout_allows (tested).
static inline int layout_allows_key_end(const Layout *l, size_t q, size_t k) {
    return k <= q && (int64_t)q < l->key_end[k];
}

// The mask rule from the bounds: exact when layout_bounds_exact, else a superset (tested).
static inline int layout_allows_ranges(const Layout *l, size_t q, size_t k) {
    int32_t lo = l->kv_lo[q];
    if (lo < 0 || k > q) return 0;
    return ((int64_t)k >= lo && (int64_t)k < l->shared_end[q]) || (int64_t)k >= l->seg_lo[q];
}
static inline int layout_bounds_exact(const Layout *l) { return l->max_depth <= 2; }

/* The keys query q may see, as disjoint half-open slot ranges [lo[i], hi[i]) in increasing order:
 * its ancestors' nodes (touching ones merged), then its own node up to itself. At most
 * PB_MAX_DEPTH ranges; returns their number, 0 in padding. */
static inline int layout_key_ranges(const Layout *l, size_t q, int64_t lo[PB_MAX_DEPTH], int64_t hi[PB_MAX_DEPTH]) {
    int32_t n = l->node_of[q];
    if (n < 0) return 0;
    int64_t rlo[PB_MAX_DEPTH], rhi[PB_MAX_DEPTH];
    int m = 0; // from q's node up to the root: reversed order
    rlo[m] = l->nodes[n].start; rhi[m++] = (int64_t)q + 1;
    for (int32_t a = l->nodes[n].parent; a >= 0 && m < PB_MAX_DEPTH; a = l->nodes[a].parent) {
        int64_t a_lo = l->nodes[a].start, a_hi = a_lo + l->nodes[a].len;
        if (a_hi == rlo[m - 1]) rlo[m - 1] = a_lo; // touches the range after it: merge
        else { rlo[m] = a_lo; rhi[m++] = a_hi; }
    }
    for (int i = 0; i < m; i++) { lo[i] = rlo[m - 1 - i]; hi[i] = rhi[m - 1 - i]; }
    return m;
}

#endif
