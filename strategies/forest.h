/*
 * forest.h: the input of every layout (DESIGN.md section 7). A batch is a forest of segments;
 * each has a length, a parent (or none) and whether its tokens carry loss. A logical sequence is
 * a root-to-leaf path. The flat group (prompt P, completions c_1..c_K) is the depth-2 forest
 * with P the root (forest_from_groups).
 *
 * Order: the layouts walk the forest depth-first from the roots in index order, children in
 * index order; the paths are its leaves in that order. Nothing else orders a batch.
 */
#ifndef PB_FOREST_H
#define PB_FOREST_H

#include <stddef.h>
#include <stdint.h>

#define PB_MAX_DEPTH 16              // segments on one path
#define PB_MAX_SEGMENTS (1 << 20)    // segments in one batch

typedef struct GroupBatch GroupBatch;

typedef struct Forest {
    int n_segs;
    int32_t *len;     // [n_segs] tokens, >= 1
    int32_t *parent;  // [n_segs] parent segment, -1 for a root
    uint8_t *loss;    // [n_segs] 1: its tokens carry loss
    size_t *off;      // [n_segs] offset of its tokens in ids
    int32_t *ids;     // all token ids, segment after segment
    size_t n_ids;
} Forest;

/* Checks the structure: n >= 1, every parent -1 or another segment, no cycle, depth <=
 * PB_MAX_DEPTH, lengths >= 1, a padded row (longest path) and the padded layout (sum of all
 * paths) within int32 slots. 0, or -1 with one line naming the first bad segment in err. */
int forest_check(int n, const int32_t *len, const int32_t *parent, char *err, size_t errlen);

/* A forest of the given structure with seeded random ids in [0, vocab). 0, or -1 with err. */
int forest_make(Forest *f, int n, const int32_t *len, const int32_t *parent, const uint8_t *loss, int vocab,
                uint64_t seed, char *err, size_t errlen);
// The depth-2 forest of a GroupBatch: per group the prompt (no loss), then its K completions
// (loss), the same ids. 0 or -1 (bad input / out of memory).
int forest_from_groups(Forest *f, const GroupBatch *g);
void forest_free(Forest *f);

/* The depth-first walk every layout uses. order[i]: the i-th segment in depth-first order;
 * depth[s] (root 0); paths[s]: leaves at or below s (the weight of its loss terms where it is
 * written once for all of them); leaf[s]: 1 if s has no child. Arrays of n_segs. */
typedef struct ForestWalk {
    int n;
    int32_t *order, *depth, *paths;
    uint8_t *leaf;
    int32_t *child_off, *child; // children of s: child[child_off[s] .. child_off[s + 1]) in index order
    int32_t *leaf_children;     // [n_segs] children of s that are leaves
    int n_leaves, max_depth; // max_depth: levels (1 + the deepest depth)
} ForestWalk;

int forest_walk(ForestWalk *w, const Forest *f); // 0 or -1 (out of memory; f must pass forest_check)
void forest_walk_free(ForestWalk *w);

#endif
