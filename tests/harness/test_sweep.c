/*
 * test_sweep.c: cell enumeration and selection: the reference grid has 64 cells in prompt-
 * major order; random cells are seeded per cell (same lengths whatever the shard), inside
 * [min_len, max_len] and ragged; --cells parses and rejects; --shard and --resume select.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness/sweep.h"
#include "../test_util.h"



int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : ".";
    char path[1024], err[600] = "";
    SweepConfig s;
    CellList l;
    snprintf(path, sizeof path, "%s/configs/sweeps/nll_2_qwen7b.conf", root);
    CHECK(config_load_sweep(path, &s, err, sizeof err) == 0, "%s", err);
    CHECK(sweep_cells(&s, &l, err, sizeof err) == 0 && l.n == 64, "grid cells %d", l.n);
    if (l.n == 64) {
        CHECK(l.cells[0].prompt_len == 128 && l.cells[0].completion_len == 128, "first cell");
        CHECK(l.cells[1].prompt_len == 128 && l.cells[1].completion_len == 256, "second cell");
        CHECK(l.cells[63].prompt_len == 16384 && l.cells[63].completion_len == 16384 && l.cells[63].index == 63, "last");
        CHECK(l.cells[9].prompts == 3 && l.cells[9].k == 2 && l.cells[9].comp_lens[5] == 256 && l.cells[9].prompt_lens[2] == 256 && !l.cells[9].random, "cell 9");
        int hit = 0;
        for (int i = 0; i < l.n; i++) hit += cell_in_shard(&l.cells[i], 1, 4);
        CHECK(hit == 16 && cell_in_shard(&l.cells[5], 1, 4) && !cell_in_shard(&l.cells[6], 1, 4), "shard 1/4");
    }
    cells_free(&l);

    snprintf(path, sizeof path, "%s/configs/sweeps/random.conf", root);
    CHECK(config_load_sweep(path, &s, err, sizeof err) == 0, "%s", err);
    CellList a, b;
    CHECK(sweep_cells(&s, &a, err, sizeof err) == 0 && sweep_cells(&s, &b, err, sizeof err) == 0 && a.n == s.cells, "random");
    int ragged = 0, in_range = 1, same = 1;
    for (int i = 0; i < a.n; i++) {
        Cell *c = &a.cells[i];
        CHECK(c->random && c->prompts == 3 && c->k == 2, "random cell shape");
        for (int j = 0; j < 6; j++) {
            in_range &= c->comp_lens[j] >= 128 && c->comp_lens[j] <= 16384;
            ragged |= c->comp_lens[j] != c->comp_lens[0];
            same &= c->comp_lens[j] == b.cells[i].comp_lens[j];
        }
        for (int j = 0; j < 3; j++) in_range &= c->prompt_lens[j] >= 128 && c->prompt_lens[j] <= 16384;
    }
    CHECK(in_range && ragged && same, "random lengths: in range %d ragged %d deterministic %d", in_range, ragged, same);
    if (a.n >= 2) {
        char p0[256], c0[256], p1[256], c1[256];
        cell_lens_text(&a.cells[0], p0, sizeof p0, c0, sizeof c0);
        cell_lens_text(&a.cells[1], p1, sizeof p1, c1, sizeof c1);
        CHECK(strcmp(c0, c1) && strchr(c0, ' '), "cells differ: '%s' '%s'", c0, c1);
        // resume: a row with cell 0's exact lengths marks cell 0 done, not cell 1
        ResultRow *row = malloc(sizeof *row);
        results_row_init(row);
        snprintf(row->model, sizeof row->model, "qwen2.5-7b");
        row->prompt_len = a.cells[0].prompt_len; row->completion_len = a.cells[0].completion_len;
        row->num_completions = 2; row->batch_size = 3;
        snprintf(row->prompt_lens, sizeof row->prompt_lens, "%s", p0);
        snprintf(row->completion_lens, sizeof row->completion_lens, "%s", c0);
        CHECK(cell_done(&a.cells[0], "qwen2.5-7b", row, 1), "resume: done cell not found");
        CHECK(!cell_done(&a.cells[1], "qwen2.5-7b", row, 1), "resume: other cell taken as done");
        CHECK(!cell_done(&a.cells[0], "tiny", row, 1), "resume: other model taken as done");
        free(row);
    }
    cells_free(&a);
    cells_free(&b);

    CHECK(sweep_cells_parse("512x512,2048x128", 3, 2, &l, err, sizeof err) == 0 && l.n == 2, "--cells");
    if (l.n == 2) CHECK(l.cells[1].prompt_len == 2048 && l.cells[1].completion_len == 128 && l.cells[1].comp_lens[5] == 128, "cells values");
    cells_free(&l);
    const char *bad[] = { "512", "512x", "x512", "512x512,", "0x5", "5x5x5", "axb", "512x512;1x1" };
    for (int i = 0; i < 8; i++) CHECK(sweep_cells_parse(bad[i], 3, 2, &l, err, sizeof err) == -1, "--cells '%s' accepted", bad[i]);
    int si, sn;
    CHECK(shard_parse("1/4", &si, &sn) == 0 && si == 1 && sn == 4, "shard");
    CHECK(shard_parse("4/4", &si, &sn) && shard_parse("1", &si, &sn) && shard_parse("-1/2", &si, &sn) && shard_parse("0/0", &si, &sn) &&
          shard_parse("1/2x", &si, &sn), "bad shards accepted");
    printf("test_sweep: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
