/*
 * share_rule.h: the prefix layout's share-or-pad rule (strategies/prefix_share.h) for a model:
 * its FLOP rates are model_flops' (DESIGN.md section 3), so the choice and the FLOP columns
 * count the same FLOPs.
 */
#ifndef PB_SHARE_RULE_H
#define PB_SHARE_RULE_H

#include "../model/model.h"
#include "../strategies/prefix_share.h"

// mode, theta PREFIX_SHARE_THETA, and m's model FLOPs per token slot, attention pair and loss row.
PrefixShare share_rule(const ModelConfig *m, PrefixShareMode mode);

#endif
