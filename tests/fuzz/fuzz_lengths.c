// fuzz_lengths.c: the --lengths FILE.csv reader (harness/lengths.c) on arbitrary bytes. A
// refusal is one printable line; an accepted file gives at least one cell.
#include <stdint.h>
#include <stdio.h>

#include "../../harness/lengths.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    FILE *fp = fmemopen((void *)data, size, "r");
    if (!fp) return 0;
    CellSource src;
    char err[700] = "";
    int rc = lengths_read_stream(fp, "fuzz.csv", &src, err, sizeof err);
    fclose(fp);
    if (rc) { fuzz_check_message("lengths file", err); return 0; }
    fuzz_require(src.n > 0, "an accepted lengths file without cells");
    cells_source_free(&src);
    return 0;
}
