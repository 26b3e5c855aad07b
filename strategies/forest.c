/*
 * forest.c: forests of segments (forest.h): structure check, construction (random ids, or from
 * a GroupBatch), and the depth-first walk the layouts share.
 */
#include "forest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "layout.h"

void forest_free(Forest *f) {
    if (!f) return;
    free(f->len); free(f->parent); free(f->loss); free(f->off); free(f->ids);
    memset(f, 0, sizeof *f);
}

int forest_check(int n, const int32_t *len, const int32_t *parent, char *err, size_t errlen) {
    if (n < 1 || n > PB_MAX_SEGMENTS) {
        snprintf(err, errlen, "%d segments (need 1..%d)", n, PB_MAX_SEGMENTS);
        return -1;
    }
    for (int s = 0; s < n; s++) {
        if (len[s] < 1) { snprintf(err, errlen, "segment %d: length %d (need >= 1)", s, len[s]); return -1; }
        if (parent[s] < -1 || parent[s] >= n || parent[s] == s) {
            snprintf(err, errlen, "segment %d: parent %d is not another segment", s, parent[s]);
            return -1;
        }
    }
    // Walk up from every segment: more than PB_MAX_DEPTH steps is a cycle or too deep.
    int64_t longest = 0, padded_total = 0;
    for (int s = 0; s < n; s++) {
        int steps = 0;
        int64_t path = 0;
        for (int a = s; a >= 0 && steps <= PB_MAX_DEPTH; a = parent[a], steps++) path += len[a];
        if (steps > PB_MAX_DEPTH) {
            int a = s;
            for (int i = 0; i <= n && a >= 0; i++) a = parent[a];
            if (a >= 0) snprintf(err, errlen, "segment %d: its parents form a cycle", s);
            else snprintf(err, errlen, "segment %d: deeper than %d levels", s, PB_MAX_DEPTH);
            return -1;
        }
        if (path > longest) longest = path;
    }
    // padded writes every path whole: the slot count of the largest layout
    uint8_t *has_child = calloc((size_t)n, 1);
    if (!has_child) { snprintf(err, errlen, "out of memory"); return -1; }
    for (int s = 0; s < n; s++) if (parent[s] >= 0) has_child[parent[s]] = 1;
    int64_t n_leaves = 0;
    for (int s = 0; s < n; s++) {
        if (has_child[s]) continue;
        n_leaves++;
        for (int a = s; a >= 0; a = parent[a]) padded_total += len[a];
    }
    free(has_child);
    if (padded_total > INT32_MAX - 1 || longest * n_leaves > INT32_MAX - 1) {
        snprintf(err, errlen, "too long: %lld tokens over %lld paths (longest %lld) exceed int32 token slots",
                 (long long)padded_total, (long long)n_leaves, (long long)longest);
        return -1;
    }
    return 0;
}

static int forest_alloc(Forest *f, int n, size_t n_ids) {
    memset(f, 0, sizeof *f);
    f->n_segs = n;
    f->n_ids = n_ids;
    f->len = malloc((size_t)n * sizeof *f->len);
    f->parent = malloc((size_t)n * sizeof *f->parent);
    f->loss = malloc((size_t)n);
    f->off = malloc((size_t)n * sizeof *f->off);
    f->ids = malloc((n_ids ? n_ids : 1) * sizeof *f->ids);
    if (!f->len || !f->parent || !f->loss || !f->off || !f->ids) { forest_free(f); return -1; }
    return 0;
}

int forest_make(Forest *f, int n, const int32_t *len, const int32_t *parent, const uint8_t *loss, int vocab,
                uint64_t seed, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    if (vocab <= 0) { snprintf(err, errlen, "vocabulary %d", vocab); return -1; }
    if (forest_check(n, len, parent, err, errlen)) return -1;
    size_t n_ids = 0;
    for (int s = 0; s < n; s++) n_ids += (size_t)len[s];
    if (forest_alloc(f, n, n_ids)) { snprintf(err, errlen, "out of memory"); return -1; }
    size_t o = 0;
    for (int s = 0; s < n; s++) {
        f->len[s] = len[s];
        f->parent[s] = parent[s];
        f->loss[s] = loss[s] ? 1 : 0;
        f->off[s] = o;
        o += (size_t)len[s];
    }
    Rng rng;
    rng_seed(&rng, seed);
    for (size_t i = 0; i < n_ids; i++) f->ids[i] = (int32_t)rng_range(&rng, 0, vocab - 1);
    return 0;
}

int forest_from_groups(Forest *f, const GroupBatch *g) {
    memset(f, 0, sizeof *f);
    if (!g || g->n_groups <= 0 || g->k < 1 || g->k > PB_MAX_COMPLETIONS || !g->ids) return -1;
    int B = g->n_groups, K = g->k, n = B * (K + 1);
    if (forest_alloc(f, n, g->n_ids)) return -1;
    memcpy(f->ids, g->ids, g->n_ids * sizeof *f->ids);
    for (int b = 0; b < B; b++) {
        int root = b * (K + 1);
        f->len[root] = g->prompt_len[b];
        f->parent[root] = -1;
        f->loss[root] = 0;
        f->off[root] = g->prompt_off[b];
        for (int c = 0; c < K; c++) {
            size_t i = (size_t)b * K + c;
            f->len[root + 1 + c] = g->comp_len[i];
            f->parent[root + 1 + c] = root;
            f->loss[root + 1 + c] = 1;
            f->off[root + 1 + c] = g->comp_off[i];
        }
    }
    for (int s = 0; s < n; s++)
        if (f->len[s] < 1 || f->off[s] > f->n_ids || (size_t)f->len[s] > f->n_ids - f->off[s]) {
            forest_free(f);
            return -1;
        }
    return 0;
}

void forest_walk_free(ForestWalk *w) {
    if (!w) return;
    free(w->order); free(w->depth); free(w->paths); free(w->leaf);
    free(w->child_off); free(w->child); free(w->leaf_children);
    memset(w, 0, sizeof *w);
}

int forest_walk(ForestWalk *w, const Forest *f) {
    memset(w, 0, sizeof *w);
    int n = f->n_segs;
    w->n = n;
    w->order = malloc((size_t)n * sizeof *w->order);
    w->depth = malloc((size_t)n * sizeof *w->depth);
    w->paths = calloc((size_t)n, sizeof *w->paths);
    w->leaf = malloc((size_t)n);
    // children in index order as CSR (child_off / child), the walk's stack
    int32_t *child_off = w->child_off = calloc((size_t)n + 1, sizeof *child_off);
    int32_t *child = w->child = malloc((size_t)n * sizeof *child);
    w->leaf_children = calloc((size_t)n, sizeof *w->leaf_children);
    int32_t *fill = malloc((size_t)n * sizeof *fill), *stack = malloc((size_t)n * sizeof *stack);
    if (!w->order || !w->depth || !w->paths || !w->leaf || !child_off || !child || !w->leaf_children || !fill ||
        !stack) {
        free(fill); free(stack);
        forest_walk_free(w);
        return -1;
    }
    for (int s = 0; s < n; s++) if (f->parent[s] >= 0) child_off[f->parent[s] + 1]++;
    for (int s = 0; s < n; s++) child_off[s + 1] += child_off[s];
    for (int s = 0; s < n; s++) fill[s] = child_off[s];
    for (int s = 0; s < n; s++) if (f->parent[s] >= 0) child[fill[f->parent[s]]++] = s;
    // preorder: roots and children pushed last-first so they pop in index order
    int top = 0, m = 0;
    for (int r = n - 1; r >= 0; r--) if (f->parent[r] < 0) stack[top++] = r;
    while (top) {
        int s = stack[--top];
        w->order[m++] = s;
        w->depth[s] = f->parent[s] < 0 ? 0 : w->depth[f->parent[s]] + 1;
        w->leaf[s] = child_off[s + 1] == child_off[s];
        if (w->depth[s] + 1 > w->max_depth) w->max_depth = w->depth[s] + 1;
        for (int i = child_off[s + 1]; i-- > child_off[s];) stack[top++] = child[i];
    }
    // leaves below each segment: children come after parents in preorder, so walk it backwards
    for (int i = n; i-- > 0;) {
        int s = w->order[i];
        if (w->leaf[s]) { w->paths[s]++; w->n_leaves++; }
        if (f->parent[s] >= 0) {
            w->paths[f->parent[s]] += w->paths[s];
            w->leaf_children[f->parent[s]] += w->leaf[s];
        }
    }
    free(fill); free(stack);
    return 0;
}
