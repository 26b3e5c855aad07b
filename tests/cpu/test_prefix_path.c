/*
 * test_prefix_path.c: the cuDNN prefix / tree forward's choice (attention/prefix_path.h), host
 * only: mode names round-trip, bad names are refused, forced modes force at every depth, and
 * auto gathers at two levels (the measured flat prefix forward) and merges deeper.
 */
#include <stdio.h>
#include <string.h>

#include "../../attention/prefix_path.h"
#include "../test_util.h"

int main(void) {
    for (int m = ATTN_PREFIX_AUTO; m <= (int)ATTN_PREFIX_MERGE; m++) {
        AttnPrefixMode back;
        CHECK(attn_prefix_mode_parse(attn_prefix_mode_name((AttnPrefixMode)m), &back) == 0 && (int)back == m,
              "mode %d name round trip", m);
    }
    AttnPrefixMode m = ATTN_PREFIX_MERGE;
    CHECK(attn_prefix_mode_parse(NULL, &m) == 0 && m == ATTN_PREFIX_AUTO, "NULL parses as auto");
    CHECK(attn_prefix_mode_parse("g", &m) == -1 && attn_prefix_mode_parse("", &m) == -1 &&
              attn_prefix_mode_parse("copied", &m) == -1 && attn_prefix_mode_parse("split", &m) == -1,
          "bad and removed names refused");
    for (int depth = 2; depth <= 16; depth++) {
        CHECK(prefix_forward(ATTN_PREFIX_GATHER, depth) == PREFIX_FWD_GATHER, "gather forced at depth %d", depth);
        CHECK(prefix_forward(ATTN_PREFIX_MERGE, depth) == PREFIX_FWD_MERGE, "merge forced at depth %d", depth);
        CHECK(prefix_forward(ATTN_PREFIX_AUTO, depth) == (depth == 2 ? PREFIX_FWD_GATHER : PREFIX_FWD_MERGE),
              "auto at depth %d", depth);
    }
    CHECK(!strcmp(prefix_forward_name(PREFIX_FWD_GATHER), "gather") && !strcmp(prefix_forward_name(PREFIX_FWD_MERGE), "merge"),
          "forward names");
    return test_finish("test_prefix_path");
}
