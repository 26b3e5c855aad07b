/*
 * test_layout: the four layouts of a flat batch (depth-2 forest) against DESIGN.md section 1,
 * checked from the definition (tree is the prefix layout at depth 2; test_forest checks deeper).
 *
 * Every layout is a set of logical documents [P, c_k], one per (group, completion); the test
 * places each document's tokens by its own arithmetic (slot_of) and derives everything else from
 * that: the allowed pairs are exactly the causal pairs inside some document (so sibling
 * completions and other groups never see each other), positions are the index in the document,
 * loss pairs are (slot of the previous document token, c_k[j]). The layout's two mask encodings,
 * its token slots, padding, loss pairs and attn_pairs must all agree with that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/rng.h"
#include "../../strategies/layout.h"
#include "../test_util.h"


// Slot of token j of document [P_b, c_{b,c}] in a layout of strategy s (independent arithmetic).
static size_t slot_of(Strategy s, const GroupBatch *g, size_t row_len, int b, int c, int j) {
    int K = g->k;
    size_t off = 0;
    if (s == STRATEGY_PADDED) return ((size_t)b * K + c) * row_len + (size_t)j;
    if (s == STRATEGY_TREE) s = STRATEGY_PREFIX; // at depth 2 the same layout
    for (int bb = 0; bb < b; bb++)
        for (int cc = 0; cc < K; cc++)
            off += (s == STRATEGY_PACKED || cc == 0 ? (size_t)g->prompt_len[bb] : 0) + g->comp_len[bb * K + cc];
    int p = g->prompt_len[b];
    if (s == STRATEGY_PACKED) {
        for (int cc = 0; cc < c; cc++) off += (size_t)p + g->comp_len[b * K + cc];
        return off + (size_t)j;
    }
    if (j < p) return off + (size_t)j;
    off += (size_t)p;
    for (int cc = 0; cc < c; cc++) off += g->comp_len[b * K + cc];
    return off + (size_t)(j - p);
}

static int32_t doc_token(const GroupBatch *g, int b, int c, int j) {
    int p = g->prompt_len[b];
    return j < p ? g->ids[g->prompt_off[b] + j] : g->ids[g->comp_off[b * g->k + c] + (j - p)];
}

static void check_layout(const Layout *l, const GroupBatch *g, Strategy s, const char *tag) {
    int B = g->n_groups, K = g->k;
    size_t longest = 0, comp_tok = 0;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < K; c++) {
            size_t n = (size_t)g->prompt_len[b] + g->comp_len[b * K + c];
            if (n > longest) longest = n;
            comp_tok += g->comp_len[b * K + c];
        }
    CHECK(l->strategy == s && l->n_groups == B && l->k == K, "%s header", tag);
    CHECK(l->n_rows == (s == STRATEGY_PADDED ? B * K : 1), "%s n_rows %d", tag, l->n_rows);
    if (s == STRATEGY_PADDED) CHECK((size_t)l->row_len == longest, "%s row_len", tag);
    CHECK(l->n_slots == (size_t)l->n_rows * l->row_len, "%s n_slots", tag);
    size_t row_len = (size_t)l->row_len, n = l->n_slots;

    unsigned char *covered = calloc(n, 1), *allow = calloc(n * n, 1);
    size_t n_real = 0, pairs = 0;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < K; c++) {
            int len = g->prompt_len[b] + g->comp_len[b * K + c];
            for (int jq = 0; jq < len; jq++) {
                size_t q = slot_of(s, g, row_len, b, c, jq);
                CHECK(q < n, "%s slot out of range", tag);
                if (q >= n) continue;
                if (!covered[q]) n_real++;
                covered[q] = 1;
                CHECK(l->tokens[q] == doc_token(g, b, c, jq), "%s token at %zu", tag, q);
                CHECK(l->pos[q] == jq, "%s position at %zu: %d, want %d", tag, q, l->pos[q], jq);
                for (int jk = 0; jk <= jq; jk++) allow[q * n + slot_of(s, g, row_len, b, c, jk)] = 1;
            }
        }
    CHECK(l->n_real == n_real, "%s n_real %zu, want %zu", tag, l->n_real, n_real);
    for (size_t q = 0; q < n; q++) {
        if (!covered[q])
            CHECK(l->tokens[q] == 0 && l->pos[q] == 0 && l->seq_id[q] == -1 && l->kv_lo[q] == -1,
                  "%s padding slot %zu", tag, q);
        for (size_t k = 0; k < n; k++) {
            int want = allow[q * n + k], got = layout_allows(l, q, k), rng = layout_allows_ranges(l, q, k),
                ke = layout_allows_key_end(l, q, k);
            pairs += (size_t)want;
            CHECK(got == want, "%s layout_allows(%zu, %zu) = %d, want %d", tag, q, k, got, want);
            CHECK(rng == want, "%s layout_allows_ranges(%zu, %zu) = %d, want %d", tag, q, k, rng, want);
            CHECK(ke == want, "%s layout_allows_key_end(%zu, %zu) = %d, want %d", tag, q, k, ke, want);
        }
    }
    CHECK(l->attn_pairs == pairs, "%s attn_pairs %zu, brute force %zu", tag, l->attn_pairs, pairs);

    // Loss pairs: (slot of the previous token of [P, c_k], c_k[j]) in (b, c, j) order, stably sorted by row.
    CHECK(l->n_loss == comp_tok && l->n_loss_terms == comp_tok, "%s n_loss %zu, terms %zu, completion tokens %zu", tag,
          l->n_loss, l->n_loss_terms, comp_tok);
    for (size_t i = 0; i < l->n_loss; i++) CHECK(l->loss_weight[i] == 1, "%s loss weight %zu: %d", tag, i, l->loss_weight[i]);
    int32_t *row = malloc(comp_tok * sizeof *row), *tgt = malloc(comp_tok * sizeof *tgt);
    size_t m = 0;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < K; c++) {
            int p = g->prompt_len[b];
            for (int j = 0; j < g->comp_len[b * K + c]; j++, m++) {
                row[m] = (int32_t)slot_of(s, g, row_len, b, c, p + j - 1);
                tgt[m] = doc_token(g, b, c, p + j);
            }
        }
    for (size_t i = 1; i < m; i++) // insertion sort: stable
        for (size_t j = i; j > 0 && row[j - 1] > row[j]; j--) {
            int32_t t = row[j]; row[j] = row[j - 1]; row[j - 1] = t;
            t = tgt[j]; tgt[j] = tgt[j - 1]; tgt[j - 1] = t;
        }
    for (size_t i = 0; i < m && l->n_loss == comp_tok; i++)
        CHECK(l->loss_row[i] == row[i] && l->loss_target[i] == tgt[i], "%s loss pair %zu: (%d, %d), want (%d, %d)",
              tag, i, l->loss_row[i], l->loss_target[i], row[i], tgt[i]);
    size_t distinct = 0;
    for (size_t i = 0; i < m; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = row[j] == row[i];
        distinct += !seen;
    }
    CHECK(l->n_loss_rows == distinct, "%s n_loss_rows %zu, distinct rows %zu", tag, l->n_loss_rows, distinct);
    CHECK(l->n_loss_rows == comp_tok - (s >= STRATEGY_PREFIX ? (size_t)B * (K - 1) : 0), "%s n_loss_rows", tag);
    free(row); free(tgt);

    // Sequences and segments.
    CHECK(l->n_seqs == (s >= STRATEGY_PREFIX ? B : B * K), "%s n_seqs %d", tag, l->n_seqs);
    for (int i = 0; i < l->n_seqs; i++) {
        LayoutSeq q = l->seqs[i];
        int b = s >= STRATEGY_PREFIX ? i : i / K, c = s >= STRATEGY_PREFIX ? 0 : i % K;
        int want_len = g->prompt_len[b];
        if (s >= STRATEGY_PREFIX) for (int cc = 0; cc < K; cc++) want_len += g->comp_len[b * K + cc];
        else want_len += g->comp_len[b * K + c];
        CHECK(q.start == (int32_t)slot_of(s, g, row_len, b, c, 0) && q.len == want_len, "%s seq %d", tag, i);
        CHECK(q.shared_len == (s >= STRATEGY_PREFIX ? g->prompt_len[b] : 0), "%s seq %d shared_len", tag, i);
        for (int j = 0; j < q.len; j++) CHECK(l->seq_id[q.start + j] == i, "%s seq_id", tag);
    }
    int rng_exact = 1;
    for (size_t q = 0; q < n; q++)
        for (size_t k = 0; k < n; k++) rng_exact &= layout_allows_ranges(l, q, k) == allow[q * n + k];
    CHECK(rng_exact && layout_bounds_exact(l), "%s bounds not exact at depth 2", tag);
    CHECK(l->n_segs == (s >= STRATEGY_PREFIX ? B * K : 0), "%s n_segs %d", tag, l->n_segs);
    for (int i = 0; i < l->n_segs; i++) {
        int b = i / K, c = i % K;
        LayoutSeg sg = l->segs[i];
        CHECK(sg.seq == b && sg.len == g->comp_len[i] &&
              sg.start == (int32_t)slot_of(s, g, row_len, b, c, g->prompt_len[b]), "%s seg %d", tag, i);
        for (int j = 0; j < sg.len; j++) CHECK(l->node_of[sg.start + j] == l->node_of[sg.start], "%s node_of", tag);
    }
    free(covered); free(allow);
}

static void check_bad_input(void) {
    int32_t pl[2] = {3, 2}, cl[4] = {2, 1, 3, 2};
    GroupBatch g;
    Layout l;
    CHECK(groups_make(&g, 2, 0, pl, cl, 50, 1) == -1, "K = 0 accepted");
    CHECK(groups_make(&g, 1, PB_MAX_COMPLETIONS + 1, pl, cl, 50, 1) == -1, "K > max accepted");
    int32_t pz[2] = {0, 2}, cz[4] = {2, 0, 3, 2};
    CHECK(groups_make(&g, 2, 2, pz, cl, 50, 1) == -1, "prompt length 0 accepted");
    CHECK(groups_make(&g, 2, 2, pl, cz, 50, 1) == -1, "completion length 0 accepted");
    CHECK(groups_make(&g, 0, 2, pl, cl, 50, 1) == -1, "0 groups accepted");
    CHECK(groups_make(&g, 2, 2, pl, cl, 50, 1) == 0, "good groups rejected");
    for (int s = 0; s < STRATEGY_COUNT; s++) {
        GroupBatch h = g;
        int32_t plb[2] = {3, 0};
        h.prompt_len = plb;
        CHECK(layout_build(&l, (Strategy)s, &h) == -1, "%s: prompt length 0 accepted", strategy_name(s));
        h = g;
        int32_t clb[4] = {2, 1, -1, 2};
        h.comp_len = clb;
        CHECK(layout_build(&l, (Strategy)s, &h) == -1, "%s: completion length -1 accepted", strategy_name(s));
        h = g;
        size_t cob[4] = {g.comp_off[0], g.comp_off[1], g.comp_off[2], g.n_ids - 1};
        h.comp_off = cob;
        CHECK(layout_build(&l, (Strategy)s, &h) == -1, "%s: completion past the ids accepted", strategy_name(s));
        h = g; h.k = 0;
        CHECK(layout_build(&l, (Strategy)s, &h) == -1, "%s: K = 0 accepted", strategy_name(s));
        h = g; h.n_groups = 0;
        CHECK(layout_build(&l, (Strategy)s, &h) == -1, "%s: B = 0 accepted", strategy_name(s));
        g.ids[1] = -5;
        CHECK(layout_build(&l, (Strategy)s, &g) == -1, "%s: negative id accepted", strategy_name(s));
        g.ids[1] = 7;
        CHECK(layout_build(&l, (Strategy)s, &g) == 0, "%s: good input rejected", strategy_name(s));
        layout_free(&l);
    }
    CHECK(layout_build(&l, STRATEGY_COUNT, &g) == -1, "bad strategy accepted");
    CHECK(layout_build(&l, STRATEGY_PADDED, NULL) == -1, "NULL groups accepted");
    Strategy st;
    CHECK(strategy_parse("prefix", &st) == 0 && st == STRATEGY_PREFIX, "parse prefix");
    CHECK(strategy_parse("packed", &st) == 0 && st == STRATEGY_PACKED, "parse packed");
    CHECK(strategy_parse("padded", &st) == 0 && st == STRATEGY_PADDED, "parse padded");
    CHECK(strategy_parse("tree", &st) == 0 && st == STRATEGY_TREE, "parse tree");
    CHECK(strategy_parse("bogus", &st) == -1, "parse bogus accepted");
    groups_free(&g);
}

int main(void) {
    static const int ks[] = {1, 2, 4, PB_MAX_COMPLETIONS};
    int n_layouts = 0;
    for (int ki = 0; ki < 4; ki++)
        for (uint64_t seed = 1; seed <= (ks[ki] > 4 ? 2u : 12u); seed++) {
            Rng r;
            rng_seed(&r, seed * 1000 + (uint64_t)ks[ki]);
            int K = ks[ki], B = ks[ki] > 4 ? 1 : (int)rng_range(&r, 1, 3);
            int32_t pl[3], cl[3 * PB_MAX_COMPLETIONS];
            for (int b = 0; b < B; b++) pl[b] = (int32_t)rng_range(&r, 1, 7);
            for (int i = 0; i < B * K; i++) cl[i] = (int32_t)rng_range(&r, 1, 6);
            GroupBatch g;
            if (groups_make(&g, B, K, pl, cl, 100, seed) != 0) { CHECK(0, "groups_make"); continue; }
            for (int s = 0; s < STRATEGY_COUNT; s++) {
                Layout l;
                char tag[64];
                snprintf(tag, sizeof tag, "%s B=%d K=%d seed=%llu", strategy_name((Strategy)s), B, K,
                         (unsigned long long)seed);
                if (layout_build(&l, (Strategy)s, &g) != 0) { CHECK(0, "%s: layout_build failed", tag); continue; }
                check_layout(&l, &g, (Strategy)s, tag);
                layout_free(&l);
                n_layouts++;
            }
            groups_free(&g);
        }
    check_bad_input();
    printf("test_layout: %d layouts checked, %d failures\n", n_layouts, failures);
    return failures ? 1 : 0;
}
