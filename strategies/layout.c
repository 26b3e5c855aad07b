/*
 * layout.c: builds the four batch layouts of DESIGN.md sections 1 and 7 from a Forest.
 *
 * Every layout is written segment by segment (seg_write) into nodes of the mask tree
 * (node_add): padded and packed write each path as one node, prefix writes a parent of leaves'
 * path as one node and each leaf as a child node, tree writes every segment as its own node
 * under its parent's. Loss pairs are emitted as segments are written, each weighted by the
 * paths it stands for, and sorted by row at the end. Everything else (key_end, the
 * bounds, sequences, attn_pairs) is derived from the nodes in layout_finish, so the mask has
 * one source.
 */
#include "layout.h"
#include "prefix_share.h"

#include <stdlib.h>
#include <string.h>

void layout_free(Layout *l) {
    if (!l) return;
    free(l->tokens); free(l->pos); free(l->nodes); free(l->node_of); free(l->seq_id); free(l->key_end);
    free(l->kv_lo); free(l->shared_end); free(l->seg_lo);
    free(l->seqs); free(l->segs); free(l->loss_row); free(l->loss_target); free(l->loss_weight);
    memset(l, 0, sizeof *l);
}

// Structure sound, every segment inside ids, every id non-negative.
static int forest_valid(const Forest *f) {
    char err[160];
    if (!f || !f->len || !f->parent || !f->loss || !f->off || !f->ids) return 0;
    if (forest_check(f->n_segs, f->len, f->parent, err, sizeof err)) return 0;
    for (int s = 0; s < f->n_segs; s++)
        if (f->off[s] > f->n_ids || (size_t)f->len[s] > f->n_ids - f->off[s]) return 0;
    for (size_t i = 0; i < f->n_ids; i++)
        if (f->ids[i] < 0) return 0;
    return 1;
}

static int32_t node_add(Layout *l, int32_t start, int32_t len, int32_t parent) {
    int32_t d = parent < 0 ? 0 : l->nodes[parent].depth + 1;
    l->nodes[l->n_nodes] = (LayoutNode){.start = start, .len = len, .parent = parent, .depth = d, .subtree_end = start + len};
    if (d + 1 > l->max_depth) l->max_depth = d + 1;
    return l->n_nodes++;
}

// Writes segment seg at slot `at` in node `node`, positions from pos0. Its first token is
// predicted from slot prev (-1: none, a root); its loss pairs carry `weight`.
static void seg_write(Layout *l, const Forest *f, int seg, int32_t at, int32_t pos0, int32_t node, int32_t prev,
                      int32_t weight) {
    const int32_t *ids = f->ids + f->off[seg];
    for (int32_t j = 0; j < f->len[seg]; j++) {
        l->tokens[at + j] = ids[j];
        l->pos[at + j] = pos0 + j;
        l->node_of[at + j] = node;
    }
    if (!f->loss[seg]) return;
    for (int32_t j = 0; j < f->len[seg]; j++) {
        int32_t row = j ? at + j - 1 : prev;
        if (row < 0) continue;
        l->loss_row[l->n_loss] = row;
        l->loss_target[l->n_loss] = ids[j];
        l->loss_weight[l->n_loss++] = weight;
        l->n_loss_terms += (size_t)weight;
    }
}

// The path from a root down to seg, root first, into path[]; returns its segment count.
static int path_of(const Forest *f, int seg, int32_t path[PB_MAX_DEPTH]) {
    int n = 0;
    for (int a = seg; a >= 0; a = f->parent[a]) path[n++] = a;
    for (int i = 0; i < n / 2; i++) { int32_t t = path[i]; path[i] = path[n - 1 - i]; path[n - 1 - i] = t; }
    return n;
}

static int32_t path_len(const Forest *f, int seg) {
    int32_t n = 0;
    for (int a = seg; a >= 0; a = f->parent[a]) n += f->len[a];
    return n;
}

// Writes the path to seg as one node starting at `at`; returns the node. Loss terms x weight.
static int32_t path_write(Layout *l, const Forest *f, int seg, int32_t at, int32_t weight) {
    int32_t path[PB_MAX_DEPTH];
    int n = path_of(f, seg, path);
    int32_t node = node_add(l, at, path_len(f, seg), -1), pos = 0;
    for (int i = 0; i < n; i++) {
        seg_write(l, f, path[i], at + pos, pos, node, i ? at + pos - 1 : -1, weight);
        pos += f->len[path[i]];
    }
    return node;
}

// Padding slots: token 0, position 0, no node, empty bounds (kv_lo -1; shared_end and seg_lo
// chosen so both ranges are empty even for a kernel that ignores kv_lo), key_end = itself.
static void pad_write(Layout *l, size_t s) {
    l->tokens[s] = 0;
    l->pos[s] = 0;
    l->node_of[s] = -1;
}

// Everything derived from the nodes: subtree ends, key_end, bounds, sequences, segments, counts.
static int layout_finish(Layout *l) {
    for (int i = l->n_nodes; i-- > 0;) { // children come after their parent
        int32_t p = l->nodes[i].parent;
        if (p >= 0 && l->nodes[i].subtree_end > l->nodes[p].subtree_end) l->nodes[p].subtree_end = l->nodes[i].subtree_end;
    }
    int n_roots = 0, n_leaves2 = 0, two_level = l->strategy >= STRATEGY_PREFIX && l->max_depth <= 2;
    int32_t *seq_of_node = malloc((size_t)l->n_nodes * sizeof *seq_of_node);
    if (!seq_of_node) return -1;
    for (int i = 0; i < l->n_nodes; i++) {
        if (l->nodes[i].parent < 0) seq_of_node[i] = n_roots++;
        else { seq_of_node[i] = seq_of_node[l->nodes[i].parent]; n_leaves2++; }
    }
    l->seqs = malloc((size_t)n_roots * sizeof *l->seqs);
    l->segs = two_level && n_leaves2 ? malloc((size_t)n_leaves2 * sizeof *l->segs) : NULL;
    if (!l->seqs || (two_level && n_leaves2 && !l->segs)) { free(seq_of_node); return -1; }
    for (int i = 0; i < l->n_nodes; i++) {
        const LayoutNode *n = &l->nodes[i];
        if (n->parent < 0)
            l->seqs[l->n_seqs++] = (LayoutSeq){.start = n->start, .len = n->subtree_end - n->start,
                                               .shared_len = l->strategy >= STRATEGY_PREFIX ? n->len : 0};
        else if (two_level)
            l->segs[l->n_segs++] = (LayoutSeg){.seq = seq_of_node[i], .start = n->start, .len = n->len};
    }
    for (size_t s = 0; s < l->n_slots; s++) {
        int32_t ni = l->node_of[s];
        if (ni < 0) {
            l->seq_id[s] = -1;
            l->key_end[s] = (int32_t)s;
            l->kv_lo[s] = l->shared_end[s] = -1;
            l->seg_lo[s] = (int32_t)s + 1;
            continue;
        }
        const LayoutNode *n = &l->nodes[ni];
        int32_t root = ni;
        while (l->nodes[root].parent >= 0) root = l->nodes[root].parent;
        l->seq_id[s] = seq_of_node[ni];
        l->key_end[s] = n->subtree_end;
        l->seg_lo[s] = n->start;
        if (n->parent < 0) {
            l->kv_lo[s] = l->shared_end[s] = n->start;
        } else {
            l->kv_lo[s] = l->nodes[root].start;
            l->shared_end[s] = l->nodes[n->parent].start + l->nodes[n->parent].len;
        }
        l->attn_pairs += (size_t)(n->subtree_end - (int32_t)s);
    }
    free(seq_of_node);
    // loss pairs: stable counting sort by row
    size_t *count = calloc(l->n_slots + 1, sizeof *count);
    size_t nl = l->n_loss ? l->n_loss : 1;
    int32_t *row = malloc(nl * sizeof *row), *tgt = malloc(nl * sizeof *tgt), *wt = malloc(nl * sizeof *wt);
    if (!count || !row || !tgt || !wt) { free(count); free(row); free(tgt); free(wt); return -1; }
    for (size_t i = 0; i < l->n_loss; i++) count[l->loss_row[i] + 1]++;
    for (size_t s = 0; s < l->n_slots; s++) count[s + 1] += count[s];
    for (size_t i = 0; i < l->n_loss; i++) {
        size_t at = count[l->loss_row[i]]++;
        row[at] = l->loss_row[i];
        tgt[at] = l->loss_target[i];
        wt[at] = l->loss_weight[i];
    }
    free(count);
    free(l->loss_row); free(l->loss_target); free(l->loss_weight);
    l->loss_row = row;
    l->loss_target = tgt;
    l->loss_weight = wt;
    for (size_t i = 0; i < l->n_loss; i++) // sorted by row: count the changes
        l->n_loss_rows += i == 0 || l->loss_row[i] != l->loss_row[i - 1];
    return 0;
}

/* prefix: whether each parent of leaves shares its path (share_of[seg]), by the rule (NULL:
 * all); counts groups and shared ones. -1: out of memory. */
static int choose_shares(const Forest *f, const ForestWalk *w, const PrefixShare *share, uint8_t *share_of,
                         int *n_groups, int *n_shared) {
    *n_groups = *n_shared = 0;
    for (int seg = 0; seg < f->n_segs; seg++) {
        if (!w->leaf_children[seg]) continue;
        LayoutCounts sh, un;
        if (share && layout_estimate_group(f, w, seg, &sh, &un)) return -1;
        share_of[seg] = !share || prefix_share_decide(share, &sh, &un, NULL);
        (*n_groups)++;
        *n_shared += share_of[seg];
    }
    return 0;
}

int layout_build_forest(Layout *out, Strategy s, const Forest *f) { return layout_build_forest_share(out, s, f, NULL); }

int layout_build_forest_share(Layout *out, Strategy s, const Forest *f, const PrefixShare *share) {
    memset(out, 0, sizeof *out);
    if (s < 0 || s >= STRATEGY_COUNT || !forest_valid(f)) return -1;
    ForestWalk w;
    if (forest_walk(&w, f)) return -1;
    int n = f->n_segs, n_groups = 0, n_shared = 0;
    uint8_t *share_of = malloc((size_t)n); // 1 everywhere but prefix's unshared groups
    if (share_of) memset(share_of, 1, (size_t)n);
    if (!share_of || (s == STRATEGY_PREFIX && choose_shares(f, &w, share, share_of, &n_groups, &n_shared))) {
        free(share_of);
        forest_walk_free(&w);
        return -1;
    }
    // sizes: every path whole (padded, packed), each parent of leaves' path once (prefix), each segment once (tree)
    size_t paths_tok = 0, longest = 0, tree_tok = 0, prefix_tok = 0, loss_cap = 0; // loss_cap: pairs in padded
    int n_nodes = 0;
    for (int i = 0; i < n; i++) {
        int seg = w.order[i];
        tree_tok += (size_t)f->len[seg];
        loss_cap += (size_t)f->len[seg] * (size_t)w.paths[seg];
        if (w.leaf[seg]) {
            size_t pl = (size_t)path_len(f, seg);
            paths_tok += pl;
            if (pl > longest) longest = pl;
            prefix_tok += (size_t)f->len[seg]; // a lone root leaf: its own node (counted as a leaf) in prefix
        } else if (w.leaf_children[seg]) { // shared: the path once (a node); else once per leaf child
            prefix_tok += (size_t)path_len(f, seg) * (size_t)(share_of[seg] ? 1 : w.leaf_children[seg]);
            n_nodes += share_of[seg];
        }
    }
    // every group the padded way, and the padded layout without padding (every path of one length):
    // the padded layout itself. With paths of several lengths padding would cost more than the rule
    // counted (it judged each group unpadded), so the groups stay documents in the prefix layout.
    if (s == STRATEGY_PREFIX && n_groups && !n_shared && paths_tok == (size_t)w.n_leaves * longest) {
        free(share_of);
        forest_walk_free(&w);
        if (layout_build_forest_share(out, STRATEGY_PADDED, f, NULL)) return -1;
        out->n_prefix_groups = n_groups;
        return 0;
    }
    Layout *l = out;
    l->strategy = s;
    size_t n_slots, n_real;
    switch (s) {
    case STRATEGY_PADDED: l->n_rows = w.n_leaves; n_slots = (size_t)w.n_leaves * longest; n_real = paths_tok; break;
    case STRATEGY_PACKED: l->n_rows = 1; n_slots = n_real = paths_tok; break;
    case STRATEGY_PREFIX: l->n_rows = 1; n_slots = n_real = prefix_tok; break;
    default:              l->n_rows = 1; n_slots = n_real = tree_tok; break;
    }
    n_nodes = s == STRATEGY_PREFIX ? n_nodes + w.n_leaves : s == STRATEGY_TREE ? n : w.n_leaves;
    if (n_slots > (size_t)PB_MAX_SLOTS) { free(share_of); forest_walk_free(&w); return -1; } // slot indices are int32
    l->row_len = (int)(n_slots / (size_t)l->n_rows);
    l->n_slots = n_slots;
    l->n_real = n_real;
    size_t ns = n_slots ? n_slots : 1;
    l->tokens = malloc(ns * sizeof(int32_t));
    l->pos = malloc(ns * sizeof(int32_t));
    l->node_of = malloc(ns * sizeof(int32_t));
    l->seq_id = malloc(ns * sizeof(int32_t));
    l->key_end = malloc(ns * sizeof(int32_t));
    l->kv_lo = malloc(ns * sizeof(int32_t));
    l->shared_end = malloc(ns * sizeof(int32_t));
    l->seg_lo = malloc(ns * sizeof(int32_t));
    l->nodes = malloc((size_t)n_nodes * sizeof(LayoutNode));
    l->loss_row = malloc((loss_cap ? loss_cap : 1) * sizeof(int32_t));
    l->loss_target = malloc((loss_cap ? loss_cap : 1) * sizeof(int32_t));
    l->loss_weight = malloc((loss_cap ? loss_cap : 1) * sizeof(int32_t));
    int32_t *node_of_seg = malloc((size_t)n * sizeof *node_of_seg), *pos_end = malloc((size_t)n * sizeof *pos_end);
    if (!l->tokens || !l->pos || !l->node_of || !l->seq_id || !l->key_end || !l->kv_lo || !l->shared_end ||
        !l->seg_lo || !l->nodes || !l->loss_row || !l->loss_target || !l->loss_weight || !node_of_seg || !pos_end) {
        free(node_of_seg); free(pos_end); free(share_of);
        forest_walk_free(&w);
        layout_free(l);
        return -1;
    }

    int32_t at = 0;
    for (int i = 0; i < n; i++) {
        int seg = w.order[i], p = f->parent[seg];
        if (s == STRATEGY_TREE) { // every segment once, under its parent's node, positions continuing
            int32_t pos0 = p < 0 ? 0 : pos_end[p];
            int32_t prev = p < 0 ? -1 : l->nodes[node_of_seg[p]].start + l->nodes[node_of_seg[p]].len - 1;
            node_of_seg[seg] = node_add(l, at, f->len[seg], p < 0 ? -1 : node_of_seg[p]);
            seg_write(l, f, seg, at, pos0, node_of_seg[seg], prev, w.paths[seg]);
            pos_end[seg] = pos0 + f->len[seg];
            at += f->len[seg];
        } else if (s == STRATEGY_PREFIX) { // a parent of leaves: its path once, then its leaves
            if (w.leaf[seg]) {
                if (p < 0) { path_write(l, f, seg, at, 1); at += f->len[seg]; }
                continue;
            }
            if (!w.leaf_children[seg]) continue;
            if (!share_of[seg]) { // the padded way: each leaf child as its own document [path, leaf]
                for (int ci = w.child_off[seg]; ci < w.child_off[seg + 1]; ci++) {
                    int c = w.child[ci];
                    if (!w.leaf[c]) continue;
                    path_write(l, f, c, at, 1);
                    at += path_len(f, c);
                }
                continue;
            }
            int32_t pl = path_len(f, seg), root = path_write(l, f, seg, at, w.leaf_children[seg]);
            at += pl;
            for (int ci = w.child_off[seg]; ci < w.child_off[seg + 1]; ci++) {
                int c = w.child[ci];
                if (!w.leaf[c]) continue;
                seg_write(l, f, c, at, pl, node_add(l, at, f->len[c], root), l->nodes[root].start + pl - 1, 1);
                at += f->len[c];
            }
        } else if (w.leaf[seg]) { // padded, packed: the path to this leaf as one document
            int32_t pl = path_len(f, seg);
            path_write(l, f, seg, at, 1);
            if (s == STRATEGY_PADDED) {
                for (int32_t j = pl; j < l->row_len; j++) pad_write(l, (size_t)at + j);
                at += l->row_len;
            } else {
                at += pl;
            }
        }
    }
    free(node_of_seg); free(pos_end); free(share_of);
    forest_walk_free(&w);
    if ((size_t)at != n_slots || l->n_nodes != n_nodes || layout_finish(l)) { layout_free(l); return -1; }
    l->n_prefix_groups = n_groups;
    l->n_shared_groups = n_shared;
    return 0;
}

int layout_build(Layout *out, Strategy s, const GroupBatch *g) { return layout_build_share(out, s, g, NULL); }

int layout_build_share(Layout *out, Strategy s, const GroupBatch *g, const PrefixShare *share) {
    memset(out, 0, sizeof *out);
    Forest f;
    if (!g || forest_from_groups(&f, g)) return -1;
    int rc = layout_build_forest_share(out, s, &f, share);
    forest_free(&f);
    if (rc == 0) { out->n_groups = g->n_groups; out->k = g->k; }
    return rc;
}
