/*
 * dev_ideal.c: the FLOP-ideal side of a sweep without running a step: per cell, the token slots of
 * the four layouts, their model FLOPs (DESIGN.md section 3, from layout_build_forest and
 * model_flops, the same code the harness uses) and the ideal speedups over padded. For
 * planning GPU sweeps and for reading measured speedups against.
 * The last line estimates the sweep's GPU time: every strategy's model FLOPs over its cells,
 * times the steps of a cell (one warm-up + min_reps), at the rate the H200 reached on the
 * nll_2_qwen7b grid (about 480 model TFLOP/s, README Results; a rough guide, not a measurement).
 *   build/tests/harness/dev_ideal MODEL.conf SWEEP.conf
 */
#include <stdio.h>
#include <stdlib.h>

#include "dev_cells.h"
#include "../../strategies/layout.h"

int main(int argc, char **argv) {
    ModelConfig m;
    SweepConfig s;
    CellSource cells;
    char err[600];
    if (dev_load_cells(argc, argv, "ideal", &m, &s, &cells)) return 2;
    printf("| cell | shared x leaf | B x K | padded slots | prefix slots | tree slots | pad/packed | pad/prefix | pad/tree | prefix/tree |\n"
           "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    double total[STRATEGY_COUNT] = {0};
    for (int i = 0; i < cells.n; i++) {
        Cell cell;
        const Cell *c = &cell;
        Forest f;
        if (cell_make(&cells, i, &cell) || cell_batch(c, m.vocab, 1, &f, err, sizeof err)) {
            fprintf(stderr, "ideal: cell %d: cannot make the batch\n", i);
            return 1;
        }
        double flop[STRATEGY_COUNT];
        size_t slots[STRATEGY_COUNT];
        for (int st = 0; st < STRATEGY_COUNT; st++) {
            Layout l;
            if (layout_build_forest(&l, (Strategy)st, &f)) { fprintf(stderr, "ideal: cell %d: layout\n", i); return 1; }
            flop[st] = model_flops(&m, l.n_slots, l.attn_pairs, l.n_loss_rows).total;
            slots[st] = l.n_slots;
            layout_free(&l);
        }
        forest_free(&f);
        for (int st = 0; st < STRATEGY_COUNT; st++) total[st] += flop[st];
        printf("| %d | %d x %d | %d x %d | %zu | %zu | %zu | %.3f | %.3f | %.3f | %.3f |\n", c->index, c->prompt_len,
               c->completion_len, c->prompts, c->k, slots[STRATEGY_PADDED], slots[STRATEGY_PREFIX], slots[STRATEGY_TREE],
               flop[0] / flop[1], flop[0] / flop[2], flop[0] / flop[3], flop[2] / flop[3]);
        cell_free(&cell);
    }
    const int steps = 1 + (s.min_reps > 0 ? s.min_reps : 3);
    double all = 0;
    printf("\nmodel PFLOP over the cells:");
    for (int st = 0; st < STRATEGY_COUNT; st++) {
        printf(" %s %.1f", strategy_name((Strategy)st), total[st] * 1e-15);
        all += total[st];
    }
    printf("; at 480 TFLOP/s x %d steps per cell: about %.0f GPU-minutes for all four\n", steps, all * steps / 480e12 / 60);
    cells_source_free(&cells);
    return 0;
}
