/*
 * prefix_path.h: which way the cuDNN backend runs the backward of a prefix group's attention
 * (host C, no CUDA: the rule is tested on the CPU).
 *
 * The forward of every group is the same two calls: the prompt causal against itself, and each
 * completion against a copy of [its prompt's K/V, its own K/V] (bottom-right causal). The
 * backward, per group, either
 *   split   by keys: the whole group against its prompt keys, then each completion against
 *           itself; the completion rows' two dQ parts are summed. No copies; but a second call
 *           and a dQ sum over every completion row.
 *   copied  the forward's two calls backward over the copied K/V; the prompt's K copies' dK/dV
 *           are summed back onto it. One call per completion, no dQ sum; but K prompt copies.
 * Both visit exactly the allowed (query, key) pairs, so they cost the same attention FLOPs; what
 * differs is the overhead, which the rule below weighs through the FLOP counts.
 */
#ifndef PB_PREFIX_PATH_H
#define PB_PREFIX_PATH_H

#include <stddef.h>
#include <stdint.h>

typedef enum AttnPrefixMode {
    ATTN_PREFIX_AUTO,   // per group by prefix_group_path's cost rule (the default)
    ATTN_PREFIX_SPLIT,  // every group split (for measurement)
    ATTN_PREFIX_COPIED, // every group copied (for measurement)
} AttnPrefixMode;

typedef enum PrefixPath { PREFIX_PATH_SPLIT, PREFIX_PATH_COPIED } PrefixPath;

const char *attn_prefix_mode_name(AttnPrefixMode m);            // "auto", "split", "copied"
int attn_prefix_mode_parse(const char *name, AttnPrefixMode *out); // 0 or -1 (NULL: auto)

/* Cost rule of ATTN_PREFIX_AUTO. Per layer and head, sharing the prompt saves the (K - 1)
 * repeats of its causal self-attention, saved = (K-1) p (p+1) / 2 pairs, out of the group's
 * completion pairs comp = sum_k (n_k p + n_k (n_k+1) / 2). The split backward's extra work (a
 * second call and a dQ sum over every completion row) grows with the completions; the copied
 * backward's (K prompt copies gathered and summed back) with the prompt. The rule: copied iff
 * saved < copied_below * comp.
 * PREFIX_COPIED_BELOW, the default copied_below, is 0 (never copied), as measured on the H200
 * (cuDNN 9.14, 3 prompts x 2 completions, results/runs/prefix_path_8adfa48.csv): even where the
 * copied backward should pay most (p/n = 1/128 and 1/64, saved / comp 1.2e-4 and 2.4e-4), it is
 * slower than split: 128x16384 attention backward 119.7 vs 63.4 ms (dev/attn_bench), whole step
 * 12819 vs 11281 ms; 128x8192 step 5365 vs 4955 ms. A first guess of 1e-3 (between the cells
 * where split was slower than padded and their neighbours) sent those cells to the slower path.
 * Tests pass a non-zero copied_below to exercise groups of both paths in one layout. */
#define PREFIX_COPIED_BELOW 0.0

// The path of one group of prompt length p and k completions of lengths comp_lens[0..k-1].
PrefixPath prefix_group_path(AttnPrefixMode mode, double copied_below, int32_t prompt_len, const int32_t *comp_lens,
                             int k);

#endif
