// layout_estimate.c: layout_build's counts in closed form (see layout_estimate.h).
#include "layout_estimate.h"

#include <stdlib.h>
#include <string.h>

// Causal pairs of a run of n tokens: token j sees j + 1 keys.
static int64_t causal_pairs(int64_t n) { return n * (n + 1) / 2; }

int layout_estimate(Strategy s, int B, int K, const int32_t *prompt_lens, const int32_t *comp_lens,
                    LayoutCounts *out) {
    memset(out, 0, sizeof *out);
    if (B < 1 || K < 1 || K > PB_MAX_COMPLETIONS || s < 0 || s >= STRATEGY_COUNT) return -1;
    int64_t prompt_tok = 0, comp_tok = 0, docs_pairs = 0, prefix_pairs = 0, longest = 0;
    for (int b = 0; b < B; b++) {
        int64_t p = prompt_lens[b];
        if (p < 1) return -1;
        prompt_tok += p;
        prefix_pairs += causal_pairs(p);
        for (int k = 0; k < K; k++) {
            int64_t c = comp_lens[(int64_t)b * K + k];
            if (c < 1) return -1;
            comp_tok += c;
            docs_pairs += causal_pairs(p + c);        // padded row / packed document [P, c]
            prefix_pairs += c * p + causal_pairs(c); // the prompt, then itself
            if (p + c > longest) longest = p + c;
        }
    }
    int64_t docs_tok = comp_tok + (int64_t)K * prompt_tok;
    out->n_loss = comp_tok;
    out->n_loss_rows = comp_tok;
    switch (s) {
    case STRATEGY_PADDED:
        out->n_slots = (int64_t)B * K * longest;
        out->n_real = docs_tok;
        out->attn_pairs = docs_pairs;
        break;
    case STRATEGY_PACKED:
        out->n_slots = out->n_real = docs_tok;
        out->attn_pairs = docs_pairs;
        break;
    default: // prefix: each prompt once; its last row feeds all K completions' first terms
        out->n_slots = out->n_real = prompt_tok + comp_tok;
        out->attn_pairs = prefix_pairs;
        out->n_loss_rows = comp_tok - (int64_t)B * (K - 1);
        break;
    }
    return 0;
}

int layout_estimate_group(const Forest *f, const ForestWalk *w, int seg, LayoutCounts *shared, LayoutCounts *unshared) {
    memset(shared, 0, sizeof *shared);
    memset(unshared, 0, sizeof *unshared);
    if (seg < 0 || seg >= f->n_segs || !w->leaf_children[seg]) return -1;
    int64_t path = 0, path_loss = 0; // the path's tokens and loss pairs (a root's first token has none)
    for (int a = seg; a >= 0; a = f->parent[a]) {
        path += f->len[a];
        path_loss += f->loss[a] ? f->len[a] - (f->parent[a] < 0) : 0;
    }
    shared->n_slots = path;
    shared->attn_pairs = causal_pairs(path);
    shared->n_loss = shared->n_loss_rows = path_loss;
    int any_loss_leaf = 0;
    for (int ci = w->child_off[seg]; ci < w->child_off[seg + 1]; ci++) {
        const int c = w->child[ci];
        if (!w->leaf[c]) continue;
        const int64_t n = f->len[c], own = f->loss[c] ? n : 0;
        shared->n_slots += n;
        shared->attn_pairs += n * path + causal_pairs(n);
        shared->n_loss += own;
        shared->n_loss_rows += own ? n - 1 : 0; // its first term's row is the path's last: once for all
        any_loss_leaf |= own > 0;
        unshared->n_slots += path + n;
        unshared->attn_pairs += causal_pairs(path + n);
        unshared->n_loss += path_loss + own;
        unshared->n_loss_rows += path_loss + own;
    }
    shared->n_loss_rows += any_loss_leaf;
    shared->n_real = shared->n_slots;
    unshared->n_real = unshared->n_slots;
    return 0;
}

int64_t layout_host_bytes(const LayoutCounts *c) {
    // tokens, pos, node_of, seq_id, key_end, kv_lo, shared_end, seg_lo: int32 per slot; loss row,
    // target and weight per pair
    return c->n_slots * 8 * 4 + c->n_loss * 3 * 4;
}

/* A forest's counts from its structure (see layout.c for the layouts): per path (padded,
 * packed) its causal pairs and its loss terms; per parent of leaves (prefix) its path once and
 * its leaves; per segment (tree) its ancestors' keys and its own causal ones. A loss-carrying
 * token is one pair (a root's first token none); rows: within a segment one per pair, and a
 * parent's last token once for all of its loss-carrying children. */
int layout_estimate_forest(Strategy s, int n, const int32_t *len, const int32_t *parent, const uint8_t *loss,
                           LayoutCounts *out) {
    memset(out, 0, sizeof *out);
    char err[160];
    if (s < 0 || s >= STRATEGY_COUNT || forest_check(n, len, parent, err, sizeof err)) return -1;
    int64_t *anc = malloc((size_t)n * sizeof *anc), *pairs_to = malloc((size_t)n * sizeof *pairs_to);
    uint8_t *has_child = calloc((size_t)n, 1), *loss_child = calloc((size_t)n, 1);
    int32_t *leaf_kids = calloc((size_t)n, sizeof *leaf_kids);
    if (!anc || !pairs_to || !has_child || !loss_child || !leaf_kids) {
        free(anc); free(pairs_to); free(has_child); free(loss_child); free(leaf_kids);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (parent[i] >= 0) { has_child[parent[i]] = 1; loss_child[parent[i]] |= loss[i] ? 1 : 0; }
    for (int i = 0; i < n; i++) { // anc: the path's tokens above i; pairs_to: loss pairs of the path to i
        anc[i] = 0;
        pairs_to[i] = 0;
        for (int a = parent[i]; a >= 0; a = parent[a]) anc[i] += len[a];
        for (int a = i; a >= 0; a = parent[a]) pairs_to[i] += loss[a] ? len[a] - (parent[a] < 0) : 0;
        if (parent[i] >= 0 && !has_child[i]) leaf_kids[parent[i]]++;
    }
    int64_t n_leaves = 0, longest = 0, paths_tok = 0, paths_pairs = 0, paths_loss = 0;
    for (int i = 0; i < n; i++) {
        if (has_child[i]) continue;
        int64_t pl = anc[i] + len[i];
        n_leaves++;
        paths_tok += pl;
        paths_pairs += causal_pairs(pl);
        paths_loss += pairs_to[i];
        if (pl > longest) longest = pl;
    }
    if (s == STRATEGY_PADDED || s == STRATEGY_PACKED) {
        out->n_slots = s == STRATEGY_PADDED ? n_leaves * longest : paths_tok;
        out->n_real = paths_tok;
        out->attn_pairs = paths_pairs;
        out->n_loss = out->n_loss_rows = paths_loss; // every pair its own slot
    } else if (s == STRATEGY_TREE) {
        for (int i = 0; i < n; i++) {
            out->n_slots += len[i];
            out->attn_pairs += (int64_t)len[i] * anc[i] + causal_pairs(len[i]);
            int64_t own = loss[i] ? len[i] - (parent[i] < 0) : 0;
            out->n_loss += own;
            out->n_loss_rows += (loss[i] ? len[i] - 1 : 0) + loss_child[i];
        }
        out->n_real = out->n_slots;
    } else { // prefix: each parent of leaves' path once, then its leaves; a lone root leaf alone
        for (int i = 0; i < n; i++) {
            int lone = parent[i] < 0 && !has_child[i];
            if (!lone && !leaf_kids[i]) continue;
            int64_t path = anc[i] + len[i], path_pairs = pairs_to[i];
            out->n_slots += path;
            out->attn_pairs += causal_pairs(path);
            out->n_loss += path_pairs;
            out->n_loss_rows += path_pairs;
            int any_loss_leaf = 0;
            for (int c = 0; c < n; c++) {
                if (parent[c] != i || has_child[c]) continue;
                out->n_slots += len[c];
                out->attn_pairs += (int64_t)len[c] * path + causal_pairs(len[c]);
                if (loss[c]) { out->n_loss += len[c]; out->n_loss_rows += len[c] - 1; any_loss_leaf = 1; }
            }
            out->n_loss_rows += any_loss_leaf;
        }
        out->n_real = out->n_slots;
    }
    free(anc); free(pairs_to); free(has_child); free(loss_child); free(leaf_kids);
    return 0;
}
