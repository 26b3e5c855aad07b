/*
 * layout.c: builds the three batch layouts of DESIGN.md section 1 from a GroupBatch.
 *
 * Every layout is made of "sequences" (a padded row, a packed document, a prefix group). One
 * writer, seq_write, fills a sequence's slots from its pieces: the prompt, then one or more
 * completions. A padded row and a packed document are [P, c_k] with causal attention (seg_id 0
 * everywhere); a prefix group is [P, c_1..c_K] where each completion is its own segment whose
 * positions restart at len(P). The loss pairs are emitted in slot order as the sequence is
 * written, so they come out sorted by row without a sort: in a prefix group the K pairs that
 * read the prompt's last slot come first (they all have that row), then each completion's.
 */
#include "layout.h"

#include <stdlib.h>
#include <string.h>

void layout_free(Layout *l) {
    if (!l) return;
    free(l->tokens); free(l->pos); free(l->seq_id); free(l->seg_id);
    free(l->kv_lo); free(l->shared_end); free(l->seg_lo);
    free(l->seqs); free(l->segs); free(l->loss_row); free(l->loss_target);
    memset(l, 0, sizeof *l);
}

// Lengths positive, K in range, every piece inside ids, every id non-negative.
static int groups_valid(const GroupBatch *g) {
    if (!g || g->n_groups <= 0 || g->k < 1 || g->k > PB_MAX_COMPLETIONS) return 0;
    if (!g->prompt_len || !g->comp_len || !g->prompt_off || !g->comp_off || !g->ids) return 0;
    for (int b = 0; b < g->n_groups; b++) {
        if (g->prompt_len[b] < 1 || g->prompt_off[b] > g->n_ids ||
            (size_t)g->prompt_len[b] > g->n_ids - g->prompt_off[b])
            return 0;
        for (int c = 0; c < g->k; c++) {
            size_t i = (size_t)b * g->k + c;
            if (g->comp_len[i] < 1 || g->comp_off[i] > g->n_ids ||
                (size_t)g->comp_len[i] > g->n_ids - g->comp_off[i])
                return 0;
        }
    }
    for (size_t i = 0; i < g->n_ids; i++)
        if (g->ids[i] < 0) return 0;
    return 1;
}

// Writes sequence `seq` at slot `start`: prompt of group b, then completions c0..c1-1 of it.
// segmented = 1 (prefix): each completion is a segment seeing the prompt and itself.
static void seq_write(Layout *l, const GroupBatch *g, int seq, int32_t start, int b, int c0, int c1,
                      int segmented) {
    int32_t p = g->prompt_len[b];
    const int32_t *prompt = g->ids + g->prompt_off[b];
    for (int32_t j = 0; j < p; j++) {
        size_t s = (size_t)start + j;
        l->tokens[s] = prompt[j];
        l->pos[s] = j;
        l->seq_id[s] = seq;
        l->seg_id[s] = 0;
        l->kv_lo[s] = l->shared_end[s] = l->seg_lo[s] = start;
    }
    int32_t prompt_last = start + p - 1;
    // c_k[0] of every completion is predicted from the prompt's last slot: those pairs first.
    for (int c = c0; c < c1; c++) {
        size_t i = (size_t)b * g->k + c;
        l->loss_row[l->n_loss] = prompt_last;
        l->loss_target[l->n_loss++] = g->ids[g->comp_off[i]];
    }
    int32_t s0 = start + p;
    for (int c = c0; c < c1; c++) {
        size_t i = (size_t)b * g->k + c;
        int32_t n = g->comp_len[i];
        const int32_t *comp = g->ids + g->comp_off[i];
        if (segmented) l->segs[l->n_segs++] = (LayoutSeg){.seq = seq, .start = s0, .len = n};
        for (int32_t j = 0; j < n; j++) {
            size_t s = (size_t)s0 + j;
            l->tokens[s] = comp[j];
            l->pos[s] = p + j;
            l->seq_id[s] = seq;
            l->seg_id[s] = segmented ? c - c0 + 1 : 0;
            l->kv_lo[s] = start;
            l->shared_end[s] = segmented ? start + p : start;
            l->seg_lo[s] = segmented ? s0 : start;
            if (j > 0) {
                l->loss_row[l->n_loss] = (int32_t)s - 1;
                l->loss_target[l->n_loss++] = comp[j];
            }
        }
        s0 += n;
    }
    l->seqs[l->n_seqs++] = (LayoutSeq){.start = start, .len = s0 - start, .shared_len = segmented ? p : 0};
}

// Padding slots: token 0, position 0, no sequence, empty key ranges (kv_lo -1; shared_end and
// seg_lo chosen so both ranges are empty even for a kernel that ignores kv_lo).
static void pad_write(Layout *l, size_t s) {
    l->tokens[s] = 0;
    l->pos[s] = 0;
    l->seq_id[s] = -1;
    l->seg_id[s] = 0;
    l->kv_lo[s] = -1;
    l->shared_end[s] = -1;
    l->seg_lo[s] = (int32_t)s + 1;
}

static size_t count_attn_pairs(const Layout *l) {
    size_t n = 0;
    for (size_t q = 0; q < l->n_slots; q++) {
        int64_t lo[2], hi[2];
        int r = layout_key_ranges(l, q, lo, hi);
        for (int i = 0; i < r; i++) n += (size_t)(hi[i] - lo[i]);
    }
    return n;
}

int layout_build(Layout *out, Strategy s, const GroupBatch *g) {
    memset(out, 0, sizeof *out);
    if (s < 0 || s >= STRATEGY_COUNT || !groups_valid(g)) return -1;
    int B = g->n_groups, K = g->k;
    size_t prompt_tok = 0, comp_tok = 0, longest = 0;
    for (int b = 0; b < B; b++) {
        prompt_tok += (size_t)g->prompt_len[b];
        for (int c = 0; c < K; c++) {
            size_t n = (size_t)g->comp_len[(size_t)b * K + c], row = (size_t)g->prompt_len[b] + n;
            comp_tok += n;
            if (row > longest) longest = row;
        }
    }
    size_t docs_tok = comp_tok;
    for (int b = 0; b < B; b++) docs_tok += (size_t)K * (size_t)g->prompt_len[b];

    Layout *l = out;
    l->strategy = s;
    l->n_groups = B;
    l->k = K;
    size_t n_slots, n_real;
    switch (s) {
    case STRATEGY_PADDED: l->n_rows = B * K; n_slots = (size_t)B * K * longest; n_real = docs_tok; break;
    case STRATEGY_PACKED: l->n_rows = 1; n_slots = n_real = docs_tok; break;
    default:              l->n_rows = 1; n_slots = n_real = prompt_tok + comp_tok; break;
    }
    if (n_slots > (size_t)PB_MAX_SLOTS) return -1;
    l->row_len = (int)(n_slots / (size_t)l->n_rows);
    l->n_slots = n_slots;
    l->n_real = n_real;

    int max_seqs = s == STRATEGY_PREFIX ? B : B * K;
    l->tokens = malloc(n_slots * sizeof(int32_t));
    l->pos = malloc(n_slots * sizeof(int32_t));
    l->seq_id = malloc(n_slots * sizeof(int32_t));
    l->seg_id = malloc(n_slots * sizeof(int32_t));
    l->kv_lo = malloc(n_slots * sizeof(int32_t));
    l->shared_end = malloc(n_slots * sizeof(int32_t));
    l->seg_lo = malloc(n_slots * sizeof(int32_t));
    l->seqs = malloc((size_t)max_seqs * sizeof(LayoutSeq));
    l->segs = s == STRATEGY_PREFIX ? malloc((size_t)B * K * sizeof(LayoutSeg)) : NULL;
    l->loss_row = malloc(comp_tok * sizeof(int32_t));
    l->loss_target = malloc(comp_tok * sizeof(int32_t));
    if (!l->tokens || !l->pos || !l->seq_id || !l->seg_id || !l->kv_lo || !l->shared_end ||
        !l->seg_lo || !l->seqs || (s == STRATEGY_PREFIX && !l->segs) || !l->loss_row || !l->loss_target) {
        layout_free(l);
        return -1;
    }

    int32_t at = 0;
    for (int b = 0; b < B; b++) {
        if (s == STRATEGY_PREFIX) {
            seq_write(l, g, l->n_seqs, at, b, 0, K, 1);
            at += l->seqs[l->n_seqs - 1].len;
            continue;
        }
        for (int c = 0; c < K; c++) {
            seq_write(l, g, l->n_seqs, at, b, c, c + 1, 0);
            int32_t len = l->seqs[l->n_seqs - 1].len;
            if (s == STRATEGY_PADDED) {
                for (int32_t j = len; j < l->row_len; j++) pad_write(l, (size_t)at + j);
                at += l->row_len;
            } else {
                at += len;
            }
        }
    }
    l->attn_pairs = count_attn_pairs(l);
    for (size_t i = 0; i < l->n_loss; i++) // sorted by row: count the changes
        l->n_loss_rows += i == 0 || l->loss_row[i] != l->loss_row[i - 1];
    return 0;
}
