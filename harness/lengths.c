/*
 * lengths.c: --lengths FILE.csv into forest cells (see lengths.h). libcsv splits the fields;
 * every row is checked as it arrives (numbers, ranges), every batch when the file is read
 * (duplicate ids, missing parents, cycles, then forest_check: depth and size).
 */
#include "lengths.h"

#include <csv.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../strategies/forest.h"
#include "quote.h"

typedef struct Row { long long batch, id, parent; int32_t len; uint8_t loss; int line; } Row;

typedef struct Reader {
    const char *path;
    int line, field, header_checked;
    char fields[5][32];
    int too_wide;
    Row *rows;
    size_t n, cap;
    char err[512];
} Reader;

static void on_field(void *s, size_t len, void *data) {
    Reader *r = data;
    if (r->field < 5) snprintf(r->fields[r->field], sizeof r->fields[0], "%.*s", (int)(len < 31 ? len : 31), (const char *)s);
    if (len > 30) r->too_wide = 1;
    r->field++;
}

static int parse_ll(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static void on_record(int c, void *data) {
    (void)c;
    Reader *r = data;
    r->line++;
    int nf = r->field;
    r->field = 0;
    if (r->err[0]) return;
    if (!r->header_checked) {
        r->header_checked = 1;
        if (nf >= 1 && !strcmp(r->fields[0], "batch")) return;
    }
    if (nf != 5) {
        snprintf(r->err, sizeof r->err, "%s:%d: %d fields (want batch,id,parent,length,loss)", r->path, r->line, nf);
        return;
    }
    long long batch, id, parent = -1, len, loss;
    const char *bad = NULL;
    if (r->too_wide) bad = "a field longer than 30 characters";
    else if (parse_ll(r->fields[0], 0, INT32_MAX, &batch)) bad = "bad batch (want an integer >= 0)";
    else if (parse_ll(r->fields[1], INT32_MIN, INT32_MAX, &id)) bad = "bad id (want an integer)";
    else if (r->fields[2][0] && parse_ll(r->fields[2], INT32_MIN, INT32_MAX, &parent)) bad = "bad parent (want an id, or empty / -1 for none)";
    else if (parse_ll(r->fields[3], INT64_MIN, INT64_MAX, &len)) bad = "bad length (want an integer)";
    else if (len < 1) bad = "zero or negative length";
    else if (len > (1 << 24)) bad = "length too long (at most 16777216)";
    else if (parse_ll(r->fields[4], 0, 1, &loss)) bad = "bad loss (want 0 or 1)";
    if (bad) { snprintf(r->err, sizeof r->err, "%s:%d: %s", r->path, r->line, bad); return; }
    if (!r->fields[2][0]) parent = -1;
    if (r->n == PB_LENGTHS_MAX_ROWS) {
        snprintf(r->err, sizeof r->err, "%s:%d: more than %d segments in the file", r->path, r->line, PB_LENGTHS_MAX_ROWS);
        return;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 256;
        Row *p = realloc(r->rows, cap * sizeof *p);
        if (!p) { snprintf(r->err, sizeof r->err, "%s: out of memory", r->path); return; }
        r->rows = p;
        r->cap = cap;
    }
    r->rows[r->n++] = (Row){batch, id, parent, (int32_t)len, (uint8_t)loss, r->line};
}

// Index of id among rows[idx[0..n)], or -1.
static int find_id(const Row *rows, const size_t *idx, int n, long long id) {
    for (int i = 0; i < n; i++) if (rows[idx[i]].id == id) return i;
    return -1;
}

// One batch (rows idx[0..n)) into a cell. 0 or -1 with err.
static int batch_cell(const Reader *r, const size_t *idx, int n, Cell *c, char *err, size_t errlen) {
    int32_t *len = malloc((size_t)n * sizeof *len), *parent = malloc((size_t)n * sizeof *parent);
    uint8_t *loss = malloc((size_t)n);
    int rc = (!len || !parent || !loss) ? -1 : 0;
    if (rc) snprintf(err, errlen, "%s: out of memory", r->path);
    for (int i = 0; !rc && i < n; i++) {
        const Row *w = &r->rows[idx[i]];
        len[i] = w->len;
        loss[i] = w->loss;
        if (find_id(r->rows, idx, i, w->id) >= 0) {
            snprintf(err, errlen, "%s:%d: batch %lld: id %lld appears twice", r->path, w->line, w->batch, w->id);
            rc = -1;
        }
    }
    for (int i = 0; !rc && i < n; i++) {
        const Row *w = &r->rows[idx[i]];
        parent[i] = w->parent < 0 ? -1 : find_id(r->rows, idx, n, w->parent);
        if (w->parent >= 0 && parent[i] < 0) {
            snprintf(err, errlen, "%s:%d: batch %lld: segment %lld: missing parent %lld", r->path, w->line, w->batch, w->id, w->parent);
            rc = -1;
        }
    }
    for (int i = 0; !rc && i < n; i++) { // more steps up than segments: a cycle
        int a = i, steps = 0;
        while (a >= 0 && steps <= n) { a = parent[a]; steps++; }
        if (a >= 0) {
            const Row *w = &r->rows[idx[i]];
            snprintf(err, errlen, "%s:%d: batch %lld: segment %lld: its parents form a cycle", r->path, w->line, w->batch, w->id);
            rc = -1;
        }
    }
    char why[256];
    if (!rc && cell_set_forest(c, n, len, parent, loss, why, sizeof why)) {
        snprintf(err, errlen, "%s: batch %lld: %s", r->path, r->rows[idx[0]].batch, why);
        rc = -1;
    }
    free(len); free(parent); free(loss);
    return rc;
}

int lengths_read(const char *path, CellSource *src, char *err, size_t errlen) {
    memset(src, 0, sizeof *src);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        char q[PB_QUOTE_BUF];
        snprintf(err, errlen, "%s: %s", pb_escape(path, PB_QUOTE_PATH, q, sizeof q), strerror(errno));
        return -1;
    }
    int rc = lengths_read_stream(fp, path, src, err, errlen);
    fclose(fp);
    return rc;
}

int lengths_read_stream(FILE *fp, const char *path_raw, CellSource *src, char *err, size_t errlen) {
    memset(src, 0, sizeof *src);
    struct { Cell *cells; int n; } list = {NULL, 0}, *out = &list;
    char path_q[PB_QUOTE_BUF];
    const char *path = pb_escape(path_raw, PB_QUOTE_PATH, path_q, sizeof path_q); // every message one line
    Reader *r = calloc(1, sizeof *r);
    struct csv_parser p;
    if (!r || csv_init(&p, CSV_APPEND_NULL)) { free(r); snprintf(err, errlen, "out of memory"); return -1; }
    r->path = path;
    char buf[65536];
    size_t got;
    int rc = 0;
    while (!rc && (got = fread(buf, 1, sizeof buf, fp)) > 0)
        if (csv_parse(&p, buf, got, on_field, on_record, r) != got) {
            snprintf(err, errlen, "%s:%d: %s", path, r->line + 1, csv_strerror(csv_error(&p)));
            rc = -1;
        }
    if (!rc) csv_fini(&p, on_field, on_record, r);
    csv_free(&p);
    if (!rc && r->err[0]) { snprintf(err, errlen, "%s", r->err); rc = -1; }
    if (!rc && r->n == 0) { snprintf(err, errlen, "%s: no segments", path); rc = -1; }
    // batches in order of first appearance
    size_t *idx = rc ? NULL : malloc(r->n * sizeof *idx);
    uint8_t *used = rc ? NULL : calloc(r->n, 1);
    if (!rc && (!idx || !used)) { snprintf(err, errlen, "out of memory"); rc = -1; }
    int n_batches = 0;
    for (size_t i = 0; !rc && i < r->n; i++) {
        if (used[i]) continue;
        n_batches++;
        for (size_t j = i; j < r->n; j++) used[j] |= r->rows[j].batch == r->rows[i].batch;
    }
    if (!rc) memset(used, 0, r->n);
    if (!rc && !(out->cells = calloc((size_t)n_batches, sizeof *out->cells))) { snprintf(err, errlen, "out of memory"); rc = -1; }
    for (size_t i = 0; !rc && i < r->n; i++) {
        if (used[i]) continue;
        int n = 0;
        for (size_t j = i; j < r->n; j++)
            if (r->rows[j].batch == r->rows[i].batch) { idx[n++] = j; used[j] = 1; }
        Cell *c = &out->cells[out->n];
        c->index = out->n;
        if (n > PB_MAX_SEGMENTS) { snprintf(err, errlen, "%s: batch %lld: more than %d segments", path, r->rows[i].batch, PB_MAX_SEGMENTS); rc = -1; }
        else rc = batch_cell(r, idx, n, c, err, errlen);
        out->n++;
    }
    free(idx); free(used); free(r->rows); free(r);
    if (rc) {
        for (int i = 0; i < out->n; i++) cell_free(&out->cells[i]);
        free(out->cells);
        return rc;
    }
    cells_from_forests(out->cells, out->n, src);
    return 0;
}
