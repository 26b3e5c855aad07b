// fuzz_results_csv.c: the results CSV reader (harness/results.c), as compare and --resume use
// it. Every row read back is checked by compare's figure check and written again: a written
// row is one line ending in its newline, and it reads back as the same cell.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness/results.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *fp = fmemopen((void *)data, size ? size : 1, "rb");
    if (!fp) return 0;
    ResultRow *rows;
    size_t n;
    int bad_line;
    char err[700] = "";
    int rc = results_read_stream(fp, "fuzz.csv", &rows, &n, &bad_line, err, sizeof err);
    fclose(fp);
    if (rc) { fuzz_check_message("results csv", err); return 0; }
    err[0] = '\0';
    if (results_check_figures("fuzz.csv", rows, n, err, sizeof err)) fuzz_check_message("figures", err);
    char header[4096];
    results_header(header, sizeof header);
    for (size_t i = 0; i < n && i < 4; i++) {
        char *line;
        size_t len;
        if (results_format_row(&rows[i], &line, &len)) continue;
        fuzz_require(len > 0 && line[len - 1] == '\n' && memchr(line, '\n', len) == line + len - 1, "a written row is not one line");
        size_t hl = strlen(header);
        char *file = malloc(hl + 1 + len);
        if (file) {
            memcpy(file, header, hl);
            file[hl] = '\n';
            memcpy(file + hl + 1, line, len);
            FILE *back = fmemopen(file, hl + 1 + len, "rb");
            ResultRow *again;
            size_t m;
            if (back && results_read_stream(back, "again.csv", &again, &m, NULL, err, sizeof err) == 0) {
                fuzz_require(m == 1 && results_same_cell(&again[0], &rows[i]), "a written row reads back as another cell");
                results_rows_free(again, m);
            } else {
                fuzz_require(0, "a written row does not read back");
            }
            if (back) fclose(back);
            free(file);
        }
        free(line);
    }
    results_rows_free(rows, n);
    return 0;
}
