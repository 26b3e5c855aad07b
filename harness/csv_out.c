// csv_out.c: the locked, append-only results file (see csv_out.h).
#include "csv_out.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quote.h"

static int make_parent_dir(const char *path) {
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) { errno = ENAMETOOLONG; return -1; }
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = '\0';
    if (mkdir(dir, 0777) && errno != EEXIST) return -1;
    return 0;
}

// Writes len bytes at the end as one write(); a short write is completed once to learn its
// reason, and on failure the file is cut back to its old size. 0 or -1 with errno.
static int append_whole(int fd, const char *buf, size_t len) {
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0) return -1;
    ssize_t n = write(fd, buf, len);
    if (n == (ssize_t)len) return 0;
    int e = n < 0 ? errno : 0;
    if (n >= 0) {
        ssize_t m = write(fd, buf + n, len - (size_t)n);
        if (m == (ssize_t)(len - (size_t)n)) return 0;
        e = m < 0 ? errno : ENOSPC;
    }
    if (ftruncate(fd, end) == 0) lseek(fd, end, SEEK_SET);
    errno = e;
    return -1;
}

static int write_header(CsvOut *o, char *err, size_t errlen) {
    char header[4096];
    results_header(header, sizeof header - 1);
    strcat(header, "\n");
    if (ftruncate(o->fd, 0) || append_whole(o->fd, header, strlen(header))) {
        snprintf(err, errlen, "cannot write %s: %s", o->shown, strerror(errno));
        return 1;
    }
    return 0;
}

// Offset just past the last newline before end (0 when none), reading backwards.
static off_t line_start_before(int fd, off_t end) {
    char buf[4096];
    while (end > 0) {
        off_t from = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
        ssize_t got = pread(fd, buf, (size_t)(end - from), from);
        if (got <= 0) return -1;
        for (ssize_t i = got; i-- > 0;)
            if (buf[i] == '\n') return from + i + 1;
        end = from;
    }
    return 0;
}

// Moves the bytes [from, size) to PATH.torn (appended, newline-terminated), cuts them off.
static int set_aside(CsvOut *o, off_t from, off_t size, const char *why, FILE *progress, char *err, size_t errlen) {
    char torn[4200];
    snprintf(torn, sizeof torn, "%s.torn", o->path);
    size_t len = (size_t)(size - from);
    char *buf = malloc(len + 1);
    int tfd = buf ? open(torn, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666) : -1;
    int ok = tfd >= 0 && pread(o->fd, buf, len, from) == (ssize_t)len;
    if (ok && (len == 0 || buf[len - 1] != '\n')) buf[len++] = '\n';
    ok = ok && write(tfd, buf, len) == (ssize_t)len && ftruncate(o->fd, from) == 0;
    int e = errno;
    if (tfd >= 0) close(tfd);
    free(buf);
    if (!ok) { snprintf(err, errlen, "--resume: cannot set the last row of %s aside: %s", o->shown, strerror(e)); return 1; }
    fprintf(progress, "bench: --resume: %s: the last row is %s (%zu bytes): moved to %s.torn; its cell runs again\n",
            o->shown, why, (size_t)(size - from), o->shown);
    return 0;
}

// The rows of the file, setting a torn or unparsable last row aside. 0, 1 or 2 as csv_out_open.
static int resume_check(CsvOut *o, FILE *progress, ResultRow **rows, size_t *n, char *err, size_t errlen) {
    char header[4096], first[4097];
    results_header(header, sizeof header);
    for (int attempt = 0; attempt < 2; attempt++) {
        off_t size = lseek(o->fd, 0, SEEK_END);
        if (size < 0) { snprintf(err, errlen, "cannot read %s: %s", o->shown, strerror(errno)); return 2; }
        ssize_t got = pread(o->fd, first, sizeof first - 1, 0);
        if (got < 0) { snprintf(err, errlen, "cannot read %s: %s", o->shown, strerror(errno)); return 2; }
        first[got] = '\0';
        char *nl = memchr(first, '\n', (size_t)got);
        size_t hl = strlen(header);
        if (!nl && (off_t)got == size && (size_t)got <= hl && !memcmp(first, header, (size_t)got)) {
            if (size) fprintf(progress, "bench: --resume: %s holds a torn header only: written again\n", o->shown);
            return write_header(o, err, errlen); // empty, or a header cut short: no rows yet
        }
        if (!nl || (size_t)(nl - first) != hl || memcmp(first, header, hl)) {
            snprintf(err, errlen, "--resume: %s has another header (not written by this version)", o->shown);
            return 2;
        }
        char last;
        if (pread(o->fd, &last, 1, size - 1) != 1) { snprintf(err, errlen, "cannot read %s: %s", o->shown, strerror(errno)); return 2; }
        if (last != '\n') {
            off_t from = line_start_before(o->fd, size);
            if (from < 0) { snprintf(err, errlen, "cannot read %s: %s", o->shown, strerror(errno)); return 2; }
            int rc = set_aside(o, from, size, "torn (no newline)", progress, err, errlen);
            if (rc) return rc;
            size = from;
        }
        int dfd = dup(o->fd);
        FILE *fp = dfd >= 0 ? fdopen(dfd, "rb") : NULL;
        if (!fp) { if (dfd >= 0) close(dfd); snprintf(err, errlen, "cannot read %s: %s", o->shown, strerror(errno)); return 2; }
        rewind(fp);
        int bad_line = 0;
        int rc = results_read_stream(fp, o->shown, rows, n, &bad_line, err, errlen);
        fclose(fp);
        if (!rc) return 0;
        // only the last row may be set aside: count the lines to know whether it is the last
        off_t from = line_start_before(o->fd, size - 1);
        int lines = 0;
        char buf[65536];
        for (off_t at = 0; at < size;) {
            ssize_t g = pread(o->fd, buf, sizeof buf, at);
            if (g <= 0) break;
            for (ssize_t i = 0; i < g; i++) lines += buf[i] == '\n';
            at += g;
        }
        if (attempt == 1 || bad_line != lines || bad_line < 2 || from < 0) {
            char why[700];
            snprintf(why, sizeof why, "%s", err);
            snprintf(err, errlen, "--resume: %s (only a torn last row is set aside; mend the file or use another --out)", why);
            return 2;
        }
        char why[120];
        snprintf(why, sizeof why, "unparsable");
        if ((rc = set_aside(o, from, size, why, progress, err, errlen))) return rc;
    }
    return 2;
}

int csv_out_open(CsvOut *o, const char *path, int resume, FILE *progress, ResultRow **rows, size_t *n,
                 char *err, size_t errlen) {
    o->path = path;
    o->fd = -1;
    *rows = NULL;
    *n = 0;
    pb_escape(path, PB_QUOTE_PATH, o->shown, sizeof o->shown);
    if (make_parent_dir(path) || (o->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", o->shown, strerror(errno));
        return 2;
    }
    struct stat st;
    if (fstat(o->fd, &st) || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", o->shown);
        close(o->fd);
        o->fd = -1;
        return 2;
    }
    if (flock(o->fd, LOCK_EX | LOCK_NB)) {
        int e = errno;
        snprintf(err, errlen, "%s is being written by another bench (%s); wait for it or use another --out", o->shown,
                 e == EWOULDBLOCK ? "locked" : strerror(e));
        close(o->fd);
        o->fd = -1;
        return 2;
    }
    int rc = resume ? resume_check(o, progress, rows, n, err, errlen) : write_header(o, err, errlen);
    if (rc) { close(o->fd); o->fd = -1; }
    return rc;
}

int csv_out_append(CsvOut *o, const ResultRow *r, char *err, size_t errlen) {
    char *line;
    size_t len;
    if (results_format_row(r, &line, &len)) { snprintf(err, errlen, "cannot format a row: out of memory"); return -1; }
    int rc = append_whole(o->fd, line, len);
    if (rc) snprintf(err, errlen, "cannot write a row to %s: %s", o->shown, strerror(errno));
    free(line);
    return rc;
}

int csv_out_close(CsvOut *o, char *err, size_t errlen) {
    if (o->fd < 0) return 0;
    int rc = close(o->fd); // closing the descriptor releases the lock
    o->fd = -1;
    if (rc) snprintf(err, errlen, "cannot write %s: %s", o->shown, strerror(errno));
    return rc ? -1 : 0;
}
