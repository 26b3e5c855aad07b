// fuzz_sweep_config.c: the sweep config reader and the cells made from it. An accepted sweep
// either fails the slot bound with one line or yields cells whose lengths lie in range.
#include <stdint.h>
#include <stdio.h>

#include "../../harness/sweep.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cell(const CellSource *src, int index) {
    Cell c;
    if (cell_make(src, index, &c)) return;
    for (int i = 0; i < c.prompts * c.k; i++) fuzz_require(c.comp_lens[i] >= 1 && c.comp_lens[i] <= PB_MAX_LEN, "completion length out of range");
    for (int i = 0; i < c.prompts; i++) fuzz_require(c.prompt_lens[i] >= 1 && c.prompt_lens[i] <= PB_MAX_LEN, "prompt length out of range");
    char *p, *t;
    if (!cell_lens_text(&c, &p, &t)) { free(p); free(t); }
    cell_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    FILE *fp = fmemopen((void *)data, size, "r");
    if (!fp) return 0;
    SweepConfig s;
    char err[700] = "";
    int rc = config_read_sweep(fp, "fuzz.conf", "fuzz", &s, err, sizeof err);
    fclose(fp);
    if (rc) { fuzz_check_message("sweep config", err); return 0; }
    CellSource src;
    if (cells_from_sweep(&s, &src, err, sizeof err)) { fuzz_check_message("cells", err); return 0; }
    if (cells_check_size(&src, NULL, NULL, err, sizeof err)) {
        fuzz_check_message("cell size", err);
    } else if ((int64_t)src.prompts * src.k <= 4096) { // keep one input fast
        check_cell(&src, 0);
        check_cell(&src, src.n - 1);
    }
    cells_source_free(&src);
    return 0;
}
