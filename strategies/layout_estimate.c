// layout_estimate.c: layout_build's counts in closed form (see layout_estimate.h).
#include "layout_estimate.h"

#include <string.h>

// Causal pairs of a run of n tokens: token j sees j + 1 keys.
static int64_t causal_pairs(int64_t n) { return n * (n + 1) / 2; }

int layout_estimate(Strategy s, int B, int K, const int32_t *prompt_lens, const int32_t *comp_lens,
                    LayoutCounts *out) {
    memset(out, 0, sizeof *out);
    if (B < 1 || K < 1 || K > PB_MAX_COMPLETIONS || s < 0 || s >= STRATEGY_COUNT) return -1;
    int64_t prompt_tok = 0, comp_tok = 0, docs_pairs = 0, prefix_pairs = 0, longest = 0;
    for (int b = 0; b < B; b++) {
        int64_t p = prompt_lens[b];
        if (p < 1) return -1;
        prompt_tok += p;
        prefix_pairs += causal_pairs(p);
        for (int k = 0; k < K; k++) {
            int64_t c = comp_lens[(int64_t)b * K + k];
            if (c < 1) return -1;
            comp_tok += c;
            docs_pairs += causal_pairs(p + c);        // padded row / packed document [P, c]
            prefix_pairs += c * p + causal_pairs(c); // the prompt, then itself
            if (p + c > longest) longest = p + c;
        }
    }
    int64_t docs_tok = comp_tok + (int64_t)K * prompt_tok;
    out->n_loss = comp_tok;
    out->n_loss_rows = comp_tok;
    switch (s) {
    case STRATEGY_PADDED:
        out->n_slots = (int64_t)B * K * longest;
        out->n_real = docs_tok;
        out->attn_pairs = docs_pairs;
        break;
    case STRATEGY_PACKED:
        out->n_slots = out->n_real = docs_tok;
        out->attn_pairs = docs_pairs;
        break;
    default: // prefix: each prompt once; its last row feeds all K completions' first terms
        out->n_slots = out->n_real = prompt_tok + comp_tok;
        out->attn_pairs = prefix_pairs;
        out->n_loss_rows = comp_tok - (int64_t)B * (K - 1);
        break;
    }
    return 0;
}

int64_t layout_host_bytes(const LayoutCounts *c) {
    // tokens, pos, seq_id, seg_id, kv_lo, shared_end, seg_lo: int32 per slot; loss row and target
    return c->n_slots * 7 * 4 + c->n_loss * 2 * 4;
}
