/*
 * test_prefix_path.c: the cuDNN prefix / tree calls (attention/prefix_path.h), host only.
 * The forward's choice: mode names round-trip, bad names are refused, forced modes force at every
 * depth, auto gathers at two levels (the measured flat prefix forward) and merges deeper.
 * The depth calls' structure, what cudnn_tree.c relies on, on random forests of depth 2..6, a
 * forest of one-child chains and flat groups in the prefix and tree layouts: in every call the
 * sequences' query and key ranges are increasing and disjoint (THD ragged offsets); every real
 * slot is a key of exactly one call and a query of depth 0's exactly once; the call's top-left
 * causal pairs are the mask's (every key against the chain's rows and rows below it); chains are
 * maximal (a chain of one-child nodes is one sequence); and the calls' pairs sum to the layout's
 * allowed pairs (the FLOP count). And the method itself on the host (sim_depth_calls, below):
 * merged forward and per-call backward shares against the CPU attention oracle.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../attention/prefix_path.h"
#include "../../core/rng.h"
#include "../../reference/cpu_ops.h"
#include "../test_util.h"
#include "tiny.h"

/* The cuDNN tree method run on the host in fp64 (one head, D 8), as cudnn_tree.c orders it:
 * forward, depth 0 writes o and lse, each deeper call's o and lse are merged in (attn_merge's
 * formula); backward, every call's share given the merged o and lse (softmax sum rowsum(dO o), P
 * from the merged lse), dq summed over the calls, dk / dv written by the one call of each key.
 * Against the fp32 CPU oracle (cpu_attention_forward / backward) of the whole mask. */
enum { SIM_D = 8 };

static void sim_depth_calls(const Layout *l, const DepthCalls *dc, const float *q, const float *k, const float *v,
                            const float *dout, double *o, double *lse, double *dq, double *dk, double *dv, int *k_writes) {
    const double scale = 1.0 / sqrt((double)SIM_D);
    const size_t T = l->n_slots;
    double *od = malloc(SIM_D * sizeof(double));
    for (int d = 0; d < dc->n_depths; d++)
        for (int i = 0; i < dc->n_seqs; i++) {
            const DepthSeq *c = &dc->seqs[i];
            if (c->depth != d) continue;
            for (int64_t r = c->q_start; r < c->q_start + c->q_len; r++) {
                const int64_t k_end = r + 1 < c->kv_start + c->kv_len ? r + 1 : c->kv_start + c->kv_len; // col <= row
                double m = -INFINITY, sum = 0.0;
                for (int64_t j = c->kv_start; j < k_end; j++) {
                    double sc = 0.0;
                    for (int e = 0; e < SIM_D; e++) sc += (double)q[r * SIM_D + e] * k[j * SIM_D + e];
                    m = fmax(m, sc * scale);
                }
                for (int e = 0; e < SIM_D; e++) od[e] = 0.0;
                for (int64_t j = c->kv_start; j < k_end; j++) {
                    double sc = 0.0;
                    for (int e = 0; e < SIM_D; e++) sc += (double)q[r * SIM_D + e] * k[j * SIM_D + e];
                    const double w = exp(sc * scale - m);
                    sum += w;
                    for (int e = 0; e < SIM_D; e++) od[e] += w * v[j * SIM_D + e];
                }
                const double l_d = m + log(sum);
                if (d == 0) {
                    lse[r] = l_d;
                    for (int e = 0; e < SIM_D; e++) o[r * SIM_D + e] = od[e] / sum;
                    continue;
                }
                const double mx = fmax(lse[r], l_d), wa = exp(lse[r] - mx), wb = exp(l_d - mx);
                for (int e = 0; e < SIM_D; e++) o[r * SIM_D + e] = (wa * o[r * SIM_D + e] + wb * od[e] / sum) / (wa + wb);
                lse[r] = mx + log(wa + wb);
            }
        }
    for (size_t t = 0; t < T * SIM_D; t++) dq[t] = dk[t] = dv[t] = 0.0;
    for (int d = 0; d < dc->n_depths; d++)
        for (int i = 0; i < dc->n_seqs; i++) {
            const DepthSeq *c = &dc->seqs[i];
            if (c->depth != d) continue;
            for (int64_t j = c->kv_start; j < c->kv_start + c->kv_len; j++) k_writes[j]++;
            for (int64_t r = c->q_start; r < c->q_start + c->q_len; r++) {
                const int64_t k_end = r + 1 < c->kv_start + c->kv_len ? r + 1 : c->kv_start + c->kv_len;
                double rs = 0.0;
                for (int e = 0; e < SIM_D; e++) rs += (double)dout[r * SIM_D + e] * o[r * SIM_D + e];
                for (int64_t j = c->kv_start; j < k_end; j++) {
                    double sc = 0.0, dp = 0.0;
                    for (int e = 0; e < SIM_D; e++) sc += (double)q[r * SIM_D + e] * k[j * SIM_D + e];
                    for (int e = 0; e < SIM_D; e++) dp += (double)dout[r * SIM_D + e] * v[j * SIM_D + e];
                    const double p = exp(sc * scale - lse[r]), ds = p * (dp - rs) * scale;
                    for (int e = 0; e < SIM_D; e++) {
                        dv[j * SIM_D + e] += p * dout[r * SIM_D + e];
                        dk[j * SIM_D + e] += ds * q[r * SIM_D + e];
                        dq[r * SIM_D + e] += ds * k[j * SIM_D + e];
                    }
                }
            }
        }
    free(od);
}

static double max_diff(const double *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double e = fabs(a[i] - (double)b[i]);
        m = e > m || e != e ? e : m;
    }
    return m;
}

// The simulated method against the oracle on one layout: o, lse, dq, dk, dv within 1e-5.
static void check_simulated(const Layout *l, const char *tag, uint64_t seed) {
    DepthCalls dc;
    CHECK(prefix_depth_calls(l, &dc) == 0, "%s: depth calls", tag);
    const size_t T = l->n_slots, n = T * SIM_D;
    float *f = malloc(4 * n * sizeof(float)), *ref = malloc((4 * n + T) * sizeof(float));
    double *sim = malloc((4 * n + T) * sizeof(double));
    int *k_writes = calloc(T, sizeof(int));
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < 4 * n; i++) f[i] = rng_normal(&r);
    const float *q = f, *k = f + n, *v = f + 2 * n, *dout = f + 3 * n;
    float *ro = ref, *rdq = ref + n, *rdk = ref + 2 * n, *rdv = ref + 3 * n, *rlse = ref + 4 * n;
    double *so = sim, *sdq = sim + n, *sdk = sim + 2 * n, *sdv = sim + 3 * n, *slse = sim + 4 * n;
    cpu_attention_forward(ro, rlse, q, k, v, l, 1, 1, SIM_D);
    cpu_attention_backward(rdq, rdk, rdv, dout, q, k, v, ro, rlse, l, 1, 1, SIM_D);
    sim_depth_calls(l, &dc, q, k, v, dout, so, slse, sdq, sdk, sdv, k_writes);
    double worst = 0.0;
    const double *got[5] = {so, sdq, sdk, sdv, slse};
    const float *want[5] = {ro, rdq, rdk, rdv, rlse};
    for (int t = 0; t < 5; t++) {
        const double e = max_diff(got[t], want[t], t == 4 ? T : n);
        worst = e > worst || e != e ? e : worst;
    }
    CHECK(worst <= 1e-5, "%s: simulated depth calls vs the oracle: max diff %.3g", tag, worst);
    for (size_t t = 0; t < T; t++) CHECK(k_writes[t] == 1, "%s: key %zu written by %d calls", tag, t, k_writes[t]);
    free(f), free(ref), free(sim), free(k_writes);
    prefix_depth_calls_free(&dc);
}

static void check_depth_calls(const Layout *l, const char *tag) {
    DepthCalls dc;
    CHECK(prefix_depth_calls(l, &dc) == 0, "%s: depth calls", tag);
    int *as_key = calloc(l->n_slots, sizeof(int)), *as_root_query = calloc(l->n_slots, sizeof(int));
    int32_t *kids = calloc((size_t)l->n_nodes, sizeof(int32_t));
    for (int i = 0; i < l->n_nodes; i++)
        if (l->nodes[i].parent >= 0) kids[l->nodes[i].parent]++;
    double pairs = 0.0;
    for (int d = 0; d < dc.n_depths; d++) {
        int64_t q_end = -1, kv_end = -1;
        int n = 0;
        for (int i = 0; i < dc.n_seqs; i++) {
            const DepthSeq s = dc.seqs[i];
            if (s.depth != d) continue;
            n++;
            CHECK(s.q_len >= s.kv_len && s.kv_len >= 1 && s.q_start == s.kv_start, "%s: depth %d chain %d lengths", tag,
                  d, i);
            CHECK(s.q_start >= q_end && s.kv_start >= kv_end, "%s: depth %d chain %d not increasing / disjoint", tag, d,
                  i);
            q_end = s.q_start + s.q_len;
            kv_end = s.kv_start + s.kv_len;
            for (int64_t k = s.kv_start; k < kv_end; k++) as_key[k]++;
            for (int64_t q = s.q_start; d == 0 && q < q_end; q++) as_root_query[q]++;
            // the call's pairs against the mask: every key against the chain's rows and the
            // first and last row below it (top-left causal: col <= row)
            for (int64_t q = s.q_start; q < q_end; q++) {
                if (q >= kv_end + 1 && q != q_end - 1) continue;
                for (int64_t k = s.kv_start; k < kv_end; k++)
                    CHECK((k <= q) == layout_allows(l, (size_t)q, (size_t)k), "%s: depth %d pair (%lld, %lld)", tag, d,
                          (long long)q, (long long)k);
            }
            // a chain is maximal: its last node has not exactly one child
            const int32_t last = l->node_of[kv_end - 1];
            CHECK(kids[last] != 1, "%s: depth %d chain %d ends at a node with one child", tag, d, i);
            pairs += depth_seq_pairs(&s);
        }
        CHECK(n > 0, "%s: depth %d has no chain", tag, d);
    }
    for (size_t t = 0; t < l->n_slots; t++) {
        const int real = l->node_of[t] >= 0;
        CHECK(as_key[t] == real && as_root_query[t] == real, "%s: slot %zu a key %d times, a root query %d times", tag,
              t, as_key[t], as_root_query[t]);
    }
    CHECK(pairs == (double)l->attn_pairs, "%s: depth calls' pairs %.0f, allowed %zu", tag, pairs, l->attn_pairs);
    CHECK(dc.n_depths <= l->max_depth, "%s: %d depth calls for %d levels", tag, dc.n_depths, l->max_depth);
    free(as_key);
    free(as_root_query);
    free(kids);
    prefix_depth_calls_free(&dc);
}

// The chains' levels of a forest's tree layout.
static int tree_depth_calls(const Forest *f) {
    Layout l;
    DepthCalls dc;
    if (layout_build_forest(&l, STRATEGY_TREE, f)) return -1;
    int n = prefix_depth_calls(&l, &dc) ? -1 : dc.n_depths;
    prefix_depth_calls_free(&dc);
    layout_free(&l);
    return n;
}

static int check_forest(const Forest *f, const char *what) {
    int n = 0;
    for (int s = STRATEGY_PREFIX; s <= STRATEGY_TREE; s++) {
        Layout l;
        char tag[96];
        snprintf(tag, sizeof tag, "%s %s", what, strategy_name((Strategy)s));
        CHECK(layout_build_forest(&l, (Strategy)s, f) == 0, "%s: layout", tag);
        if (l.n_nodes > l.n_seqs) { // more than one level: the depth calls run
            check_depth_calls(&l, tag);
            check_simulated(&l, tag, 1000 + (uint64_t)n + (uint64_t)l.n_slots);
            n++;
        }
        layout_free(&l);
    }
    return n;
}

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

    int layouts = 0;
    for (int depth = 2; depth <= 6; depth++)
        for (uint64_t seed = 1; seed <= 20; seed++) {
            Forest f;
            char what[64];
            snprintf(what, sizeof what, "forest depth %d seed %llu", depth, (unsigned long long)seed);
            CHECK(tiny_forest(&f, depth, 30, 100, seed * 31 + (uint64_t)depth) == 0, "%s: tiny_forest", what);
            layouts += check_forest(&f, what);
            forest_free(&f);
        }
    for (int k = 1; k <= 4; k++) { // flat groups, one of them without completions' length variety
        const int32_t prompts[3] = {5, 1, 40}, comps[12] = {3, 9, 1, 30, 2, 2, 2, 2, 17, 1, 8, 64};
        GroupBatch g;
        Forest f;
        char what[32];
        snprintf(what, sizeof what, "groups K %d", k);
        CHECK(groups_make(&g, 3, k, prompts, comps, 100, 9) == 0 && forest_from_groups(&f, &g) == 0, "%s", what);
        layouts += check_forest(&f, what);
        forest_free(&f);
        groups_free(&g);
    }
    // chains: 0 -> 1 -> 2 -> {3, 4} and 5 -> 6 -> 7 -> 8 (one child each), a lone root 9: two calls
    // (the chains [0 1 2], [5 6 7 8] and [9]; then 3 and 4), not four
    {
        static const int32_t len[10] = {33, 17, 9, 40, 3, 5, 60, 1, 2, 7}, parent[10] = {-1, 0, 1, 2, 2, -1, 5, 6, 7, -1};
        static const uint8_t loss[10] = {0, 1, 0, 1, 1, 0, 1, 1, 1, 0};
        Forest f;
        char err[160];
        CHECK(forest_make(&f, 10, len, parent, loss, 100, 5, err, sizeof err) == 0, "chains forest: %s", err);
        layouts += check_forest(&f, "chains forest");
        CHECK(tree_depth_calls(&f) == 2, "chains forest: %d depth calls, want 2", tree_depth_calls(&f));
        forest_free(&f);
    }
    // flat groups of one completion: one causal sequence each, one call
    {
        const int32_t prompts[2] = {7, 30}, comps[2] = {12, 1};
        GroupBatch g;
        Forest f;
        CHECK(groups_make(&g, 2, 1, prompts, comps, 100, 3) == 0 && forest_from_groups(&f, &g) == 0, "K 1 groups");
        CHECK(tree_depth_calls(&f) == 1, "K = 1: %d depth calls, want 1", tree_depth_calls(&f));
        forest_free(&f);
        groups_free(&g);
    }
    printf("test_prefix_path: depth calls of %d layouts\n", layouts);
    CHECK(layouts >= 100, "only %d layouts of more than one level", layouts);
    return test_finish("test_prefix_path");
}
