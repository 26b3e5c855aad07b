// fuzz_cli.c: the command line (harness/cli.c) and --cells. The input is the arguments,
// separated by NUL bytes; the first argument is also parsed as a --cells list.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness/cli.h"
#include "../../harness/sweep.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[66] = { "bench" };
    int argc = 1;
    for (char *p = buf; p < buf + size && argc < 65; p += strlen(p) + 1) argv[argc++] = p;
    argv[argc] = NULL;
    CliOptions o;
    char err[700] = "";
    if (cli_parse(argc, argv, &o, err, sizeof err)) fuzz_check_message("cli", err);
    else fuzz_require(o.shard_i >= 0 && o.shard_i < o.shard_n, "shard out of range");
    char *cmd = cli_command_line(argc, argv);
    if (cmd) {
        for (const unsigned char *c = (const unsigned char *)cmd; *c; c++) fuzz_require(*c >= 0x20 && *c != 0x7f, "control byte in the recorded command");
        free(cmd);
    }
    if (argc > 1) {
        CellSource src;
        err[0] = '\0';
        if (cells_from_spec(argv[1], 3, 2, &src, err, sizeof err)) {
            fuzz_check_message("--cells", err);
        } else {
            if (cells_check_size(&src, NULL, NULL, err, sizeof err)) fuzz_check_message("--cells size", err);
            Cell c;
            if (src.n > 0 && !cell_make(&src, src.n - 1, &c)) {
                fuzz_require(c.prompt_len >= 1 && c.prompt_len <= PB_MAX_LEN && c.completion_len >= 1, "cell lengths");
                cell_free(&c);
            }
            cells_source_free(&src);
        }
    }
    free(buf);
    return 0;
}
