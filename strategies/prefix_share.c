// prefix_share.c: the prefix layout's per-group choice, share or run the padded way (prefix_share.h).
#include "prefix_share.h"

#include <string.h>

static const char *const k_share_names[] = {"auto", "always"};

const char *prefix_share_mode_name(PrefixShareMode m) {
    return (unsigned)m < sizeof k_share_names / sizeof k_share_names[0] ? k_share_names[m] : "?";
}

int prefix_share_mode_parse(const char *name, PrefixShareMode *out) {
    if (!name) {
        *out = PREFIX_SHARE_AUTO;
        return 0;
    }
    for (size_t i = 0; i < sizeof k_share_names / sizeof k_share_names[0]; i++) {
        if (strcmp(name, k_share_names[i]) == 0) {
            *out = (PrefixShareMode)i;
            return 0;
        }
    }
    return -1;
}

double prefix_share_flops(const PrefixShare *r, const LayoutCounts *c) {
    return r->flop_per_slot * (double)c->n_slots + r->flop_per_pair * (double)c->attn_pairs +
           r->flop_per_loss_row * (double)c->n_loss_rows;
}

int prefix_share_decide(const PrefixShare *r, const LayoutCounts *shared, const LayoutCounts *unshared, double *gain) {
    const double fs = prefix_share_flops(r, shared), fu = prefix_share_flops(r, unshared);
    const double g = fs > 0 ? fu / fs : 1.0;
    if (gain) *gain = g;
    return r->mode == PREFIX_SHARE_ALWAYS || g >= 1.0 + r->theta;
}
