// resume.c: matching rows of an output file to the cells of this run (see resume.h).
#include "resume.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static ResumeReason row_differs(const ResultRow *r, const ResumeKey *k) {
    if (r->seed != (int64_t)k->seed) return RESUME_SEED;
    if (strcmp(r->device, k->device)) return RESUME_DEVICE;
    if (strcmp(r->attention, k->attention)) return RESUME_ATTENTION;
    // the row's prefix_attention is "MODE: F forward, N depth calls" where the prefix layout ran
    size_t mode_len = strcspn(r->prefix_attention, ":");
    if ((k->strategies & (1u << STRATEGY_PREFIX | 1u << STRATEGY_TREE)) && r->prefix_attention[0] &&
        (mode_len != strlen(k->prefix_attention) || strncmp(r->prefix_attention, k->prefix_attention, mode_len)))
        return RESUME_PREFIX_ATTENTION;
    // rows written before --prefix-share existed (no value) shared every group: always
    if ((k->strategies & (1u << STRATEGY_PREFIX)) && !strcmp(r->s[STRATEGY_PREFIX].status, "ok") &&
        strcmp(r->prefix_share[0] ? r->prefix_share : "always", k->prefix_share ? k->prefix_share : "auto"))
        return RESUME_PREFIX_SHARE;
    if (strcmp(r->gemm_select, k->gemm_select ? k->gemm_select : "")) return RESUME_GEMM_SELECT;
    const char *want = k->recompute ? k->recompute : "full", *had = r->recompute[0] ? r->recompute : "full";
    const double budget = k->memory_budget_gb > 0 ? k->memory_budget_gb : NAN;
    if (strcmp(want, had) || (!strcmp(want, "auto") && !(budget == r->memory_budget_gb) &&
                              !(isnan(budget) && isnan(r->memory_budget_gb))))
        return RESUME_RECOMPUTE;
    for (int s = 0; s < STRATEGY_COUNT; s++)
        if ((k->strategies & (1u << s)) && strcmp(r->s[s].status, "ok") && strcmp(r->s[s].status, "oom"))
            return RESUME_STRATEGIES;
    return RESUME_DONE;
}

ResumeReason resume_classify(const Cell *c, const ResumeKey *k, const ResultRow *rows, size_t n) {
    ResultRow probe;
    results_row_init(&probe);
    if (cell_row_key(c, k->model, &probe)) return RESUME_NEW; // out of memory: run it
    ResumeReason best = RESUME_NEW;
    for (size_t i = 0; i < n && best != RESUME_DONE; i++) {
        if (!results_same_cell(&probe, &rows[i])) continue;
        ResumeReason why = row_differs(&rows[i], k);
        if (best == RESUME_NEW || why == RESUME_DONE) best = why;
    }
    results_row_free(&probe);
    return best;
}

// A row of this model measured the way k asks: an earlier cell of this sweep (the seed and pace
// below read only these).
static int row_kept(const ResultRow *r, const ResumeKey *k) {
    return !strcmp(r->model, k->model) && row_differs(r, k) == RESUME_DONE;
}

void resume_seed_warmup(const ResumeKey *k, const ResultRow *rows, size_t n, WarmupAuto warm[STRATEGY_COUNT]) {
    for (size_t i = 0; i < n; i++) {
        const ResultRow *r = &rows[i];
        if (!row_kept(r, k)) continue;
        for (int s = 0; s < STRATEGY_COUNT; s++)
            if ((k->strategies & (1u << s)) && !strcmp(r->s[s].status, "ok"))
                warmup_auto_seed(&warm[s], r->s[s].warmup_ms, r->s[s].min_ms, r->s[s].tflops,
                                 results_warmup_opened(r, (Strategy)s));
    }
}

double resume_pace(const ResumeKey *k, const ResultRow *rows, size_t n) {
    double best_flop = 0, pace = 0;
    for (size_t i = 0; i < n; i++) {
        const ResultRow *r = &rows[i];
        if (!row_kept(r, k)) continue;
        double ms = 0, flop = 0, first_ms = NAN;
        for (int s = 0; s < STRATEGY_COUNT; s++) {
            const StrategyResult *x = &r->s[s];
            if (!(k->strategies & (1u << s)) || strcmp(x->status, "ok") || !(x->ms > 0) || x->reps < 1 ||
                !(x->model_tflop > 0))
                continue;
            ms += x->ms * x->reps + (x->warmup_ms > 0 ? x->warmup_ms : 0);
            flop += x->model_tflop * 1e12;
            if (isnan(first_ms)) first_ms = x->warmup_ms > 0 ? 0 : x->ms; // its warm-up is counted already
        }
        if (flop > best_flop) { best_flop = flop; pace = 1e-3 * (ms + first_ms) / flop; }
    }
    return pace;
}

static void strategy_list(unsigned set, char *out, size_t len) {
    size_t o = 0;
    out[0] = '\0';
    for (int s = 0; s < STRATEGY_COUNT && o < len; s++)
        if (set & (1u << s)) o += (size_t)snprintf(out + o, len - o, "%s%s", o ? "," : "", strategy_name((Strategy)s));
}

void resume_report(FILE *fp, const char *shown, const int *counts, int n_cells, const ResumeKey *k) {
    char list[64];
    strategy_list(k->strategies, list, sizeof list);
    fprintf(fp, "bench: --resume: %d of %d cells already in %s\n", counts[RESUME_DONE], n_cells, shown);
    static const char *const why[RESUME_REASON_COUNT] = {
        [RESUME_SEED] = "measured there with another --seed (now %llu)",
        [RESUME_DEVICE] = "measured there on another device (now %s)",
        [RESUME_ATTENTION] = "measured there with another attention backend (now '%s')",
        [RESUME_PREFIX_ATTENTION] = "measured there with another --prefix-attention (now %s)",
        [RESUME_PREFIX_SHARE] = "measured there with another --prefix-share (now %s)",
        [RESUME_GEMM_SELECT] = "measured there with another --gemm-select (now %s)",
        [RESUME_RECOMPUTE] = "measured there with another --recompute or --memory-budget (now %s)",
        [RESUME_STRATEGIES] = "a strategy asked for now (%s) was not run there or failed",
    };
    for (int r = RESUME_SEED; r < RESUME_REASON_COUNT; r++) {
        if (!counts[r]) continue;
        char what[160];
        if (r == RESUME_SEED) snprintf(what, sizeof what, why[r], (unsigned long long)k->seed);
        else if (r == RESUME_DEVICE) snprintf(what, sizeof what, why[r], k->device);
        else if (r == RESUME_ATTENTION) snprintf(what, sizeof what, why[r], k->attention);
        else if (r == RESUME_PREFIX_ATTENTION) snprintf(what, sizeof what, why[r], k->prefix_attention);
        else if (r == RESUME_PREFIX_SHARE) snprintf(what, sizeof what, why[r], k->prefix_share ? k->prefix_share : "auto");
        else if (r == RESUME_GEMM_SELECT) snprintf(what, sizeof what, why[r], k->gemm_select ? k->gemm_select : "none");
        else if (r == RESUME_RECOMPUTE) snprintf(what, sizeof what, why[r], k->recompute ? k->recompute : "full");
        else snprintf(what, sizeof what, why[r], list);
        fprintf(fp, "bench: --resume: %d cell(s) run again: %s\n", counts[r], what);
    }
}
