/*
 * test_csv_out.c: the results file of a run (harness/csv_out.h), each check one of issue 15's
 * cases that failed on main:
 *   3  a second writer on a locked --out is refused (main: both wrote, rows torn or doubled);
 *   4  a last line without a newline is set aside in FILE.torn before rows are appended
 *      (main: the next row was glued onto it, a 121-field row);
 *   5  a 5.4 kB row is one write() (main: stdio's 4096-byte buffer split it in two, and a kill
 *      between them tore the row); write() is interposed below to count the calls;
 *   6  a failed write (here RLIMIT_FSIZE, as a full disk) returns strerror's reason and leaves
 *      the file at whole rows (main: "cannot write the CSV row" without a reason, a partial
 *      last line); a 0-byte file resumes as a new one (main: "another header").
 * Also: an unparsable last row is set aside, one before the last is refused.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../harness/csv_out.h"
#include "../test_util.h"


// write() calls on one descriptor, counted; everything else passes straight to the kernel.
static int counted_fd = -1, n_writes;
ssize_t write(int fd, const void *buf, size_t n) {
    if (fd == counted_fd) n_writes++;
    return syscall(SYS_write, fd, buf, n);
}

static ResultRow *row_of(int prompts, int cell) {
    ResultRow *r = calloc(1, sizeof *r);
    results_row_init(r);
    snprintf(r->model, sizeof r->model, "tiny");
    r->prompt_len = 10; r->completion_len = 10; r->num_completions = 2; r->batch_size = prompts; r->cell = cell;
    r->seed = 1;
    snprintf(r->device, sizeof r->device, "cpu");
    for (int s = 0; s < STRATEGY_COUNT; s++) snprintf(r->s[s].status, sizeof r->s[s].status, "ok");
    r->prompt_lens = malloc((size_t)prompts * 6 + 1);
    char *o = r->prompt_lens;
    for (int i = 0; i < prompts; i++) o += sprintf(o, "%s%d", i ? " " : "", 1000 + i % 9000);
    return r;
}

static void free_row(ResultRow *r) { results_row_free(r); free(r); }

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) ? -1 : (long)st.st_size;
}

static void append_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "a");
    if (fp) { fputs(text, fp); fclose(fp); }
}

static char *read_all(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

int main(void) {
    const char *path = "test_csv_out.csv";
    char err[800], torn[64];
    snprintf(torn, sizeof torn, "%s.torn", path);
    remove(path);
    remove(torn);
    FILE *quiet = fopen("/dev/null", "w");
    ResultRow *rows;
    size_t n;

    // fresh file, a 1,500-prompt row (5.4 kB of prompt lengths) in one write()
    CsvOut o, second;
    CHECK(csv_out_open(&o, path, 0, quiet, &rows, &n, err, sizeof err) == 0, "open: %s", err);
    ResultRow *big = row_of(1500, 0);
    counted_fd = o.fd;
    n_writes = 0;
    CHECK(csv_out_append(&o, big, err, sizeof err) == 0, "append: %s", err);
    CHECK(n_writes == 1, "case 5: a %ld-byte file took %d write() calls for one row", file_size(path), n_writes);
    counted_fd = -1;

    // case 3: a second writer is refused in one line while the first holds the file
    int rc = csv_out_open(&second, path, 1, quiet, &rows, &n, err, sizeof err);
    CHECK(rc == 2 && strstr(err, "another bench") && !strchr(err, '\n'), "case 3: second writer rc %d: %s", rc, err);
    CHECK(csv_out_close(&o, err, sizeof err) == 0, "close: %s", err);

    // case 4: a torn last row (no newline) is set aside, the rows before it kept
    append_text(path, "tiny,nll,10,10,2,3,1.5,2");
    rc = csv_out_open(&o, path, 1, quiet, &rows, &n, err, sizeof err);
    CHECK(rc == 0 && n == 1, "case 4: resume over a torn row: rc %d, %zu rows: %s", rc, n, err);
    results_rows_free(rows, n);
    char *t = read_all(torn);
    CHECK(t && !strcmp(t, "tiny,nll,10,10,2,3,1.5,2\n"), "case 4: %s holds '%s'", torn, t ? t : "(none)");
    ResultRow *small = row_of(3, 1);
    CHECK(csv_out_append(&o, small, err, sizeof err) == 0, "append after torn: %s", err);
    csv_out_close(&o, err, sizeof err);
    CHECK(csv_out_open(&o, path, 1, quiet, &rows, &n, err, sizeof err) == 0 && n == 2, "reread: %zu rows: %s", n, err);
    results_rows_free(rows, n);
    csv_out_close(&o, err, sizeof err);

    // an unparsable last row is set aside; one before the last is refused
    append_text(path, "garbage,row\n");
    CHECK(csv_out_open(&o, path, 1, quiet, &rows, &n, err, sizeof err) == 0 && n == 2, "unparsable last row: %s", err);
    results_rows_free(rows, n);
    csv_out_close(&o, err, sizeof err);
    append_text(path, "garbage,row\n");
    char *line;
    size_t len;
    results_format_row(small, &line, &len);
    append_text(path, line);
    free(line);
    rc = csv_out_open(&o, path, 1, quiet, &rows, &n, err, sizeof err);
    CHECK(rc == 2 && strstr(err, ":4:") && !strchr(err, '\n'), "bad row before the last: rc %d: %s", rc, err);

    // case 6: a write that fails part-way is cut back off, with the reason
    CHECK(csv_out_open(&o, path, 0, quiet, &rows, &n, err, sizeof err) == 0, "reopen fresh: %s", err);
    CHECK(csv_out_append(&o, small, err, sizeof err) == 0, "append: %s", err);
    long before = file_size(path);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim.rlim_cur = (rlim_t)before + 100;
    lim.rlim_max = old.rlim_max;
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit");
    rc = csv_out_append(&o, big, err, sizeof err);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK(rc == -1 && strstr(err, "File too large") && !strchr(err, '\n'), "case 6: failed write rc %d: %s", rc, err);
    CHECK(file_size(path) == before, "case 6: file is %ld bytes after the failed write, was %ld", file_size(path), before);
    csv_out_close(&o, err, sizeof err);
    CHECK(csv_out_open(&o, path, 1, quiet, &rows, &n, err, sizeof err) == 0 && n == 1, "case 6: resume after: %s", err);
    results_rows_free(rows, n);
    csv_out_close(&o, err, sizeof err);

    // case 6: a 0-byte file (the header could not be written) resumes as a new file
    FILE *fp = fopen(path, "w");
    if (fp) fclose(fp);
    rc = csv_out_open(&o, path, 1, quiet, &rows, &n, err, sizeof err);
    CHECK(rc == 0 && n == 0 && file_size(path) > 100, "case 6: 0-byte file: rc %d: %s", rc, err);
    csv_out_close(&o, err, sizeof err);

    // another program's file is refused, not overwritten
    fp = fopen(path, "w");
    if (fp) { fputs("a,b\n1,2\n", fp); fclose(fp); }
    rc = csv_out_open(&o, path, 1, quiet, &rows, &n, err, sizeof err);
    CHECK(rc == 2 && strstr(err, "another header") && file_size(path) == 8, "foreign file: rc %d: %s", rc, err);
    fp = fopen(path, "wb");
    if (fp) { fwrite("\0garbage", 1, 8, fp); fclose(fp); }
    rc = csv_out_open(&o, path, 1, quiet, &rows, &n, err, sizeof err);
    CHECK(rc == 2 && file_size(path) == 8, "a file starting with NUL taken for a torn header: rc %d: %s", rc, err);

    free_row(big);
    free_row(small);
    fclose(quiet);
    remove(path);
    remove(torn);
    return test_finish("test_csv_out");
}
