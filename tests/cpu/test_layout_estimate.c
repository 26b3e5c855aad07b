/*
 * test_layout_estimate.c: layout_estimate (the counts the harness sizes a cell with before
 * anything is allocated) equals layout_build's counts for every strategy, on uniform, ragged
 * and one-token cells, and refuses bad input.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../../strategies/layout_estimate.h"
#include "../test_util.h"


static void check_cell(int B, int K, const int32_t *pl, const int32_t *cl, const char *tag) {
    GroupBatch g;
    if (groups_make(&g, B, K, pl, cl, 97, 5)) { CHECK(0, "%s: groups_make", tag); return; }
    for (int s = 0; s < STRATEGY_COUNT; s++) {
        Layout l;
        LayoutCounts c;
        CHECK(layout_build(&l, (Strategy)s, &g) == 0, "%s: build", tag);
        CHECK(layout_estimate((Strategy)s, B, K, pl, cl, &c) == 0, "%s: estimate", tag);
        CHECK(c.n_slots == (int64_t)l.n_slots && c.n_real == (int64_t)l.n_real && c.attn_pairs == (int64_t)l.attn_pairs &&
              c.n_loss == (int64_t)l.n_loss && c.n_loss_rows == (int64_t)l.n_loss_rows,
              "%s %s: estimate slots %lld real %lld pairs %lld loss %lld rows %lld, layout %zu %zu %zu %zu %zu", tag,
              strategy_name((Strategy)s), (long long)c.n_slots, (long long)c.n_real, (long long)c.attn_pairs,
              (long long)c.n_loss, (long long)c.n_loss_rows, l.n_slots, l.n_real, l.attn_pairs, l.n_loss, l.n_loss_rows);
        layout_free(&l);
    }
    groups_free(&g);
}

int main(void) {
    int32_t pl[8], cl[8 * 5];
    unsigned x = 12345;
    for (int trial = 0; trial < 40; trial++) {
        int B = 1 + trial % 4, K = 1 + trial % 5;
        for (int b = 0; b < B; b++) pl[b] = 1 + (int32_t)((x = x * 1103515245u + 12345u) >> 16) % 37;
        for (int j = 0; j < B * K; j++) cl[j] = 1 + (int32_t)((x = x * 1103515245u + 12345u) >> 16) % 23;
        char tag[32];
        snprintf(tag, sizeof tag, "trial %d", trial);
        check_cell(B, K, pl, cl, tag);
    }
    int32_t one[1] = {1}, ones[2] = {1, 1};
    check_cell(1, 2, one, ones, "one-token lengths");
    LayoutCounts c;
    int32_t zero[2] = {0, 0};
    CHECK(layout_estimate(STRATEGY_PADDED, 1, 1, zero, ones, &c) == -1, "zero prompt accepted");
    CHECK(layout_estimate(STRATEGY_PADDED, 1, 1, one, zero, &c) == -1, "zero completion accepted");
    CHECK(layout_estimate(STRATEGY_PADDED, 0, 1, one, ones, &c) == -1, "B = 0 accepted");
    CHECK(layout_estimate(STRATEGY_PADDED, 1, 65, one, ones, &c) == -1, "K = 65 accepted");
    return test_finish("test_layout_estimate");
}
