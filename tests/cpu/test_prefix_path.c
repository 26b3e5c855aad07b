/*
 * test_prefix_path.c: the cuDNN prefix backward's per-group choice (attention/prefix_path.h),
 * host only: mode names round-trip, forced modes force, the default rule (PREFIX_COPIED_BELOW,
 * measured: copied never paid) sends every group to split, and the rule with a non-zero threshold
 * (as the GPU tests use it to mix both paths) sends the cells where the split backward was slower
 * than padded (dev/NOTES.md) to copied, and their neighbours and the long-prompt cells to split.
 */
#include <stdio.h>
#include <string.h>

#include "../../attention/prefix_path.h"
#include "../test_util.h"

// K = 2 completions of length n after a prompt of length p (the reference grid's groups).
static PrefixPath grid_path(AttnPrefixMode m, int32_t p, int32_t n) {
    const int32_t comps[2] = {n, n};
    return prefix_group_path(m, 1e-3, p, comps, 2);
}

int main(void) {
    for (int m = ATTN_PREFIX_AUTO; m <= (int)ATTN_PREFIX_COPIED; m++) {
        AttnPrefixMode back;
        CHECK(attn_prefix_mode_parse(attn_prefix_mode_name((AttnPrefixMode)m), &back) == 0 && (int)back == m,
              "mode %d name round trip", m);
    }
    AttnPrefixMode m = ATTN_PREFIX_COPIED;
    CHECK(attn_prefix_mode_parse(NULL, &m) == 0 && m == ATTN_PREFIX_AUTO, "NULL parses as auto");
    CHECK(attn_prefix_mode_parse("c", &m) == -1 && attn_prefix_mode_parse("", &m) == -1, "bad names refused");
    CHECK(grid_path(ATTN_PREFIX_SPLIT, 128, 16384) == PREFIX_PATH_SPLIT, "split forced");
    CHECK(grid_path(ATTN_PREFIX_COPIED, 16384, 128) == PREFIX_PATH_COPIED, "copied forced");

    // the default threshold: split for every group, the most lopsided and K = 1 too
    const int32_t lopsided[2] = {1, 1 << 20}, single[1] = {64};
    CHECK(PREFIX_COPIED_BELOW == 0.0, "default threshold as measured");
    CHECK(prefix_group_path(ATTN_PREFIX_AUTO, PREFIX_COPIED_BELOW, 128, lopsided, 2) == PREFIX_PATH_SPLIT &&
              prefix_group_path(ATTN_PREFIX_AUTO, PREFIX_COPIED_BELOW, 4096, single, 1) == PREFIX_PATH_SPLIT,
          "default rule: split");
    // threshold 1e-3: split measured slower than padded (p/n <= 1/32): copied
    const int32_t slow[6][2] = {{128, 4096}, {128, 8192}, {128, 16384}, {256, 8192}, {256, 16384}, {512, 16384}};
    for (int i = 0; i < 6; i++)
        CHECK(grid_path(ATTN_PREFIX_AUTO, slow[i][0], slow[i][1]) == PREFIX_PATH_COPIED, "auto %dx%d: want copied",
              slow[i][0], slow[i][1]);
    // split measured fine (p/n >= 1/16), and long prompts: split
    const int32_t fine[7][2] = {{256, 4096}, {512, 8192}, {1024, 16384}, {128, 2048}, {512, 512}, {4096, 4096},
                                {16384, 128}};
    for (int i = 0; i < 7; i++)
        CHECK(grid_path(ATTN_PREFIX_AUTO, fine[i][0], fine[i][1]) == PREFIX_PATH_SPLIT, "auto %dx%d: want split",
              fine[i][0], fine[i][1]);
    // uneven completions: the rule sums them (one long completion makes a short prompt copied)
    const int32_t uneven[3] = {5, 7, 60000};
    CHECK(prefix_group_path(ATTN_PREFIX_AUTO, 1e-3, 128, uneven, 3) == PREFIX_PATH_COPIED, "uneven: the long one counts");
    // K = 1: nothing is shared, so the split backward's overhead buys nothing: copied
    const int32_t one[1] = {64};
    CHECK(prefix_group_path(ATTN_PREFIX_AUTO, 1e-3, 4096, one, 1) == PREFIX_PATH_COPIED, "K = 1: want copied");
    return test_finish("test_prefix_path");
}
