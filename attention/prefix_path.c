// prefix_path.c: the per-group choice of the prefix backward (see prefix_path.h).
#include "prefix_path.h"

#include <string.h>

static const char *const k_mode_names[] = {"auto", "split", "copied"};

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

PrefixPath prefix_group_path(AttnPrefixMode mode, double copied_below, int32_t prompt_len, const int32_t *comp_lens,
                             int k) {
    if (mode == ATTN_PREFIX_SPLIT) return PREFIX_PATH_SPLIT;
    if (mode == ATTN_PREFIX_COPIED) return PREFIX_PATH_COPIED;
    const double p = prompt_len;
    double comp = 0.0;
    for (int i = 0; i < k; i++) comp += (double)comp_lens[i] * p + (double)comp_lens[i] * (comp_lens[i] + 1.0) / 2.0;
    const double saved = (k - 1) * p * (p + 1.0) / 2.0;
    return saved < copied_below * comp ? PREFIX_PATH_COPIED : PREFIX_PATH_SPLIT;
}
