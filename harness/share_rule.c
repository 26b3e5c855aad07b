// share_rule.c: the share-or-pad rule at a model's FLOP rates (share_rule.h).
#include "share_rule.h"

PrefixShare share_rule(const ModelConfig *m, PrefixShareMode mode) {
    // model_flops is linear in its three counts: its value at each unit count is that count's rate
    return (PrefixShare){.mode = mode, .theta = PREFIX_SHARE_THETA,
                         .flop_per_slot = model_flops(m, 1, 0, 0).total,
                         .flop_per_pair = model_flops(m, 0, 1, 0).total,
                         .flop_per_loss_row = model_flops(m, 0, 0, 1).total};
}
