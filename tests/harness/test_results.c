/*
 * test_results.c: the results CSV. The header starts with the reference's 18 columns; a row
 * survives a write / read round trip through libcsv (commas, quotes in the command field,
 * missing numbers as empty fields; a newline comes back escaped, so a row is one line); long
 * fields are never cut (issue 15 case 7: on main prompt_lens was cut at 2,047 characters and
 * completion_lens and command at 4,095); the reference CSV reads. argv[1]: source root.
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
    snprintf(r->s[3].status, sizeof r->s[3].status, "ok");
    r->s[3].ms = 80.0; r->s[3].loss = 7.25; r->s[3].tokens = 1200;
    double flop[STRATEGY_COUNT] = { 3e12, NAN, 2e12, 1.5e12 };
    results_row_derive(r, flop, 2.5e12);
    r->forest = strdup("512:-1:0 64:0:1 64:0:1");
    r->command = strdup("./bench --cells 512x128,1024x128 --out \"a, b.csv\"\nsecond line");
    snprintf(r->gpu, sizeof r->gpu, " NVIDIA H200, SXM ");
    r->completion_lens = strdup("130 4000 16384 128 999 1000");
    r->prompt_lens = strdup("1 2 3");
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
    int lines = 0;
    fp = fopen(path, "r");
    for (int ch; fp && (ch = fgetc(fp)) != EOF;) lines += ch == '\n';
    if (fp) fclose(fp);
    CHECK(lines == 3, "%d physical lines, want 3 (a row is one line)", lines);
    if (n == 2) {
        ResultRow *b = &back[1];
        CHECK(!strcmp(b->command, "./bench --cells 512x128,1024x128 --out \"a, b.csv\"\\nsecond line"), "command '%s'", b->command);
        CHECK(b->line == 3, "second row's line %d", b->line);
        CHECK(!strcmp(b->gpu, r->gpu), "gpu '%s'", b->gpu);
        CHECK(!strcmp(b->completion_lens, r->completion_lens) && !strcmp(b->prompt_lens, r->prompt_lens), "lens");
        CHECK(b->prompt_len == 512 && b->completion_len == 128 && b->num_completions == 2 && b->batch_size == 3, "keys");
        CHECK(fabs(b->s[0].ms - 123.456789) < 1e-9 && b->s[0].reps == 9 && b->s[0].tokens == 1920, "padded numbers");
        CHECK(!strcmp(b->s[1].status, "oom") && isnan(b->s[1].ms) && b->s[1].reps == -1, "oom strategy: missing fields");
        CHECK(fabs(b->speedup_pad_prefix - 1.23456789) < 1e-8, "speedup %g", b->speedup_pad_prefix);
        CHECK(isnan(b->speedup_pad_pack), "speedup with a missing side must be empty");
        CHECK(fabs(b->ideal_speedup_pad_prefix - 1.5) < 1e-12, "ideal %g", b->ideal_speedup_pad_prefix);
        CHECK(b->seed == 42 && b->cell == 7, "seed/cell");
        CHECK(!strcmp(b->s[3].status, "ok") && b->s[3].tokens == 1200 && fabs(b->s[3].ms - 80.0) < 1e-9, "tree numbers");
        CHECK(fabs(b->ideal_speedup_pad_tree - 2.0) < 1e-8 && fabs(b->ideal_speedup_prefix_tree - 4.0 / 3.0) < 1e-8 &&
              fabs(b->speedup_pad_tree - r->s[0].ms / 80.0) < 1e-8 && fabs(b->speedup_prefix_tree - 1.25) < 1e-8,
              "tree speedups and ideals");
        CHECK(b->forest && !strcmp(b->forest, "512:-1:0 64:0:1 64:0:1"), "forest '%s'", b->forest ? b->forest : "");
        CHECK(results_same_cell(b, r), "same cell");
        ResultRow *other = malloc(sizeof *other);
        *other = *b;
        other->completion_lens = "130 4000 16384 128 999 1001";
        CHECK(!results_same_cell(other, r), "different exact lengths must not match");
        *other = *b;
        other->forest = "512:-1:0 64:0:1 65:0:1";
        CHECK(!results_same_cell(other, r), "different forests must not match");
        *other = *b;
        snprintf(other->model, sizeof other->model, "Qwen2.5-7B-Instruct");
        CHECK(results_same_cell(other, r), "model match ignores case and -instruct");
        free(other);
    }
    results_rows_free(back, n);
    results_row_free(r);
    free(r);
    remove(path);
}

// Case 7: 1,500 prompts x 4 completions of 5-digit lengths and a 6,000-character command
// come back whole.
static void test_long_fields(void) {
    ResultRow *r = malloc(sizeof *r), *back = NULL;
    results_row_init(r);
    snprintf(r->model, sizeof r->model, "tiny");
    r->prompt_len = 12345; r->completion_len = 12345; r->num_completions = 4; r->batch_size = 1500;
    size_t np = 1500, nc = 6000;
    r->prompt_lens = malloc(np * 6 + 1);
    r->completion_lens = malloc(nc * 6 + 1);
    r->command = malloc(6001);
    char *o = r->prompt_lens;
    for (size_t i = 0; i < np; i++) o += sprintf(o, "%s%zu", i ? " " : "", 10000 + i);
    o = r->completion_lens;
    for (size_t i = 0; i < nc; i++) o += sprintf(o, "%s%zu", i ? " " : "", 20000 + i % 9999);
    memset(r->command, 'x', 6000);
    r->command[6000] = '\0';
    const char *path = "test_results_long.csv";
    FILE *fp = fopen(path, "w");
    CHECK(fp && results_write_header(fp) == 0 && results_write_row(fp, r) == 0, "write long row");
    if (fp) fclose(fp);
    size_t n = 0;
    char err[600] = "";
    CHECK(results_read(path, &back, &n, err, sizeof err) == 0 && n == 1, "read long row: %s", err);
    if (n == 1) {
        CHECK(strlen(back->prompt_lens) == strlen(r->prompt_lens) && !strcmp(back->prompt_lens, r->prompt_lens),
              "prompt_lens cut: %zu of %zu characters", strlen(back->prompt_lens), strlen(r->prompt_lens));
        CHECK(!strcmp(back->completion_lens, r->completion_lens), "completion_lens cut: %zu of %zu characters",
              strlen(back->completion_lens), strlen(r->completion_lens));
        CHECK(!strcmp(back->command, r->command), "command cut: %zu of 6000 characters", strlen(back->command));
    }
    results_rows_free(back, n);
    // a fixed-size field longer than its room is refused, not cut
    fp = fopen(path, "w");
    if (fp) {
        fprintf(fp, "model,prompt_len,completion_len,num_completions,batch_size\n%0100d,1,1,1,1\n", 7);
        fclose(fp);
    }
    CHECK(results_read(path, &back, &n, err, sizeof err) == -1 && strstr(err, "longer than 63"), "long model name: %s", err);
    results_row_free(r);
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
        CHECK(isnan(rows[0].s[0].iqr_ms) && !rows[0].prompt_lens, "ref: our columns missing");
    }
    results_rows_free(rows, n);
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
    test_long_fields();
    test_reference(argc > 1 ? argv[1] : ".");
    printf("%s: %d failure(s)\n", argv[0], failures);
    return failures ? 1 : 0;
}
