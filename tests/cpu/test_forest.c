/*
 * test_forest: the four layouts of random forests of depth 1-5 against DESIGN.md section 7,
 * checked from the definition, and forest_check's verdicts on malformed forests.
 *
 * Every layout holds the forest's logical sequences (root-to-leaf paths). The test walks the
 * forest itself (recursively) and places token j of path p by its own arithmetic (slot_of);
 * everything else follows from that: q sees exactly the slots of the tokens before it on a path
 * through it, positions are the index on the path, and the loss terms are, over all paths,
 * (slot of the previous path token, token) for every loss-carrying token with a predecessor.
 * The layout's mask (definition, key_end, key ranges, bounds), tokens, padding, loss pairs and
 * attn_pairs must all agree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../strategies/layout_estimate.h"
#include "tiny.h"


enum { MAX_SEGS = 96, MAX_PATHS = 96 };

// The test's own walk: paths (segments root first), and each layout's offsets.
typedef struct Walk {
    int n_paths;
    int path_n[MAX_PATHS], path[MAX_PATHS][PB_MAX_DEPTH];
    int32_t path_len[MAX_PATHS];
    int32_t tree_off[MAX_SEGS];   // tree: slot of each segment
    int32_t group_off[MAX_SEGS];  // prefix: slot of a group (parent of leaves, or lone root leaf)
    int32_t leaf_off[MAX_SEGS];   // prefix: slot of a leaf inside its parent's group
    int32_t tree_at, prefix_at;
    int chain[PB_MAX_DEPTH], depth;
} Walk;

static int32_t chain_len(const Forest *f, const int *chain, int n) {
    int32_t t = 0;
    for (int i = 0; i < n; i++) t += f->len[chain[i]];
    return t;
}

static void visit(const Forest *f, Walk *w, int s) {
    w->chain[w->depth++] = s;
    w->tree_off[s] = w->tree_at;
    w->tree_at += f->len[s];
    int kids = 0, leaf_kids = 0;
    for (int c = 0; c < f->n_segs; c++)
        if (f->parent[c] == s) {
            kids++;
            int grand = 0;
            for (int g = 0; g < f->n_segs; g++) grand |= f->parent[g] == c;
            leaf_kids += !grand;
        }
    if (!kids) { // a path ends here
        int p = w->n_paths++;
        w->path_n[p] = w->depth;
        memcpy(w->path[p], w->chain, sizeof w->chain);
        w->path_len[p] = chain_len(f, w->chain, w->depth);
        if (w->depth == 1) { w->group_off[s] = w->prefix_at; w->prefix_at += f->len[s]; }
    }
    if (leaf_kids) {
        w->group_off[s] = w->prefix_at;
        w->prefix_at += chain_len(f, w->chain, w->depth);
        for (int c = 0; c < f->n_segs; c++) {
            if (f->parent[c] != s) continue;
            int grand = 0;
            for (int g = 0; g < f->n_segs; g++) grand |= f->parent[g] == c;
            if (grand) continue;
            w->leaf_off[c] = w->prefix_at;
            w->prefix_at += f->len[c];
        }
    }
    for (int c = 0; c < f->n_segs; c++)
        if (f->parent[c] == s) visit(f, w, c);
    w->depth--;
}

// Slot of token j of path p in a layout of strategy st; its segment and offset into it via *seg, *i.
static size_t slot_of(const Forest *f, const Walk *w, Strategy st, size_t row_len, int p, int32_t j, int *seg_out) {
    int32_t at = 0, i = 0;
    int k = 0;
    for (; k < w->path_n[p]; k++) { // which segment of the path holds j
        int s = w->path[p][k];
        if (j < at + f->len[s]) { i = j - at; break; }
        at += f->len[s];
    }
    int seg = w->path[p][k];
    *seg_out = seg;
    size_t off = 0;
    switch (st) {
    case STRATEGY_PADDED: return (size_t)p * row_len + (size_t)j;
    case STRATEGY_PACKED:
        for (int q = 0; q < p; q++) off += (size_t)w->path_len[q];
        return off + (size_t)j;
    case STRATEGY_TREE: return (size_t)w->tree_off[seg] + (size_t)i;
    default: {
        int n = w->path_n[p], leaf = w->path[p][n - 1];
        if (n == 1) return (size_t)w->group_off[leaf] + (size_t)j;
        int32_t shared = w->path_len[p] - f->len[leaf];
        if (j < shared) return (size_t)w->group_off[w->path[p][n - 2]] + (size_t)j;
        return (size_t)w->leaf_off[leaf] + (size_t)(j - shared);
    }
    }
}

static int cmp_pair(const void *a, const void *b) {
    const int32_t *x = a, *y = b;
    return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

static void check_layout(const Layout *l, const Forest *f, const Walk *w, Strategy st, int forest_depth, const char *tag) {
    int32_t longest = 0;
    size_t total = 0;
    for (int p = 0; p < w->n_paths; p++) { if (w->path_len[p] > longest) longest = w->path_len[p]; total += (size_t)w->path_len[p]; }
    size_t want_slots = st == STRATEGY_PADDED ? (size_t)w->n_paths * (size_t)longest : st == STRATEGY_PACKED ? total
                        : st == STRATEGY_TREE ? (size_t)w->tree_at : (size_t)w->prefix_at;
    CHECK(l->n_slots == want_slots, "%s n_slots %zu, want %zu", tag, l->n_slots, want_slots);
    CHECK(l->n_rows == (st == STRATEGY_PADDED ? w->n_paths : 1), "%s n_rows", tag);
    int want_depth = st <= STRATEGY_PACKED ? 1 : st == STRATEGY_TREE ? forest_depth : (forest_depth > 1 ? 2 : 1);
    CHECK(l->max_depth == want_depth, "%s max_depth %d, want %d", tag, l->max_depth, want_depth);
    if (l->n_slots != want_slots) return;
    size_t n = l->n_slots, row_len = (size_t)l->row_len;
    unsigned char *covered = calloc(n, 1), *allow = calloc(n * n, 1);
    int32_t (*pairs)[2] = malloc((total + 1) * sizeof *pairs);
    size_t n_real = 0, n_pairs = 0;
    for (int p = 0; p < w->n_paths; p++)
        for (int32_t j = 0; j < w->path_len[p]; j++) {
            int seg, sprev;
            size_t q = slot_of(f, w, st, row_len, p, j, &seg);
            int32_t i = j;
            for (int k = 0; w->path[p][k] != seg; k++) i -= f->len[w->path[p][k]];
            if (!covered[q]) n_real++;
            covered[q] = 1;
            CHECK(l->tokens[q] == f->ids[f->off[seg] + (size_t)i], "%s token at %zu", tag, q);
            CHECK(l->pos[q] == j, "%s position at %zu: %d, want %d", tag, q, l->pos[q], j);
            for (int32_t jk = 0; jk <= j; jk++) allow[q * n + slot_of(f, w, st, row_len, p, jk, &sprev)] = 1;
            if (f->loss[seg] && j > 0) {
                pairs[n_pairs][0] = (int32_t)slot_of(f, w, st, row_len, p, j - 1, &sprev);
                pairs[n_pairs++][1] = l->tokens[q];
            }
        }
    CHECK(l->n_real == n_real, "%s n_real %zu, want %zu", tag, l->n_real, n_real);
    size_t n_allowed = 0;
    int bounds_exact = 1;
    for (size_t q = 0; q < n; q++) {
        if (!covered[q]) CHECK(l->tokens[q] == 0 && l->pos[q] == 0 && l->node_of[q] == -1 && l->seq_id[q] == -1 &&
                               l->kv_lo[q] == -1, "%s padding slot %zu", tag, q);
        int64_t lo[PB_MAX_DEPTH], hi[PB_MAX_DEPTH];
        int nr = layout_key_ranges(l, q, lo, hi);
        for (int r = 0; r < nr; r++) CHECK(lo[r] < hi[r] && (r == 0 || hi[r - 1] < lo[r]), "%s ranges of %zu", tag, q);
        for (size_t k = 0; k < n; k++) {
            int want = allow[q * n + k], in_range = 0;
            for (int r = 0; r < nr; r++) in_range |= (int64_t)k >= lo[r] && (int64_t)k < hi[r];
            n_allowed += (size_t)want;
            CHECK(layout_allows(l, q, k) == want, "%s layout_allows(%zu, %zu) != %d", tag, q, k, want);
            CHECK(layout_allows_key_end(l, q, k) == want, "%s key_end rule (%zu, %zu) != %d", tag, q, k, want);
            CHECK(in_range == want, "%s key ranges (%zu, %zu) != %d", tag, q, k, want);
            int b = layout_allows_ranges(l, q, k);
            CHECK(b >= want, "%s bounds miss (%zu, %zu)", tag, q, k);
            bounds_exact &= b == want;
        }
    }
    if (layout_bounds_exact(l)) CHECK(bounds_exact, "%s bounds claimed exact but are not", tag);
    CHECK(l->attn_pairs == n_allowed, "%s attn_pairs %zu, brute force %zu", tag, l->attn_pairs, n_allowed);
    // a pair of weight w stands for w terms: expanded, the layout's pairs are the paths' terms
    CHECK(l->n_loss_terms == n_pairs, "%s n_loss_terms %zu, want %zu", tag, l->n_loss_terms, n_pairs);
    if (l->n_loss_terms == n_pairs) {
        int32_t (*got)[2] = malloc((n_pairs + 1) * sizeof *got);
        size_t distinct = 0, m = 0, sum = 0;
        for (size_t i = 0; i < l->n_loss; i++) {
            CHECK(l->loss_weight[i] >= 1, "%s loss weight %zu: %d", tag, i, l->loss_weight[i]);
            for (int32_t k = 0; k < l->loss_weight[i] && m < n_pairs; k++, m++) { got[m][0] = l->loss_row[i]; got[m][1] = l->loss_target[i]; }
            sum += (size_t)l->loss_weight[i];
            if (i) CHECK(l->loss_row[i] >= l->loss_row[i - 1], "%s loss rows not sorted at %zu", tag, i);
            distinct += i == 0 || l->loss_row[i] != l->loss_row[i - 1];
        }
        CHECK(sum == n_pairs && (st <= STRATEGY_PACKED ? l->n_loss == n_pairs : l->n_loss <= n_pairs),
              "%s weights sum %zu over %zu pairs, want %zu terms", tag, sum, l->n_loss, n_pairs);
        qsort(got, n_pairs, sizeof *got, cmp_pair);
        qsort(pairs, n_pairs, sizeof *pairs, cmp_pair);
        CHECK(n_pairs == 0 || memcmp(got, pairs, n_pairs * sizeof *got) == 0, "%s loss pairs differ", tag);
        CHECK(l->n_loss_rows == distinct, "%s n_loss_rows", tag);
        free(got);
    }
    size_t in_seqs = 0;
    for (int i = 0; i < l->n_seqs; i++) {
        in_seqs += (size_t)l->seqs[i].len;
        for (int32_t j = 0; j < l->seqs[i].len; j++) CHECK(l->seq_id[l->seqs[i].start + j] == i, "%s seq %d", tag, i);
    }
    CHECK(in_seqs == n_real, "%s sequences cover %zu of %zu real slots", tag, in_seqs, n_real);
    free(covered); free(allow); free(pairs);
}

static void expect_bad(int n, const int32_t *len, const int32_t *parent, const char *what, const char *needle) {
    char err[200] = "";
    int rc = forest_check(n, len, parent, err, sizeof err);
    CHECK(rc == -1 && strstr(err, needle), "%s: rc %d, message '%s' (want '%s')", what, rc, err, needle);
}

static void check_malformed(void) {
    int32_t len[4] = {3, 2, 2, 1}, cyc[4] = {-1, 2, 3, 1}, miss[4] = {-1, 0, 7, 0}, self[4] = {-1, 1, 0, 0};
    int32_t good[4] = {-1, 0, 0, 1}, zero[4] = {3, 0, 2, 1};
    char err[200];
    CHECK(forest_check(4, len, good, err, sizeof err) == 0, "good forest rejected: %s", err);
    expect_bad(4, len, cyc, "cycle", "cycle");
    expect_bad(4, len, miss, "missing parent", "parent 7");
    expect_bad(4, len, self, "own parent", "parent 1");
    expect_bad(4, zero, good, "zero length", "length 0");
    expect_bad(0, len, good, "no segments", "0 segments");
    int32_t deep_len[PB_MAX_DEPTH + 1], deep_par[PB_MAX_DEPTH + 1];
    for (int i = 0; i <= PB_MAX_DEPTH; i++) { deep_len[i] = 1; deep_par[i] = i - 1; }
    expect_bad(PB_MAX_DEPTH + 1, deep_len, deep_par, "too deep", "deeper than");
    int32_t big[3] = {1 << 30, 1 << 30, 1 << 30}, fan[3] = {-1, 0, 0};
    expect_bad(3, big, fan, "too long", "too long");
    // layout_build_forest refuses what forest_check refuses
    Forest f;
    CHECK(tiny_forest(&f, 3, 3, 50, 9) == 0, "tiny_forest");
    int32_t keep = f.parent[0];
    f.parent[0] = 0;
    Layout l;
    for (int s = 0; s < STRATEGY_COUNT; s++) CHECK(layout_build_forest(&l, (Strategy)s, &f) == -1, "cycle accepted");
    f.parent[0] = keep;
    f.ids[0] = -1;
    CHECK(layout_build_forest(&l, STRATEGY_TREE, &f) == -1, "negative id accepted");
    forest_free(&f);
}

int main(void) {
    int n_layouts = 0;
    for (int depth = 1; depth <= 5; depth++)
        for (uint64_t seed = 1; seed <= 10; seed++) {
            Forest f;
            if (tiny_forest(&f, depth, 4, 1000, seed * 31 + (uint64_t)depth)) { CHECK(0, "tiny_forest"); continue; }
            Walk w;
            memset(&w, 0, sizeof w);
            for (int s = 0; s < f.n_segs; s++) if (f.parent[s] < 0) visit(&f, &w, s);
            for (int s = 0; s < STRATEGY_COUNT; s++) {
                Layout l;
                char tag[80];
                snprintf(tag, sizeof tag, "%s depth=%d seed=%llu (%d segments)", strategy_name((Strategy)s), depth,
                         (unsigned long long)seed, f.n_segs);
                if (layout_build_forest(&l, (Strategy)s, &f)) { CHECK(0, "%s: layout_build_forest failed", tag); continue; }
                check_layout(&l, &f, &w, (Strategy)s, depth, tag);
                LayoutCounts e; // the closed form the harness sizes cells with, before building
                CHECK(layout_estimate_forest((Strategy)s, f.n_segs, f.len, f.parent, f.loss, &e) == 0 &&
                          e.n_slots == (int64_t)l.n_slots && e.n_real == (int64_t)l.n_real &&
                          e.attn_pairs == (int64_t)l.attn_pairs && e.n_loss == (int64_t)l.n_loss &&
                          e.n_loss_rows == (int64_t)l.n_loss_rows,
                      "%s: estimate %lld slots %lld real %lld pairs %lld loss %lld rows, built %zu %zu %zu %zu %zu", tag,
                      (long long)e.n_slots, (long long)e.n_real, (long long)e.attn_pairs, (long long)e.n_loss,
                      (long long)e.n_loss_rows, l.n_slots, l.n_real, l.attn_pairs, l.n_loss, l.n_loss_rows);
                layout_free(&l);
                n_layouts++;
            }
            forest_free(&f);
        }
    check_malformed();
    printf("test_forest: %d layouts checked\n", n_layouts);
    return test_finish("test_forest");
}
