/*
 * test_results.c: the results CSV. The header starts with the reference's 18 columns; a row
 * survives a write / read round trip through libcsv (commas, quotes and a newline in the
 * command field, missing numbers as empty fields); the reference CSV reads. argv[1]: source root.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness/results.h"
#include "../test_util.h"



static const char *reference_header =
    "model,method,prompt_len,completion_len,num_completions,batch_size,padded_ms,packed_ms,prefix_ms,"
    "padded_gb,packed_gb,prefix_gb,speedup_pad_pack,speedup_pack_prefix,speedup_pad_prefix,"
    "padded_tokens,packed_tokens,prefix_tokens,";

static void test_round_trip(void) {
    ResultRow *r = malloc(sizeof *r), *back = NULL;
    results_row_init(r);
    snprintf(r->model, sizeof r->model, "qwen2.5-7b");
    snprintf(r->method, sizeof r->method, "nll");
    r->prompt_len = 512; r->completion_len = 128; r->num_completions = 2; r->batch_size = 3;
    snprintf(r->s[0].status, sizeof r->s[0].status, "ok");
    r->s[0].ms = 123.456789; r->s[0].loss = 7.25; r->s[0].reps = 9; r->s[0].tokens = 1920; r->s[0].gb = 34.5;
    snprintf(r->s[1].status, sizeof r->s[1].status, "oom");
    r->s[1].tokens = 1920;
    snprintf(r->s[2].status, sizeof r->s[2].status, "ok");
    r->s[2].ms = 100.0; r->s[2].loss = 7.25; r->s[2].tokens = 1536;
    double flop[3] = { 3e12, NAN, 2e12 };
    results_row_derive(r, flop);
    snprintf(r->command, sizeof r->command, "./bench --cells 512x128,1024x128 --out \"a, b.csv\"\nsecond line");
    snprintf(r->gpu, sizeof r->gpu, " NVIDIA H200, SXM ");
    snprintf(r->completion_lens, sizeof r->completion_lens, "130 4000 16384 128 999 1000");
    snprintf(r->prompt_lens, sizeof r->prompt_lens, "1 2 3");
    r->seed = 42; r->cell = 7;

    const char *path = "test_results_roundtrip.csv";
    FILE *fp = fopen(path, "w");
    CHECK(fp && results_write_header(fp) == 0 && results_write_row(fp, r) == 0 && results_write_row(fp, r) == 0, "write");
    if (fp) fclose(fp);

    char line[8192] = "";
    fp = fopen(path, "r");
    CHECK(fp && fgets(line, sizeof line, fp), "reread header");
    if (fp) fclose(fp);
    CHECK(!strncmp(line, reference_header, strlen(reference_header)), "header does not start with the reference columns: %.200s", line);
    char header[4096];
    results_header(header, sizeof header);
    CHECK(!strncmp(line, header, strlen(header)), "results_header differs from the file's");

    size_t n = 0;
    char err[600] = "";
    CHECK(results_read(path, &back, &n, err, sizeof err) == 0, "read: %s", err);
    CHECK(n == 2, "rows %zu", n);
    if (n == 2) {
        ResultRow *b = &back[1];
        CHECK(!strcmp(b->command, r->command), "command '%s'", b->command);
        CHECK(!strcmp(b->gpu, r->gpu), "gpu '%s'", b->gpu);
        CHECK(!strcmp(b->completion_lens, r->completion_lens) && !strcmp(b->prompt_lens, r->prompt_lens), "lens");
        CHECK(b->prompt_len == 512 && b->completion_len == 128 && b->num_completions == 2 && b->batch_size == 3, "keys");
        CHECK(fabs(b->s[0].ms - 123.456789) < 1e-9 && b->s[0].reps == 9 && b->s[0].tokens == 1920, "padded numbers");
        CHECK(!strcmp(b->s[1].status, "oom") && isnan(b->s[1].ms) && b->s[1].reps == -1, "oom strategy: missing fields");
        CHECK(fabs(b->speedup_pad_prefix - 1.23456789) < 1e-8, "speedup %g", b->speedup_pad_prefix);
        CHECK(isnan(b->speedup_pad_pack), "speedup with a missing side must be empty");
        CHECK(fabs(b->ideal_speedup_pad_prefix - 1.5) < 1e-12, "ideal %g", b->ideal_speedup_pad_prefix);
        CHECK(b->seed == 42 && b->cell == 7, "seed/cell");
        CHECK(results_same_cell(b, r), "same cell");
        ResultRow *other = malloc(sizeof *other);
        *other = *b;
        snprintf(other->completion_lens, sizeof other->completion_lens, "130 4000 16384 128 999 1001");
        CHECK(!results_same_cell(other, r), "different exact lengths must not match");
        *other = *b;
        snprintf(other->model, sizeof other->model, "Qwen2.5-7B-Instruct");
        CHECK(results_same_cell(other, r), "model match ignores case and -instruct");
        free(other);
    }
    free(back);
    free(r);
    remove(path);
}

static void test_reference(const char *root) {
    char path[1024], err[600] = "";
    snprintf(path, sizeof path, "%s/tests/harness/data/reference_nll_2_qwen7b.csv", root);
    ResultRow *rows = NULL;
    size_t n = 0;
    CHECK(results_read(path, &rows, &n, err, sizeof err) == 0, "reference: %s", err);
    CHECK(n == 64, "reference rows %zu", n);
    if (n >= 1) {
        CHECK(!strcmp(rows[0].model, "qwen2.5-7b-instruct") && rows[0].prompt_len == 128 && rows[0].batch_size == 3, "ref keys");
        CHECK(fabs(rows[0].s[0].ms - 158.10665325261652) < 1e-9 && rows[0].s[2].tokens == 1152, "ref numbers");
        CHECK(isnan(rows[0].s[0].iqr_ms) && !rows[0].prompt_lens[0], "ref: our columns missing");
    }
    free(rows);
    const char *bad[] = { "garbage.csv", "nokeys.csv", "badnumber.csv" };
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/tests/harness/data/%s", root, bad[i]);
        err[0] = '\0';
        CHECK(results_read(path, &rows, &n, err, sizeof err) == -1 && err[0] && !strchr(err, '\n'), "%s accepted", bad[i]);
        if (err[0]) printf("  %s -> %s\n", bad[i], err);
    }
}

int main(int argc, char **argv) {
    test_round_trip();
    test_reference(argc > 1 ? argv[1] : ".");
    printf("%s: %d failure(s)\n", argv[0], failures);
    return failures ? 1 : 0;
}
