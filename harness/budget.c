// budget.c: the CPU device's budget, checked before anything is allocated (see budget.h).
#include "budget.h"

#include <stdio.h>

#include "../reference/cpu_step.h"
#include "../strategies/layout_estimate.h"

static double model_bytes(const ModelConfig *m) {
    uint64_t n = 0;
    if (model_param_count_checked(m, &n)) return 1e30;
    return 2.0 * 4.0 * (double)n; // fp32 weights and gradients
}

int budget_cpu_cell(const ModelConfig *m, const Cell *c, unsigned strategies, CellCost *out) {
    out->bytes = out->flop = 0;
    for (int s = 0; s < STRATEGY_COUNT; s++) {
        if (!(strategies & (1u << s))) continue;
        LayoutCounts n;
        if (cell_estimate(c, (Strategy)s, &n)) return -1;
        Layout probe = { .n_slots = (size_t)n.n_slots }; // the CPU size table depends on the slots only
        double bytes = model_bytes(m) + (double)layout_host_bytes(&n) +
                       (n.n_slots <= PB_MAX_SLOTS ? (double)cpu_step_activation_bytes(m, &probe, 1) : 1e30);
        Flops f = model_flops(m, (size_t)n.n_slots, (size_t)n.attn_pairs, (size_t)n.n_loss_rows);
        if (bytes > out->bytes) out->bytes = bytes;
        if (f.total > out->flop) out->flop = f.total;
    }
    return 0;
}

// Forest cells (tree sweeps, --lengths) have no worst case by formula: every cell is costed.
static int budget_check_forests(const ModelConfig *m, const CellSource *src, unsigned strategies, char *err,
                                size_t errlen) {
    for (int i = 0; i < src->n; i++) {
        Cell cell;
        CellCost cost;
        if (cell_make(src, i, &cell)) { snprintf(err, errlen, "out of memory"); return -1; }
        int rc = budget_cpu_cell(m, &cell, strategies, &cost);
        cell_free(&cell);
        if (rc) { snprintf(err, errlen, "cell %d: bad segments", i); return -1; }
        if (cost.bytes <= PB_CPU_MAX_BYTES && cost.flop <= PB_CPU_MAX_FLOP) continue;
        snprintf(err, errlen, "cell %d (a forest) needs about %.3g GB and %.3g TFLOP per step on the cpu, over its budget "
                 "of %.3g GB and %.3g TFLOP (--force runs it anyway)", i, cost.bytes * 1e-9, cost.flop * 1e-12,
                 PB_CPU_MAX_BYTES * 1e-9, PB_CPU_MAX_FLOP * 1e-12);
        return -1;
    }
    return 0;
}

int budget_check_cpu(const ModelConfig *m, const CellSource *src, unsigned strategies, char *err, size_t errlen) {
    double mb = model_bytes(m);
    if (mb > PB_CPU_MAX_BYTES) {
        snprintf(err, errlen, "model %s needs %.3g GB of fp32 weights and gradients on the cpu, over its budget of %.3g GB "
                 "(the cpu step is the reference for tiny models; --force runs it anyway)", m->name, mb * 1e-9,
                 PB_CPU_MAX_BYTES * 1e-9);
        return -1;
    }
    int p, c;
    char why[600];
    if (cells_check_size(src, &p, &c, why, sizeof why)) { snprintf(err, errlen, "%s", why); return -1; }
    if (src->kind == SWEEP_TREE) return budget_check_forests(m, src, strategies, err, errlen);
    Cell cell;
    if (cell_make_uniform(0, src->prompts, src->k, p, c, &cell)) { snprintf(err, errlen, "out of memory"); return -1; }
    CellCost cost;
    int rc = budget_cpu_cell(m, &cell, strategies, &cost);
    cell_free(&cell);
    if (rc) { snprintf(err, errlen, "bad cell lengths"); return -1; }
    if (cost.bytes <= PB_CPU_MAX_BYTES && cost.flop <= PB_CPU_MAX_FLOP) return 0;
    snprintf(err, errlen, "the largest cell (%s%dx%d, %d prompts x %d completions) needs about %.3g GB and %.3g TFLOP per step "
             "on the cpu, over its budget of %.3g GB and %.3g TFLOP (--force runs it anyway)",
             src->kind == SWEEP_RANDOM ? "up to " : "", p, c, src->prompts, src->k, cost.bytes * 1e-9, cost.flop * 1e-12,
             PB_CPU_MAX_BYTES * 1e-9, PB_CPU_MAX_FLOP * 1e-12);
    return -1;
}
