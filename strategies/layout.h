/*
 * layout.h: the three ways to batch B prompts with K completions each (DESIGN.md section 1).
 *
 *   padded  B*K rows [P, c_k], right-padded to the longest row; causal per row.
 *   packed  one row [P,c1][P,c2]...; positions restart per document; causal per document.
 *   prefix  one row [P, c1, ..., cK] per group, groups concatenated; every completion sees its
 *           prompt and itself, never a sibling; its positions restart at len(P).
 *
 * A Layout is plain host data: token slots (n_rows x row_len, flattened row-major), the mask
 * rule in two encodings, the attention sequences, and the loss pairs. Every device copy is made
 * from it; nothing else describes a batch.
 */
#ifndef PB_LAYOUT_H
#define PB_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define PB_MAX_COMPLETIONS 64
// Token slots of one layout at most: slot indices are int32 (seg_lo may equal n_slots).
#define PB_MAX_SLOTS ((int64_t)INT32_MAX - 1)

typedef enum Strategy { STRATEGY_PADDED, STRATEGY_PACKED, STRATEGY_PREFIX, STRATEGY_COUNT } Strategy;

const char *strategy_name(Strategy s);            // "padded", "packed", "prefix"
int strategy_parse(const char *name, Strategy *out); // 0 or -1

/* The input of every layout: B groups, each one prompt and K completions of token ids. */
typedef struct GroupBatch {
    int n_groups;        // B
    int k;               // K completions per group, 1..PB_MAX_COMPLETIONS
    int32_t *prompt_len; // [B]
    int32_t *comp_len;   // [B*K], group-major
    size_t *prompt_off;  // [B]   offset of each prompt in ids
    size_t *comp_off;    // [B*K] offset of each completion in ids
    int32_t *ids;        // all token ids
    size_t n_ids;
} GroupBatch;

// Random token ids in [0, vocab) for the given lengths (prompt_lens [B], comp_lens [B*K]).
int groups_make(GroupBatch *g, int n_groups, int k, const int32_t *prompt_lens,
                const int32_t *comp_lens, int vocab, uint64_t seed);
void groups_free(GroupBatch *g);

/* An attention sequence: a padded row, a packed document, or a prefix group. */
typedef struct LayoutSeq {
    int32_t start;      // first token slot
    int32_t len;        // real tokens (a padded row's padding excluded)
    int32_t shared_len; // prefix: the prompt length every completion sees; 0 otherwise
} LayoutSeq;

/* A prefix layout's completion: its slots [start, start + len) inside sequence seq. */
typedef struct LayoutSeg {
    int32_t seq;
    int32_t start;
    int32_t len;
} LayoutSeg;

typedef struct Layout {
    Strategy strategy;
    int n_groups, k;
    int n_rows;          // padded: B*K; packed and prefix: 1
    int row_len;         // padded: longest p + n_k; else all tokens
    size_t n_slots;      // n_rows * row_len
    size_t n_real;       // slots holding a real token
    int32_t *tokens;     // [n_slots] token id; 0 in padding
    int32_t *pos;        // [n_slots] RoPE position; 0 in padding

    /* The mask rule, definition: q may see k iff seq_id[q] == seq_id[k] >= 0, k <= q, and
     * (seg_id[k] == 0 or seg_id[k] == seg_id[q]). seg_id is 0 for prompt tokens and for every
     * token of the padded and packed layouts, c+1 for completion c of a prefix group. */
    int32_t *seq_id;     // [n_slots] -1 in padding
    int32_t *seg_id;     // [n_slots]

    /* The same rule as key ranges, for kernels: q sees k iff
     * kv_lo[q] <= k < shared_end[q]  or  seg_lo[q] <= k <= q.  kv_lo[q] == -1 in padding.
     * padded/packed: shared_end = seg_lo = kv_lo = sequence start. prefix: kv_lo = group start;
     * prompt tokens: shared_end = seg_lo = group start; completion tokens: shared_end = prompt
     * end, seg_lo = completion start. */
    int32_t *kv_lo;      // [n_slots]
    int32_t *shared_end; // [n_slots]
    int32_t *seg_lo;     // [n_slots]

    int n_seqs;
    LayoutSeq *seqs;     // [n_seqs] in slot order
    int n_segs;
    LayoutSeg *segs;     // [n_segs] prefix completions in slot order; 0 for padded and packed

    /* Loss pairs: completion token c_k[j] is predicted from the hidden state of the previous
     * token of its own logical sequence [P, c_k]: c_k[0] from P's last token (shared by all K
     * completions in the prefix layout), c_k[j] from c_k[j-1]. Sorted by loss_row (ties keep
     * group, completion, j order), so equal rows are adjacent. */
    size_t n_loss;       // == number of completion tokens
    int32_t *loss_row;   // [n_loss] hidden-state slot
    int32_t *loss_target;// [n_loss] target token id

    size_t attn_pairs;   // allowed (q, k) pairs, for FLOPs
    size_t n_loss_rows;  // distinct loss_row values: the rows the LM head runs on
                         // (n_loss, less B*(K-1) in the prefix layout where K pairs share a row)
} Layout;

int layout_build(Layout *out, Strategy s, const GroupBatch *g); // 0 or -1 (out of memory / bad input)
void layout_free(Layout *l);

// The mask rule from the definition (seq_id / seg_id).
static inline int layout_allows(const Layout *l, size_t q, size_t k) {
    int32_t sq = l->seq_id[q];
    if (sq < 0 || l->seq_id[k] != sq || k > q) return 0;
    return l->seg_id[k] == 0 || l->seg_id[k] == l->seg_id[q];
}

// The mask rule from the key ranges; must agree with layout_allows (tested).
static inline int layout_allows_ranges(const Layout *l, size_t q, size_t k) {
    int32_t lo = l->kv_lo[q];
    if (lo < 0 || k > q) return 0;
    return ((int64_t)k >= lo && (int64_t)k < l->shared_end[q]) || (int64_t)k >= l->seg_lo[q];
}

/* The keys query q may see, as at most two disjoint half-open slot ranges [lo[i], hi[i]) in
 * increasing order (the union of the two ranges of layout_allows_ranges, clipped to k <= q).
 * Returns the number of ranges: 0 in padding, 1 or 2 otherwise. */
static inline int layout_key_ranges(const Layout *l, size_t q, int64_t lo[2], int64_t hi[2]) {
    int64_t lo0 = l->kv_lo[q];
    if (lo0 < 0) return 0;
    int64_t hi0 = l->shared_end[q] < (int64_t)q + 1 ? l->shared_end[q] : (int64_t)q + 1;
    int64_t lo1 = l->seg_lo[q] > 0 ? l->seg_lo[q] : 0, hi1 = (int64_t)q + 1;
    if (hi0 <= lo0) { lo[0] = lo1; hi[0] = hi1; return lo1 < hi1; } // first range empty
    if (lo1 >= hi1) { lo[0] = lo0; hi[0] = hi0; return 1; }          // second range empty
    if (lo1 <= hi0) { lo[0] = lo0 < lo1 ? lo0 : lo1; hi[0] = hi1; return 1; } // they touch: merge
    lo[0] = lo0; hi[0] = hi0; lo[1] = lo1; hi[1] = hi1;
    return 2;
}

#endif
