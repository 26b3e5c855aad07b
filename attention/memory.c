// memory.c: the attention backends' device memory for a layout, on the host (attn_memory.h).
// Mirrors the prepare() of attention/simple.cu and of the cuDNN backend (cudnn.c, cudnn_tree.c:
// the same calls, sequences, forward and parts); both check their allocations against it.
#include "attn_memory.h"
#include "kv_gather.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t align256(size_t n) { return (n + 255) / 256 * 256; }

// One call's device arrays (cudnn_sdpa.c sdpa_upload_seqs): per-sequence lengths and, ragged,
// the offsets of q, k/v and the statistics.
static size_t call_held(size_t b, int ragged) {
    return 2 * b * sizeof(int32_t) + (ragged ? 3 * (b + 1) * sizeof(int64_t) : 0);
}

/* ---- the cuDNN backend's calls for a layout -------------------------------------------------- */

// One call's sequences: query and key starts (slots) and lengths.
typedef struct CallSeqs { int n; int64_t *sq, *skv; int32_t *lq, *lkv; } CallSeqs;

typedef struct CudnnCalls {
    CallSeqs c[ATTN_PARTED_COUNT]; // the calls run in parts
    int prefix;                    // a layout of more than one level (prefix, tree)
    PrefixForward fwd;             // its forward (prefix_path.h)
    int n_fwd_seqs[2];             // gather forward: roots, gathers (kv_gather.h)
    size_t cat_tokens;             // gather forward: kcat/vcat tokens
} CudnnCalls;

static int seqs_alloc(CallSeqs *c, int n) {
    c->n = 0;
    size_t m = (size_t)(n > 0 ? n : 1);
    c->sq = malloc(m * sizeof *c->sq), c->skv = malloc(m * sizeof *c->skv);
    c->lq = malloc(m * sizeof *c->lq), c->lkv = malloc(m * sizeof *c->lkv);
    return c->sq && c->skv && c->lq && c->lkv ? 0 : -1;
}

static void seqs_add(CallSeqs *c, int64_t sq, int32_t lq, int64_t skv, int32_t lkv) {
    c->sq[c->n] = sq, c->lq[c->n] = lq, c->skv[c->n] = skv, c->lkv[c->n] = lkv;
    c->n++;
}

static void calls_free(CudnnCalls *k) {
    for (int i = 0; i < ATTN_PARTED_COUNT; i++) free(k->c[i].sq), free(k->c[i].skv), free(k->c[i].lq), free(k->c[i].lkv);
    memset(k, 0, sizeof *k);
}

/* The calls of a packed layout (and of a prefix or tree layout of one level: whole, every
 * document), or of a prefix / tree layout (cudnn_tree.c, prefix_path.h): per depth d, every chain
 * at depth d as keys against its subtree as queries; the gather forward's roots and gathers.
 * -1: out of host memory. */
static int cudnn_calls(const Layout *l, const AttnMemoryAsk *ask, CudnnCalls *k) {
    memset(k, 0, sizeof *k);
    int rc = 0;
    for (int i = 0; i < ATTN_PARTED_COUNT; i++) rc |= seqs_alloc(&k->c[i], l->n_nodes); // >= seqs, nodes per depth
    if (rc) { calls_free(k); return -1; }
    if (l->strategy < STRATEGY_PREFIX || l->n_nodes == l->n_seqs) { // padded, packed; one level
        for (int i = 0; i < l->n_seqs; i++)
            seqs_add(&k->c[ATTN_PARTED_WHOLE], l->seqs[i].start, l->seqs[i].len, l->seqs[i].start, l->seqs[i].len);
        return 0;
    }
    k->prefix = 1;
    k->fwd = prefix_forward(ask->prefix, l->max_depth);
    DepthCalls dc;
    if (prefix_depth_calls(l, &dc)) { calls_free(k); return -1; }
    for (int i = 0; i < dc.n_seqs; i++) {
        const DepthSeq *q = &dc.seqs[i];
        seqs_add(&k->c[ATTN_PARTED_DEPTH + q->depth], q->q_start, q->q_len, q->kv_start, q->kv_len);
    }
    prefix_depth_calls_free(&dc);
    if (k->fwd == PREFIX_FWD_GATHER) {
        KvGather *g;
        int n = kv_gathers_of_tree(l, &g, &k->cat_tokens);
        free(g);
        if (n < 0) { calls_free(k); return -1; }
        k->n_fwd_seqs[0] = l->n_seqs;
        k->n_fwd_seqs[1] = n;
    }
    return 0;
}

// The largest part spans (tokens) of a call cut in parts of `part` sequences.
static AttnPartSpan part_spans(const CallSeqs *c, int part) {
    AttnPartSpan m = {0, 0};
    for (int i0 = 0; part > 0 && i0 < c->n; i0 += part) {
        int last = i0 + part - 1;
        int64_t q = c->sq[last] + c->lq[last] - c->sq[i0], kv = c->skv[last] + c->lkv[last] - c->skv[i0];
        if (q > m.q) m.q = q;
        if (kv > m.kv) m.kv = kv;
    }
    return m;
}

// The next smaller divisor of n below part (1 stays 1).
static int smaller_part(int n, int part) {
    for (int p = part - 1; p > 1; p--)
        if (n % p == 0) return p;
    return 1;
}

// The largest query span of the calls below the roots (depth >= 1): what their dq (backward)
// and o and lse (merged forward) cover before they are added onto the first call's.
static size_t deeper_rows(const AttnPartSpan *span) {
    size_t rows = 0;
    for (int i = ATTN_PARTED_DEPTH + 1; i < ATTN_PARTED_COUNT; i++)
        if ((size_t)span[i].q > rows) rows = (size_t)span[i].q;
    return rows;
}

// The backward's per-call buffers for these spans: softmax sums, fp32 dQ accumulator, GQA's
// per-head dK/dV (ragged calls), the deeper calls' dq (bytes, aligned).
static size_t parted_need(const AttnShape *sh, const AttnPartSpan *span) {
    const size_t hq = (size_t)sh->n_head, qd = hq * (size_t)sh->head_dim;
    size_t rows = 0, keys = 0;
    for (int i = 0; i < ATTN_PARTED_COUNT; i++) {
        if ((size_t)span[i].q > rows) rows = (size_t)span[i].q;
        if ((size_t)span[i].kv > keys) keys = (size_t)span[i].kv;
    }
    size_t need = align256(rows * hq * sizeof(float)) + align256(rows * qd * sizeof(float));
    if (sh->n_head != sh->n_kv_head) need += 2 * align256(keys * qd * 2);
    const size_t deeper = deeper_rows(span);
    if (deeper) need += align256(deeper * qd * 2);
    return need;
}

// What tight parts' backward buffers may need: an unsplit call's sums and dQ accumulator over all
// slots, without GQA's per-head dK/dV or a workspace (bytes, aligned).
static size_t tight_budget(const AttnShape *sh, const Layout *l) {
    const size_t qd = (size_t)sh->n_head * (size_t)sh->head_dim, T = l->n_slots;
    return align256(T * (size_t)sh->n_head * sizeof(float)) + align256(T * qd * sizeof(float));
}

/* Parts: as many sequences as fit in ATTN_CUDNN_PART_TOKENS tokens (a divisor of the count);
 * then, while the backward's buffers would need more than an unsplit call without GQA (sums and
 * dQ accumulator over all slots: what the padded layout needs for at least as many slots),
 * fewer in the call with the largest part (tight only). */
static void choose_parts(const AttnShape *sh, const Layout *l, const CudnnCalls *k, int tight, AttnParts *out) {
    AttnPartSpan span[ATTN_PARTED_COUNT];
    for (int i = 0; i < ATTN_PARTED_COUNT; i++) {
        const CallSeqs *c = &k->c[i];
        int64_t max_len = 0;
        for (int j = 0; j < c->n; j++) {
            if (c->lq[j] > max_len) max_len = c->lq[j];
            if (c->lkv[j] > max_len) max_len = c->lkv[j];
        }
        out->part[i] = c->n ? 1 : 0;
        for (int p = 1; p <= c->n; p++)
            if (c->n % p == 0 && (int64_t)p * max_len <= ATTN_CUDNN_PART_TOKENS) out->part[i] = p;
        span[i] = part_spans(c, out->part[i]);
    }
    const size_t budget = tight_budget(sh, l);
    while (tight && parted_need(sh, span) > budget) {
        int worst = -1;
        for (int i = 0; i < ATTN_PARTED_COUNT; i++)
            if (out->part[i] > 1 && (worst < 0 || span[i].q + span[i].kv > span[worst].q + span[worst].kv)) worst = i;
        if (worst < 0) break; // one sequence per part everywhere: as small as it gets
        out->part[worst] = smaller_part(k->c[worst].n, out->part[worst]);
        span[worst] = part_spans(&k->c[worst], out->part[worst]);
    }
    for (int i = 0; i < ATTN_PARTED_COUNT; i++) out->span[i] = span[i];
}

/* The padded layout's rows per backward part (attn_memory.h), a divisor of the rows: every row
 * (few); the tight level's divisor; at most the forced count. */
static int padded_part_rows(const Layout *l, const AttnMemoryAsk *ask) {
    const int forced = ask->padded_part_rows;
    int level = 0;
    for (int p = forced > 0 && forced < l->n_rows ? forced : l->n_rows; p > 1; p--) {
        if (l->n_rows % p) continue;
        if (forced > 0 || level++ == ask->tight) return p;
    }
    return 1;
}

int attn_cudnn_parts(const AttnShape *sh, const Layout *l, const AttnMemoryAsk *ask, AttnParts *out) {
    memset(out, 0, sizeof *out);
    if (l->strategy == STRATEGY_PADDED) {
        const int part = padded_part_rows(l, ask);
        const int64_t slots = (int64_t)part * l->row_len; // BSHD: a part's buffers cover its rows whole
        out->part[ATTN_PARTED_WHOLE] = part;
        out->span[ATTN_PARTED_WHOLE] = (AttnPartSpan){slots, slots};
        return 0;
    }
    CudnnCalls k;
    if (cudnn_calls(l, ask, &k)) return -1;
    choose_parts(sh, l, &k, ask->tight, out);
    calls_free(&k);
    return 0;
}

size_t attn_cudnn_workspace_floor(const AttnShape *sh, Strategy s, size_t slots, int pass) {
    size_t ws = ATTN_CUDNN_WORKSPACE_RESERVE;
    if (s == STRATEGY_PADDED) { // the BSHD engine's workspace as measured (attn_memory.h)
        const size_t padded_ws = slots * (size_t)sh->n_head * (size_t)sh->head_dim * sizeof(float) +
                                 (pass == ATTN_BWD ? ATTN_CUDNN_PADDED_BWD_EXTRA : 0);
        if (padded_ws > ws) ws = padded_ws;
    }
    return align256(ws);
}

/* The padded layout: the forward one BSHD call over every row; the backward the same call
 * (few) or a second plan over `part` rows run once per part (its own lengths per part); per-head
 * dK/dV are virtual (the engine's workspace). */
static void padded_memory(const AttnShape *sh, const Layout *l, const AttnMemoryAsk *ask, AttnMemory *out) {
    const size_t hq = (size_t)sh->n_head, d = (size_t)sh->head_dim;
    AttnParts parts;
    attn_cudnn_parts(sh, l, ask, &parts); // padded: no host allocation, cannot fail
    const int part = parts.part[ATTN_PARTED_WHOLE], n_parts = l->n_rows / part;
    const size_t rows = (size_t)parts.span[ATTN_PARTED_WHOLE].q;
    out->held = call_held((size_t)l->n_rows, 0) + (n_parts > 1 ? (size_t)n_parts * call_held((size_t)part, 0) : 0);
    out->workspace[ATTN_FWD] = attn_cudnn_workspace_floor(sh, l->strategy, l->n_slots, ATTN_FWD);
    out->workspace[ATTN_BWD] = attn_cudnn_workspace_floor(sh, l->strategy, rows, ATTN_BWD);
    out->scratch[ATTN_FWD] = out->workspace[ATTN_FWD];
    out->scratch[ATTN_BWD] = out->workspace[ATTN_BWD] + align256(rows * hq * sizeof(float)) + align256(rows * hq * d * sizeof(float));
}

static int cudnn_memory(const AttnShape *sh, const Layout *l, const AttnMemoryAsk *ask, AttnMemory *out) {
    const size_t hq = (size_t)sh->n_head, hkv = (size_t)sh->n_kv_head, d = (size_t)sh->head_dim;
    if (l->strategy == STRATEGY_PADDED) {
        padded_memory(sh, l, ask, out);
        return 0;
    }
    const size_t ws = attn_cudnn_workspace_floor(sh, l->strategy, l->n_slots, ATTN_FWD); // ragged: the reserve
    out->workspace[ATTN_FWD] = out->workspace[ATTN_BWD] = ws;
    out->scratch[ATTN_FWD] = ws;
    CudnnCalls k;
    if (cudnn_calls(l, ask, &k)) return -1;
    AttnParts parts;
    choose_parts(sh, l, &k, ask->tight, &parts);
    size_t held = 0;
    for (int i = 0; i < ATTN_PARTED_COUNT; i++)
        if (parts.part[i]) held += (size_t)(k.c[i].n / parts.part[i]) * call_held((size_t)parts.part[i], 1);
    if (k.prefix && k.fwd == PREFIX_FWD_GATHER) { // the roots' call and the gathers' call, kcat / vcat
        held += call_held((size_t)k.n_fwd_seqs[0], 1) + call_held((size_t)k.n_fwd_seqs[1], 1);
        out->scratch[ATTN_FWD] += 2 * align256(k.cat_tokens * hkv * d * 2);
    } else if (k.prefix) { // merged: each deeper call's o and lse, per part, before the merge
        const size_t rows = deeper_rows(parts.span);
        out->scratch[ATTN_FWD] += align256(rows * hq * d * 2) + align256(rows * hq * sizeof(float));
    }
    out->held = held;
    out->scratch[ATTN_BWD] = ws + parted_need(sh, parts.span);
    calls_free(&k);
    return 0;
}

int attn_memory(const char *backend, const AttnShape *sh, const Layout *l, const AttnMemoryAsk *ask, AttnMemory *out) {
    memset(out, 0, sizeof *out);
    if (!backend) return -1;
    if (!strcmp(backend, "simple")) {
        // attention/simple.cu: fp32 row dots (T, Hq) and int32 key_end (T), nothing lent
        out->held = l->n_slots * (size_t)sh->n_head * sizeof(float) + l->n_slots * sizeof(int32_t);
        return 0;
    }
    const AttnMemoryAsk defaults = {ATTN_PREFIX_AUTO, 0, 0};
    if (!strcmp(backend, "cudnn")) return cudnn_memory(sh, l, ask ? ask : &defaults, out);
    return -1;
}
