/*
 * recompute_plan.h: the recompute policy of one layout, chosen from the memory plan before
 * anything is allocated (plain host C: `bench plan` and the tests run it without a GPU).
 *
 * full / selective / none: that level (model/recompute.h) in every layer. auto: per layer, the
 * plan with the fewest recomputed FLOPs whose planned peak (gpu_memory_plan, default mode: what
 * the step allocates) fits the budget. The search, greedy by FLOPs saved per byte kept:
 *   - the two upgrades a layer can take, full -> selective and selective -> none, are ranked by
 *     recompute_layer_flops saved over gpu_plan_keep_bytes added (every layer has the same
 *     figures: same T, same pairs). For Qwen2.5-7B, selective saves (q/k/v + o GEMMs + the
 *     attention forward) / 23.7 kB per token, about 2,500 FLOP/B and more with long contexts;
 *     none then saves the MLP's gate/up GEMMs / 128 kB per token, about 2,100 FLOP/B. So every
 *     layer goes selective before any goes none (if a model ranks none first, layers go from
 *     full straight to none, and the ones left may still go selective: a second search).
 *   - within an upgrade, late layers first: a kept line lives from its layer's forward to its
 *     backward, and the backward runs L-1 first, so a late layer's lines die before the weight
 *     gradients (born layer by layer in backward) pile up; an early layer's lines are still live
 *     at the end, beside every gradient, where the small cells' peak is.
 *   - along that order the peak grows (a kept line's interval contains the backward line it
 *     replaces; only the attention-forward scratch a layer no longer runs in backward, or another
 *     chunk choice, can lower it), so the longest prefix that fits is found by bisection over the
 *     exact plan (about log2(2L) plans); the answer is always a prefix whose plan was made and fit.
 * Nothing fits (even full over the budget): full, fits = 0 (prepare then reports no memory).
 */
#ifndef PB_GPU_RECOMPUTE_PLAN_H
#define PB_GPU_RECOMPUTE_PLAN_H

#include <stddef.h>

#include "../model/recompute.h"
#include "memory_plan.h"

// The default budget where no device can be asked: an H200's 141 GB.
#define GPU_RECOMPUTE_HOST_BUDGET ((size_t)141000000000ull)
// The default budget on the device: its free memory (with what the step already holds) less this.
#define GPU_RECOMPUTE_MARGIN ((size_t)1 << 30)

typedef struct RecomputeChoice {
    RecomputePolicy policy;
    unsigned char level[GPU_PLAN_MAX_LAYERS]; // RecomputeLevel per layer
    GpuRecompute keep;                        // the plan's keep sets of those levels
    size_t budget;                            // the budget asked (0: none)
    size_t peak;                              // the chosen plan's peak (default mode)
    int plans;                                // memory plans made to choose (auto)
    int fits;                                 // 1: peak <= budget, or no budget
} RecomputeChoice;

// in: the layout's plan input (its recompute field is ignored; chunks fixed or chosen as usual).
// budget: auto's bound; for full / selective / none only what fits reports (0: no bound; the
// step passes 0 there). 0, or -1 with one line in err.
int gpu_recompute_choose(const GpuPlanInput *in, RecomputePolicy policy, size_t budget, RecomputeChoice *out,
                         char *err, size_t errlen);

#endif
