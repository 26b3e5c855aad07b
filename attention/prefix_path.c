// prefix_path.c: the cuDNN prefix / tree forward's choice (see prefix_path.h).
#include "prefix_path.h"

#include <string.h>

static const char *const k_mode_names[] = {"auto", "gather", "merge"};

const char *attn_prefix_mode_name(AttnPrefixMode m) {
    return (unsigned)m < sizeof k_mode_names / sizeof k_mode_names[0] ? k_mode_names[m] : "?";
}

int attn_prefix_mode_parse(const char *name, AttnPrefixMode *out) {
    if (!name) {
        *out = ATTN_PREFIX_AUTO;
        return 0;
    }
    for (size_t i = 0; i < sizeof k_mode_names / sizeof k_mode_names[0]; i++) {
        if (strcmp(name, k_mode_names[i]) == 0) {
            *out = (AttnPrefixMode)i;
            return 0;
        }
    }
    return -1;
}

const char *prefix_forward_name(PrefixForward f) { return f == PREFIX_FWD_MERGE ? "merge" : "gather"; }

PrefixForward prefix_forward(AttnPrefixMode mode, int max_depth) {
    if (mode == ATTN_PREFIX_GATHER) return PREFIX_FWD_GATHER;
    if (mode == ATTN_PREFIX_MERGE) return PREFIX_FWD_MERGE;
    return max_depth <= 2 ? PREFIX_FWD_GATHER : PREFIX_FWD_MERGE;
}

double prefix_depth_pairs(const Layout *l, int d) {
    double pairs = 0.0;
    for (int i = 0; i < l->n_nodes; i++) {
        if (l->nodes[i].depth != d) continue;
        const DepthSeq q = prefix_depth_seq(&l->nodes[i]);
        const double own = q.kv_len, below = (double)q.q_len - own;
        pairs += own * (own + 1.0) / 2.0 + below * own;
    }
    return pairs;
}
