/*
 * dev_tree_calls.c: what the cuDNN backend's depth calls (attention/prefix_path.h,
 * attention/cudnn_tree.c) do for a sweep's tree layouts, without a GPU: per cell, attention's
 * share of the step's model FLOPs, each depth call's share of the attention pairs (its query rows
 * and keys), and the extra traffic of each forward: the merged forward's rows merged (the deeper
 * calls' query rows, each one bf16 o and fp32 lse read twice and written once per head) against
 * the gather forward's K/V tokens copied (kv_gather.h). A call with few keys per query (a deep
 * level of short segments) runs below cuDNN's long-sequence rate, so a low share there is what
 * keeps the tree layout near its FLOP ideal. Not a test.
 *   build/tests/harness/dev_tree_calls MODEL.conf SWEEP.conf
 */
#include <stdio.h>
#include <stdlib.h>

#include "../../attention/kv_gather.h"
#include "../../attention/prefix_path.h"
#include "dev_cells.h"
#include "../../strategies/layout.h"

int main(int argc, char **argv) {
    ModelConfig m;
    SweepConfig s;
    CellSource cells;
    char err[600];
    if (dev_load_cells(argc, argv, "tree calls", &m, &s, &cells)) return 2;
    printf("| cell | shared x leaf | tokens | attention / step FLOPs | pairs per depth call (%%: depth 0, 1, ...) | "
           "keys per query row per call | merged rows / tokens | gathered K/V tokens / tokens |\n"
           "|---:|---|---:|---:|---|---|---:|---:|\n");
    for (int i = 0; i < cells.n; i++) {
        Cell cell;
        Forest f;
        Layout l;
        if (cell_make(&cells, i, &cell) || cell_batch(&cell, m.vocab, 1, &f, err, sizeof err) ||
            layout_build_forest(&l, STRATEGY_TREE, &f)) {
            fprintf(stderr, "tree calls: cell %d: cannot make the batch\n", i);
            return 1;
        }
        const Flops fl = model_flops(&m, l.n_slots, l.attn_pairs, l.n_loss_rows);
        char share[160] = "", keys[160] = "";
        size_t at = 0, at_k = 0;
        double merged = 0.0;
        DepthCalls dc;
        if (prefix_depth_calls(&l, &dc)) { fprintf(stderr, "tree calls: out of memory\n"); return 1; }
        for (int d = 0; d < dc.n_depths; d++) {
            double rows = 0.0, p = 0.0;
            for (int n = 0; n < dc.n_seqs; n++)
                if (dc.seqs[n].depth == d) rows += dc.seqs[n].q_len, p += depth_seq_pairs(&dc.seqs[n]);
            if (d > 0) merged += rows;
            at += (size_t)snprintf(share + at, sizeof share - at, "%s%.1f", d ? " / " : "", 100.0 * p / (double)l.attn_pairs);
            at_k += (size_t)snprintf(keys + at_k, sizeof keys - at_k, "%s%.0f", d ? " / " : "", p / rows);
        }
        prefix_depth_calls_free(&dc);
        KvGather *g;
        size_t cat = 0;
        if (kv_gathers_of_tree(&l, &g, &cat) < 0) { fprintf(stderr, "tree calls: out of memory\n"); return 1; }
        free(g);
        printf("| %d | %d x %d | %zu | %.3f | %s | %s | %.2f | %.2f |\n", cell.index, cell.prompt_len, cell.completion_len,
               l.n_real, fl.attention / fl.total, share, keys, merged / (double)l.n_real, (double)cat / (double)l.n_real);
        layout_free(&l);
        forest_free(&f);
        cell_free(&cell);
    }
    cells_source_free(&cells);
    return 0;
}
