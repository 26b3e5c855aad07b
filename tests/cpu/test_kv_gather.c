/*
 * test_kv_gather: the cuDNN backend's tree gathers (attention/kv_gather.h) against the mask's
 * definition. For the tree and prefix layouts of random forests of depth 1-5: one gather per
 * node with a parent, in slot order; its concatenated key runs [anc..., own] in slot order, so
 * that with bottom-right causal masking query j of the node (the (anc_len + j)-th key row) sees
 * exactly the first anc_len + j + 1 of them, and those are exactly the keys layout_allows gives
 * it; touching runs merged; the gathers packed one after the other, filling cat_tokens.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../../attention/kv_gather.h"
#include "tiny.h"


static void check_layout(const Layout *l, const char *tag) {
    KvGather *g;
    size_t cat;
    int n = kv_gathers_of_tree(l, &g, &cat), want = 0;
    for (int i = 0; i < l->n_nodes; i++) want += l->nodes[i].parent >= 0;
    CHECK(n == want, "%s: %d gathers, want %d", tag, n, want);
    if (n != want) { free(g); return; }
    size_t *keys = malloc((l->n_slots + 1) * sizeof *keys);
    size_t prev_end = 0;
    for (int i = 0, node = 0; i < n; i++, node++) {
        while (l->nodes[node].parent < 0) node++;
        const KvGather *gt = &g[i];
        CHECK(gt->own.start == (size_t)l->nodes[node].start && gt->own.len == (size_t)l->nodes[node].len, "%s: gather %d own", tag, i);
        size_t m = 0, sum = 0;
        for (int r = 0; r < gt->n_anc; r++) {
            CHECK(gt->anc[r].len > 0 && (r == 0 || gt->anc[r - 1].start + gt->anc[r - 1].len < gt->anc[r].start),
                  "%s: gather %d runs not increasing, disjoint and unmerged", tag, i);
            for (size_t k = 0; k < gt->anc[r].len; k++) keys[m++] = gt->anc[r].start + k;
            sum += gt->anc[r].len;
        }
        CHECK(sum == gt->anc_len, "%s: gather %d anc_len", tag, i);
        CHECK(m == 0 || keys[m - 1] < gt->own.start, "%s: gather %d ancestors after its own slots", tag, i);
        for (size_t k = 0; k < gt->own.len; k++) keys[m++] = gt->own.start + k;
        for (size_t j = 0; j < gt->own.len; j++) { // query j sees keys[0 .. anc_len + j], nothing else
            size_t q = gt->own.start + j, seen = 0;
            for (size_t c = 0; c < m; c++) {
                int causal = c <= gt->anc_len + j, allowed = layout_allows(l, q, keys[c]);
                CHECK(causal == allowed, "%s: gather %d query %zu key %zu: bottom-right %d, mask %d", tag, i, q, keys[c], causal, allowed);
            }
            for (size_t k = 0; k < l->n_slots; k++) seen += (size_t)layout_allows(l, q, k);
            CHECK(seen == gt->anc_len + j + 1, "%s: gather %d query %zu sees %zu keys, the gather holds %zu", tag, i, q,
                  seen, gt->anc_len + j + 1);
        }
        CHECK(gt->dst == prev_end && gt->dst + m <= cat, "%s: gather %d at %zu: not packed after %zu, or past %zu", tag,
              i, gt->dst, prev_end, cat);
        prev_end = gt->dst + m;
    }
    CHECK(prev_end == cat, "%s: cat_tokens %zu, gathers end at %zu", tag, cat, prev_end);
    free(keys);
    free(g);
}

int main(void) {
    int n_layouts = 0;
    for (int depth = 1; depth <= 5; depth++)
        for (uint64_t seed = 1; seed <= 6; seed++) {
            Forest f;
            if (tiny_forest(&f, depth, 5, 100, seed * 13 + (uint64_t)depth)) { CHECK(0, "tiny_forest"); continue; }
            for (int s = STRATEGY_PREFIX; s <= STRATEGY_TREE; s++) {
                Layout l;
                char tag[64];
                snprintf(tag, sizeof tag, "%s depth %d seed %llu", strategy_name((Strategy)s), depth, (unsigned long long)seed);
                if (layout_build_forest(&l, (Strategy)s, &f)) { CHECK(0, "%s: layout", tag); continue; }
                check_layout(&l, tag);
                layout_free(&l);
                n_layouts++;
            }
            forest_free(&f);
        }
    printf("test_kv_gather: %d layouts\n", n_layouts);
    return test_finish("test_kv_gather");
}
