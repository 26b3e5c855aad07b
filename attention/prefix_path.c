// prefix_path.c: the cuDNN prefix / tree forward's choice (see prefix_path.h).
#include "prefix_path.h"

#include <stdlib.h>
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

int prefix_depth_calls(const Layout *l, DepthCalls *out) {
    memset(out, 0, sizeof *out);
    const size_t n = (size_t)(l->n_nodes > 0 ? l->n_nodes : 1);
    int32_t *kids = calloc(n, sizeof *kids), *chain_of = malloc(n * sizeof *chain_of);
    out->seqs = malloc(n * sizeof *out->seqs);
    if (!kids || !chain_of || !out->seqs) {
        free(kids), free(chain_of);
        prefix_depth_calls_free(out);
        return -1;
    }
    for (int i = 0; i < l->n_nodes; i++)
        if (l->nodes[i].parent >= 0) kids[l->nodes[i].parent]++;
    for (int i = 0; i < l->n_nodes; i++) { // slot order: a parent before its children
        const LayoutNode *nd = &l->nodes[i];
        if (nd->parent >= 0 && kids[nd->parent] == 1) { // its parent's only child: the parent's chain goes on
            DepthSeq *c = &out->seqs[chain_of[nd->parent]];
            c->kv_len = (int32_t)(nd->start + nd->len - c->kv_start);
            chain_of[i] = chain_of[nd->parent];
            continue;
        }
        const int32_t depth = nd->parent < 0 ? 0 : out->seqs[chain_of[nd->parent]].depth + 1;
        out->seqs[out->n_seqs] = (DepthSeq){nd->start, nd->start, nd->subtree_end - nd->start, nd->len, depth};
        chain_of[i] = out->n_seqs++;
        if (depth + 1 > out->n_depths) out->n_depths = depth + 1;
    }
    free(kids);
    free(chain_of);
    return 0;
}

void prefix_depth_calls_free(DepthCalls *c) {
    free(c->seqs);
    memset(c, 0, sizeof *c);
}
