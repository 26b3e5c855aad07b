/*
 * layout_estimate.h: what layout_build will produce, from the lengths alone: token slots,
 * allowed attention pairs and loss rows in 64 bits, with no allocation. The harness sizes a
 * cell with it (memory, FLOPs) before building anything; tests/cpu/test_layout_estimate holds
 * it equal to layout_build's counts. Prefix's counts are those of every group shared
 * (layout_build_forest); a share rule's layout (prefix_share.h) is the sum of its groups'
 * chosen counts, layout_estimate_group.
 */
#ifndef PB_LAYOUT_ESTIMATE_H
#define PB_LAYOUT_ESTIMATE_H

#include <stdint.h>

#include "forest.h"
#include "layout.h"

typedef struct LayoutCounts {
    int64_t n_slots;     // Layout.n_slots (padding included)
    int64_t n_real;      // Layout.n_real
    int64_t attn_pairs;  // Layout.attn_pairs
    int64_t n_loss;      // Layout.n_loss
    int64_t n_loss_rows; // Layout.n_loss_rows
} LayoutCounts;

// B groups, K completions each, prompt_lens [B], comp_lens [B*K] (all >= 1). 0, or -1 on bad
// input. Lengths are at most 2^24 and B*K at most 2^22, so nothing here overflows 64 bits.
int layout_estimate(Strategy s, int B, int K, const int32_t *prompt_lens, const int32_t *comp_lens,
                    LayoutCounts *out);
/* The same for a forest (forest.h): n segments of lengths len, parents parent (-1: a root), loss
 * flags loss, as forest_check accepts them (n_loss: the weighted pairs, layout.h). 0, or -1 on
 * bad input or out of host memory (a few arrays of n). */
int layout_estimate_forest(Strategy s, int n, const int32_t *len, const int32_t *parent, const uint8_t *loss,
                           LayoutCounts *out);
/* One group of the prefix layout (prefix_share.h): segment seg of forest f (w its walk), a parent
 * of leaves, with its leaf children. *shared: laid out as the prefix layout writes it (seg's path
 * once, then each leaf child); *unshared: each leaf child as one document [path, leaf] (the
 * packed strategy's way; the padded one's without padding). 0, or -1 when seg has no leaf child. */
int layout_estimate_group(const Forest *f, const ForestWalk *w, int seg, LayoutCounts *shared, LayoutCounts *unshared);
// Host bytes of the Layout itself (its per-slot and per-loss arrays).
int64_t layout_host_bytes(const LayoutCounts *c);

#endif
