/*
 * test_sweep.c: cell enumeration and selection: the reference grid has 64 cells in prompt-
 * major order; random cells are seeded per cell (same lengths whatever the shard), inside
 * [min_len, max_len] and ragged; cells are made one at a time (issue 15 case 9: on main a
 * random sweep of 2^20 cells x 65536 prompts x 64 completions allocated every cell up front,
 * about 17.6 TB); the largest cell is checked against the slot bound in 64 bits; --cells
 * parses and rejects; --shard selects; --resume matches seed, device, attention and strategy
 * set (case 11: on main a row measured with --strategy padded, another seed or another
 * backend counted as done); a tree sweep's cells have the levels' structure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../../harness/resume.h"
#include "../../harness/sweep.h"
#include "../test_util.h"



// configs/sweeps/NAME.conf loaded into s and its cells into src (each step's error a failure).
static void load_cells(const char *root, const char *name, SweepConfig *s, CellSource *src) {
    char path[1024], err[600] = "";
    snprintf(path, sizeof path, "%s/configs/sweeps/%s.conf", root, name);
    CHECK(config_load_sweep(path, s, err, sizeof err) == 0, "%s", err);
    CHECK(cells_from_sweep(s, src, err, sizeof err) == 0, "%s cells: %s", name, err);
}

static void test_grid(const char *root) {
    char err[600] = "";
    SweepConfig s;
    CellSource src;
    load_cells(root, "nll_2_qwen7b", &s, &src);
    CHECK(src.n == 64, "grid cells %d", src.n);
    CHECK(cells_check_size(&src, NULL, NULL, err, sizeof err) == 0, "grid size: %s", err);
    Cell c;
    CHECK(cell_make(&src, 0, &c) == 0 && c.prompt_len == 128 && c.completion_len == 128, "first cell");
    cell_free(&c);
    CHECK(cell_make(&src, 1, &c) == 0 && c.prompt_len == 128 && c.completion_len == 256, "second cell");
    cell_free(&c);
    CHECK(cell_make(&src, 63, &c) == 0 && c.prompt_len == 16384 && c.completion_len == 16384 && c.index == 63, "last");
    cell_free(&c);
    CHECK(cell_make(&src, 9, &c) == 0 && c.prompts == 3 && c.k == 2 && c.comp_lens[5] == 256 && c.prompt_lens[2] == 256 &&
          !c.random, "cell 9");
    cell_free(&c);
    int hit = 0;
    for (int i = 0; i < src.n; i++) {
        Cell x = { .index = i };
        hit += cell_in_shard(&x, 1, 4);
    }
    CHECK(hit == 16, "shard 1/4: %d", hit);
    // --prompts 65536 --completions 64 on this grid: 65536 * 64 * 32768 slots, refused in 64 bits
    src.prompts = 65536;
    src.k = 64;
    CHECK(cells_check_size(&src, NULL, NULL, err, sizeof err) == -1 && strstr(err, "cell 63") &&
          strstr(err, "137438953472"), "oversized grid accepted: %s", err);
    cells_source_free(&src);
}

// A tree sweep: system (1 root of 1024..16384, 4 prompts of 256, 4 completions of 256 | 1024 each).
static void test_tree(const char *root) {
    char err[600] = "";
    SweepConfig s;
    CellSource src;
    load_cells(root, "system", &s, &src);
    CHECK(src.n == 10, "system cells %d", src.n);
    CHECK(cells_check_size(&src, NULL, NULL, err, sizeof err) == 0, "system size: %s", err);
    Cell c, c0, c9;
    if (src.n == 10 && !cell_make(&src, 3, &c) && !cell_make(&src, 0, &c0) && !cell_make(&src, 9, &c9)) {
        // cell 3: system 2048 (level 0's 2nd), completions 1024 (level 2's 2nd)
        CHECK(c.n_segs == 21 && !c.prompt_lens && !c.comp_lens && c.index == 3, "system cell 3: %d segments", c.n_segs);
        int ok = c.seg_parent[0] == -1 && c.seg_len[0] == 2048 && !c.seg_loss[0];
        for (int i = 1; i <= 4; i++) ok &= c.seg_parent[i] == 0 && c.seg_len[i] == 256 && !c.seg_loss[i];
        for (int i = 5; i < 21; i++) ok &= c.seg_parent[i] == 1 + (i - 5) / 4 && c.seg_len[i] == 1024 && c.seg_loss[i];
        CHECK(ok, "system cell 3: structure");
        CHECK(c.prompts == 1 && c.k == 16 && c.prompt_len == 2048 + 256 && c.completion_len == 1024, "system cell 3: nominal");
        CHECK(c0.seg_len[0] == 1024 && c0.seg_len[20] == 256 && c9.seg_len[0] == 16384, "system cell order");
        char *text = NULL;
        CHECK(cell_forest_text(&c0, &text) == 0 && text && !strncmp(text, "1024:-1:0 256:0:0 ", 18), "forest text '%.40s'",
              text ? text : "");
        free(text);
        cell_free(&c); cell_free(&c0); cell_free(&c9);
    } else {
        CHECK(0, "system cells not made");
    }
    cells_source_free(&src);
}

static void test_random(const char *root) {
    char err[600] = "";
    SweepConfig s;
    CellSource a;
    load_cells(root, "random", &s, &a);
    CHECK(a.n == s.cells, "random");
    int ragged = 0, in_range = 1, same = 1;
    for (int i = 0; i < a.n; i++) {
        Cell c, d;
        if (cell_make(&a, i, &c) || cell_make(&a, i, &d)) { CHECK(0, "cell_make"); break; }
        CHECK(c.random && c.prompts == 3 && c.k == 2, "random cell shape");
        for (int j = 0; j < 6; j++) {
            in_range &= c.comp_lens[j] >= 128 && c.comp_lens[j] <= 16384;
            ragged |= c.comp_lens[j] != c.comp_lens[0];
            same &= c.comp_lens[j] == d.comp_lens[j];
        }
        for (int j = 0; j < 3; j++) in_range &= c.prompt_lens[j] >= 128 && c.prompt_lens[j] <= 16384;
        cell_free(&c);
        cell_free(&d);
    }
    CHECK(in_range && ragged && same, "random lengths: in range %d ragged %d deterministic %d", in_range, ragged, same);

    Cell c0, c1;
    CHECK(cell_make(&a, 0, &c0) == 0 && cell_make(&a, 1, &c1) == 0, "cells 0, 1");
    char *p0 = NULL, *t0 = NULL, *p1 = NULL, *t1 = NULL;
    CHECK(cell_lens_text(&c0, &p0, &t0) == 0 && cell_lens_text(&c1, &p1, &t1) == 0, "lens text");
    CHECK(strcmp(t0, t1) && strchr(t0, ' '), "cells differ: '%s' '%s'", t0, t1);
    free(p0); free(t0); free(p1); free(t1);

    // --resume: a row of cell 0 measured with seed 1 on the cpu, all three strategies ok
    ResultRow row;
    results_row_init(&row);
    CHECK(cell_row_key(&c0, "qwen2.5-7b", &row) == 0, "row key");
    row.seed = 1;
    snprintf(row.device, sizeof row.device, "cpu");
    for (int s2 = 0; s2 < STRATEGY_COUNT; s2++) snprintf(row.s[s2].status, sizeof row.s[s2].status, "ok");
    ResumeKey k = { "qwen2.5-7b", 7, 1, "cpu", "", "auto", "", NULL, 0, "auto" };
    // a prefix row from before --prefix-share shared every group: not an auto row
    CHECK(resume_classify(&c0, &k, &row, 1) == RESUME_PREFIX_SHARE, "resume: a row without prefix_share taken as auto");
    k.prefix_share = "always";
    CHECK(resume_classify(&c0, &k, &row, 1) == RESUME_DONE, "resume: a row without prefix_share not taken as always");
    k.prefix_share = NULL; // auto
    snprintf(row.prefix_share, sizeof row.prefix_share, "always");
    CHECK(resume_classify(&c0, &k, &row, 1) == RESUME_PREFIX_SHARE, "resume: an always row taken as auto");
    snprintf(row.prefix_share, sizeof row.prefix_share, "auto");
    k.prefix_share = "auto";
    CHECK(resume_classify(&c0, &k, &row, 1) == RESUME_DONE, "resume: done cell not found");
    CHECK(resume_classify(&c1, &k, &row, 1) == RESUME_NEW, "resume: other cell taken as done");
    ResumeKey other = k;
    other.model = "tiny";
    CHECK(resume_classify(&c0, &other, &row, 1) == RESUME_NEW, "resume: other model taken as done");
    other = k;
    other.seed = 2;
    CHECK(resume_classify(&c0, &other, &row, 1) == RESUME_SEED, "resume: other seed taken as done");
    other = k;
    other.device = "gpu";
    other.attention = "cudnn";
    CHECK(resume_classify(&c0, &other, &row, 1) == RESUME_DEVICE, "resume: other device taken as done");
    snprintf(row.device, sizeof row.device, "gpu");
    snprintf(row.attention, sizeof row.attention, "simple");
    CHECK(resume_classify(&c0, &other, &row, 1) == RESUME_ATTENTION, "resume: other attention taken as done");
    snprintf(row.attention, sizeof row.attention, "cudnn");
    snprintf(row.prefix_attention, sizeof row.prefix_attention, "gather: gather forward, 2 depth calls");
    CHECK(resume_classify(&c0, &other, &row, 1) == RESUME_PREFIX_ATTENTION, "resume: --prefix-attention gather taken as auto");
    other.prefix_attention = "gather";
    CHECK(resume_classify(&c0, &other, &row, 1) == RESUME_DONE, "resume: gather row not taken for gather");
    other.gemm_select = "timed";
    CHECK(resume_classify(&c0, &other, &row, 1) == RESUME_GEMM_SELECT, "resume: a row without gemm_select taken as timed");
    snprintf(row.gemm_select, sizeof row.gemm_select, "timed");
    CHECK(resume_classify(&c0, &other, &row, 1) == RESUME_DONE, "resume: timed row not taken for timed");
    // the recompute policy: a row without one is full; auto matches only at the same budget
    other.recompute = "full";
    CHECK(resume_classify(&c0, &other, &row, 1) == RESUME_DONE, "resume: a row without recompute not taken as full");
    other.recompute = "auto";
    CHECK(resume_classify(&c0, &other, &row, 1) == RESUME_RECOMPUTE, "resume: a full row taken for auto");
    snprintf(row.recompute, sizeof row.recompute, "auto");
    CHECK(resume_classify(&c0, &other, &row, 1) == RESUME_DONE, "resume: auto row (default budget) not taken for auto");
    other.memory_budget_gb = 80;
    CHECK(resume_classify(&c0, &other, &row, 1) == RESUME_RECOMPUTE, "resume: default-budget row taken for 80 GB");
    row.memory_budget_gb = 80;
    CHECK(resume_classify(&c0, &other, &row, 1) == RESUME_DONE, "resume: 80 GB row not taken for 80 GB");
    other.recompute = NULL;
    other.memory_budget_gb = 0;
    snprintf(row.recompute, sizeof row.recompute, "full");
    snprintf(row.s[1].status, sizeof row.s[1].status, "skipped");
    snprintf(row.s[2].status, sizeof row.s[2].status, "error");
    CHECK(resume_classify(&c0, &other, &row, 1) == RESUME_STRATEGIES, "resume: --strategy padded row taken as all");
    other.strategies = 1; // padded only: the row has it
    CHECK(resume_classify(&c0, &other, &row, 1) == RESUME_DONE, "resume: padded row not taken for padded");
    // --warmup auto across processes: the rows measured the way the key asks give their
    // warm-ups in file order (the one that opened its process its rate only); another model's
    // row and a strategy not asked for give nothing. Shallow copies of row: freed once, by row.
    ResultRow seeds[3] = { row, row, row };
    seeds[0].s[0].warmup_ms = 600, seeds[0].s[0].min_ms = 100, seeds[0].s[0].tflops = 1;
    snprintf(seeds[0].warmup_first, sizeof seeds[0].warmup_first, "padded");
    seeds[1].s[0].warmup_ms = 130, seeds[1].s[0].min_ms = 100, seeds[1].s[0].tflops = 2;
    seeds[2].s[0].warmup_ms = 1100, seeds[2].s[0].min_ms = 100, seeds[2].s[0].tflops = 3;
    snprintf(seeds[2].model, sizeof seeds[2].model, "tiny");
    for (int i = 0; i < 3; i++) seeds[i].s[2].warmup_ms = 500, seeds[i].s[2].min_ms = 100, seeds[i].s[2].tflops = 4;
    WarmupAuto warm[STRATEGY_COUNT] = {{0}};
    resume_seed_warmup(&other, seeds, 3, warm);
    CHECK(warm[0].seen == 1 && warm[0].max_excess_ms == 30 && warm[0].last_tflops == 2 && warm[0].timed == 0,
          "resume seed: padded seen %d max %g rate %g timed %d", warm[0].seen, warm[0].max_excess_ms, warm[0].last_tflops,
          warm[0].timed);
    CHECK(warm[2].seen == 0 && !(warm[2].last_tflops > 0), "resume seed: a strategy not asked for seeded");
    results_row_free(&row);
    cell_free(&c0);
    cell_free(&c1);
    cells_source_free(&a);

    // the hostile sweep of case 9: within every per-key bound, refused by the slot bound, and
    // no cell is allocated to find out (the address space is capped at 1 GB meanwhile)
    SweepConfig big = { .kind = SWEEP_RANDOM, .prompts = 65536, .completions = 64, .cells = 1 << 20, .min_len = 128,
                        .max_len = 16384, .seed = 1 };
    struct rlimit old, cap = { 1ull << 30, 1ull << 30 };
    getrlimit(RLIMIT_AS, &old);
    cap.rlim_max = old.rlim_max;
    int capped = setrlimit(RLIMIT_AS, &cap) == 0;
    CellSource h;
    int made = cells_from_sweep(&big, &h, err, sizeof err);
    CHECK(made == 0 && h.n == 1 << 20, "hostile sweep source: %s", err);
    CHECK(cells_check_size(&h, NULL, NULL, err, sizeof err) == -1 && strstr(err, "up to 16384x16384"),
          "hostile sweep accepted: %s", err);
    if (made == 0) cells_source_free(&h);
    if (capped) setrlimit(RLIMIT_AS, &old);
}

static void test_spec(void) {
    char err[600];
    CellSource l;
    CHECK(cells_from_spec("512x512,2048x128", 3, 2, &l, err, sizeof err) == 0 && l.n == 2, "--cells");
    Cell c;
    if (l.n == 2 && cell_make(&l, 1, &c) == 0) {
        CHECK(c.prompt_len == 2048 && c.completion_len == 128 && c.comp_lens[5] == 128, "cells values");
        cell_free(&c);
    }
    cells_source_free(&l);
    const char *bad[] = { "512", "512x", "x512", "512x512,", "0x5", "5x5x5", "axb", "512x512;1x1", " 5x5", "5x+5",
                          "-5x5", "16777217x1" };
    for (int i = 0; i < 12; i++) CHECK(cells_from_spec(bad[i], 3, 2, &l, err, sizeof err) == -1, "--cells '%s' accepted", bad[i]);
    CHECK(cells_from_spec("5x5\nfoo", 3, 2, &l, err, sizeof err) == -1 && !strchr(err, '\n') && strstr(err, "\\n"),
          "--cells error not one line: %s", err);
    int si, sn;
    CHECK(shard_parse("1/4", &si, &sn) == 0 && si == 1 && sn == 4, "shard");
    CHECK(shard_parse("4/4", &si, &sn) && shard_parse("1", &si, &sn) && shard_parse("-1/2", &si, &sn) && shard_parse("0/0", &si, &sn) &&
          shard_parse("1/2x", &si, &sn), "bad shards accepted");
}

int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : ".";
    test_grid(root);
    test_random(root);
    test_tree(root);
    test_spec();
    printf("test_sweep: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
