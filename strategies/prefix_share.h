/*
 * prefix_share.h: whether the prefix layout shares a group's prompt or runs the group the padded
 * way (host C; the rule is tested on the CPU).
 *
 * A group is a parent of leaves (the flat case: one prompt and its K completions). Shared, its
 * path is written once and each leaf after it (layout.h, prefix); unshared, each leaf is its own
 * row [path, leaf], as the padded strategy writes it. Sharing saves FLOPs, but the attention of a
 * shared group runs by the split method (prompt causal, then completions against [prompt,
 * completion], merged: attention/prefix_path.h), which costs more than one plain causal call over
 * [prompt, completion]. So a group shares only when its FLOP-ideal gain,
 *     gain = FLOPs unshared / FLOPs shared   (model FLOPs of the group's counts, layout_estimate_group),
 * is at least 1 + theta.
 *
 * PREFIX_SHARE_THETA, the default theta, is 0.02, from the reference grid measured on the H200
 * (results/nll_2_qwen7b.csv, cuDNN 9.14, 3 prompts x 2 completions, split method): where
 * completions are long (>= 4096) the shared step ran 1.2% to 2.2% of its time above its FLOP ideal
 * (ideal / measured - 1, median 1.55%), and the six cells where prefix was slower than padded are
 * exactly those of ideal gain below 1.02: 128 x 4096 (ideal 1.0133, measured 0.9976), 128 x 8192
 * (1.0063, 0.9939), 128 x 16384 (1.0028, 0.9894), 256 x 8192 (1.0125, 0.9970), 256 x 16384
 * (1.0056, 0.9910), 512 x 16384 (1.0112, 0.9898); every cell of ideal >= 1.02 was faster shared
 * (the lowest: 1024 x 16384, ideal 1.0220, measured 1.0025; 512 x 8192, 1.0246, 1.0122), so a
 * larger theta (0.025) would give up measured gains.
 *
 * When no group of a batch shares and every path has one length, the prefix strategy's layout is
 * the padded strategy's layout itself (same rows, same kernels, no padding). Otherwise the
 * unshared groups' rows are separate causal documents inside the prefix layout (the packed way),
 * not a padded section (see layout.h): the rule counts each group unpadded, so padding paths of
 * several lengths to the longest could cost far more than sharing would have (prompt 200 over
 * completions of 16000 and 500: 1507 model TFLOP padded against 892 shared).
 */
#ifndef PB_PREFIX_SHARE_H
#define PB_PREFIX_SHARE_H

#include "layout_estimate.h"

#define PREFIX_SHARE_THETA 0.02

typedef enum PrefixShareMode {
    PREFIX_SHARE_AUTO,   // per group by the rule above (the default)
    PREFIX_SHARE_ALWAYS, // every group shares (the prefix layout as it was; for measurement)
} PrefixShareMode;

const char *prefix_share_mode_name(PrefixShareMode m);            // "auto", "always"
int prefix_share_mode_parse(const char *name, PrefixShareMode *out); // 0 or -1 (NULL: auto)

/* The rule: the mode, theta, and the model FLOPs per token slot, per allowed attention pair and
 * per loss row (model_flops is linear in the three counts; the caller takes them from it, so the
 * FLOP count has one source). */
typedef struct PrefixShare {
    PrefixShareMode mode;
    double theta;
    double flop_per_slot, flop_per_pair, flop_per_loss_row;
} PrefixShare;

// Model FLOPs of a layout's counts under the rule's rates.
double prefix_share_flops(const PrefixShare *r, const LayoutCounts *c);
// The group's gain (unshared FLOPs / shared FLOPs) into *gain (may be NULL); 1 if it shares.
int prefix_share_decide(const PrefixShare *r, const LayoutCounts *shared, const LayoutCounts *unshared, double *gain);

#endif
