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
 * backward's (K prompt copies gathered and summed back) with the prompt. So where saved is a
 * tiny share of comp the split backward's overhead is not paid back: copied iff
 * saved < PREFIX_COPIED_BELOW * comp.
 * Why 1e-3: on the H200 (3 prompts x 2 completions, dev/NOTES.md) the split prefix step was
 * slower than padded in exactly the 6 grid cells with p/n <= 1/32 (128x4096 ... 512x16384;
 * saved / comp <= 4.6e-4) and not in the neighbouring cells with p/n = 1/16 (256x4096,
 * 512x8192, 1024x16384; 1.75e-3). 1e-3 lies between them (about their geometric mean). */
#define PREFIX_COPIED_BELOW 1e-3

// The path of one group of prompt length p and k completions of lengths comp_lens[0..k-1].
PrefixPath prefix_group_path(AttnPrefixMode mode, int32_t prompt_len, const int32_t *comp_lens, int k);

#endif
