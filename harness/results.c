/*
 * results.c: the results CSV. One table of columns (name, type, field) drives the writer, the
 * header and the reader, so the three cannot drift apart.
 */
#include "results.h"

#include <csv.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum ColType { C_STR, C_INT, C_I64, C_DBL } ColType;
typedef struct Column { const char *name; ColType type; size_t off, size; } Column;

#define COL(n, t, f) { n, t, offsetof(ResultRow, f), sizeof(((ResultRow *)0)->f) }
#define STRATEGY_COLS(p, i) \
    COL(p "_status", C_STR, s[i].status), COL(p "_loss", C_DBL, s[i].loss), \
    COL(p "_min_ms", C_DBL, s[i].min_ms), COL(p "_iqr_ms", C_DBL, s[i].iqr_ms), \
    COL(p "_reps", C_INT, s[i].reps), COL(p "_model_tflop", C_DBL, s[i].model_tflop), \
    COL(p "_tflops", C_DBL, s[i].tflops), COL(p "_driver_gb", C_DBL, s[i].driver_gb), \
    COL(p "_predicted_gb", C_DBL, s[i].predicted_gb), COL(p "_gb_accum", C_DBL, s[i].gb_accum), \
    COL(p "_sm_mhz_min", C_DBL, s[i].sm_mhz_min), \
    COL(p "_sm_mhz_max", C_DBL, s[i].sm_mhz_max), COL(p "_clocks", C_STR, s[i].clocks), \
    COL(p "_stopped_at_max_time", C_STR, s[i].stopped_at_max_time), COL(p "_error", C_STR, s[i].error)

static const Column columns[] = {
    // the reference CSV's 18 columns, in its order
    COL("model", C_STR, model), COL("method", C_STR, method),
    COL("prompt_len", C_INT, prompt_len), COL("completion_len", C_INT, completion_len),
    COL("num_completions", C_INT, num_completions), COL("batch_size", C_INT, batch_size),
    COL("padded_ms", C_DBL, s[0].ms), COL("packed_ms", C_DBL, s[1].ms), COL("prefix_ms", C_DBL, s[2].ms),
    COL("padded_gb", C_DBL, s[0].gb), COL("packed_gb", C_DBL, s[1].gb), COL("prefix_gb", C_DBL, s[2].gb),
    COL("speedup_pad_pack", C_DBL, speedup_pad_pack), COL("speedup_pack_prefix", C_DBL, speedup_pack_prefix),
    COL("speedup_pad_prefix", C_DBL, speedup_pad_prefix),
    COL("padded_tokens", C_I64, s[0].tokens), COL("packed_tokens", C_I64, s[1].tokens),
    COL("prefix_tokens", C_I64, s[2].tokens),
    // ours
    STRATEGY_COLS("padded", 0), STRATEGY_COLS("packed", 1), STRATEGY_COLS("prefix", 2),
    COL("ideal_speedup_pad_prefix", C_DBL, ideal_speedup_pad_prefix), COL("efficiency", C_DBL, efficiency),
    COL("loss_check", C_STR, loss_check), COL("loss_max_rel_diff", C_DBL, loss_max_rel_diff),
    COL("attention", C_STR, attention), COL("prefix_attention", C_STR, prefix_attention),
    COL("device", C_STR, device), COL("gpu", C_STR, gpu),
    COL("versions", C_STR, versions), COL("git_commit", C_STR, git_commit), COL("command", C_STR, command),
    COL("seed", C_I64, seed), COL("sweep", C_STR, sweep), COL("cell", C_INT, cell),
    COL("prompt_lens", C_STR, prompt_lens), COL("completion_lens", C_STR, completion_lens),
    COL("time", C_STR, time),
};
enum { N_COLUMNS = sizeof columns / sizeof columns[0] };

void results_row_init(ResultRow *r) {
    memset(r, 0, sizeof *r);
    for (size_t c = 0; c < N_COLUMNS; c++) {
        char *p = (char *)r + columns[c].off;
        if (columns[c].type == C_INT) *(int *)p = -1;
        if (columns[c].type == C_I64) *(int64_t *)p = -1;
        if (columns[c].type == C_DBL) *(double *)p = NAN;
    }
}

static double ratio(double a, double b) { return (a > 0 && b > 0) ? a / b : NAN; }

void results_row_derive(ResultRow *r, const double model_flop[STRATEGY_COUNT]) {
    r->speedup_pad_pack = ratio(r->s[STRATEGY_PADDED].ms, r->s[STRATEGY_PACKED].ms);
    r->speedup_pack_prefix = ratio(r->s[STRATEGY_PACKED].ms, r->s[STRATEGY_PREFIX].ms);
    r->speedup_pad_prefix = ratio(r->s[STRATEGY_PADDED].ms, r->s[STRATEGY_PREFIX].ms);
    r->ideal_speedup_pad_prefix = ratio(model_flop[STRATEGY_PADDED], model_flop[STRATEGY_PREFIX]);
    r->efficiency = ratio(r->speedup_pad_prefix, r->ideal_speedup_pad_prefix);
}

void results_header(char *buf, size_t len) {
    size_t n = 0;
    buf[0] = '\0';
    for (size_t c = 0; c < N_COLUMNS && n < len; c++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", c ? "," : "", columns[c].name);
}

int results_write_header(FILE *fp) {
    char header[4096];
    results_header(header, sizeof header);
    if (fprintf(fp, "%s\n", header) < 0 || fflush(fp)) return -1;
    return 0;
}

// A field as is, or quoted by libcsv when it holds a comma, quote, newline or edge space.
static int write_field(FILE *fp, const char *s) {
    size_t n = strlen(s);
    int plain = strcspn(s, ",\"\r\n") == n && !(n && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1])));
    if (plain) return fputs(s, fp) < 0 ? -1 : 0;
    return csv_fwrite(fp, s, n);
}

static void format_field(const ResultRow *r, const Column *c, char *buf, size_t len) {
    const char *p = (const char *)r + c->off;
    buf[0] = '\0';
    switch (c->type) {
    case C_STR: snprintf(buf, len, "%s", p); break;
    case C_INT: if (*(const int *)p >= 0) snprintf(buf, len, "%d", *(const int *)p); break;
    case C_I64: if (*(const int64_t *)p >= 0) snprintf(buf, len, "%lld", (long long)*(const int64_t *)p); break;
    case C_DBL: if (!isnan(*(const double *)p)) snprintf(buf, len, "%.10g", *(const double *)p); break;
    }
}

int results_write_row(FILE *fp, const ResultRow *r) {
    // Assemble the whole line in memory first so a row is written whole or not at all.
    char *line = NULL;
    size_t line_len = 0;
    FILE *mem = open_memstream(&line, &line_len);
    if (!mem) return -1;
    char buf[4200];
    int rc = 0;
    for (size_t c = 0; c < N_COLUMNS && !rc; c++) {
        format_field(r, &columns[c], buf, sizeof buf);
        if (c && fputc(',', mem) == EOF) rc = -1;
        if (!rc) rc = write_field(mem, buf);
    }
    if (!rc && fputc('\n', mem) == EOF) rc = -1;
    if (fclose(mem)) rc = -1;
    if (!rc && (fwrite(line, 1, line_len, fp) != line_len || fflush(fp))) rc = -1;
    free(line);
    return rc;
}

/* ---- reader ------------------------------------------------------------------------------ */

typedef struct Reader {
    const char *path;
    int line;                 // current record's line (1-based)
    int n_head, head_col[128];// header position -> column index (-1 = ignored)
    int have_key;             // bit mask of key columns seen
    ResultRow row;
    int field;                // index of the next field in the record
    ResultRow *rows;
    size_t n, cap;
    char err[512];
} Reader;

static const char *const key_columns[] = { "model", "prompt_len", "completion_len", "num_completions", "batch_size" };

static void reader_fail(Reader *rd, const char *fmt_col, const char *what, const char *value) {
    if (!rd->err[0]) snprintf(rd->err, sizeof rd->err, "%s:%d: column '%s': %s '%.60s'", rd->path, rd->line, fmt_col, what, value);
}

static void on_field(void *data, size_t len, void *ctx) {
    Reader *rd = ctx;
    char buf[4200];
    if (len >= sizeof buf) len = sizeof buf - 1;
    memcpy(buf, data ? data : "", data ? len : 0);
    buf[data ? len : 0] = '\0';
    int f = rd->field++;
    if (rd->line == 1) { // header
        if (f >= 128) return;
        rd->n_head = f + 1;
        rd->head_col[f] = -1;
        for (size_t c = 0; c < N_COLUMNS; c++)
            if (!strcmp(columns[c].name, buf)) rd->head_col[f] = (int)c;
        for (size_t k = 0; k < 5; k++)
            if (!strcmp(key_columns[k], buf)) rd->have_key |= 1 << k;
        return;
    }
    if (f >= rd->n_head || rd->head_col[f] < 0) return;
    const Column *c = &columns[rd->head_col[f]];
    char *p = (char *)&rd->row + c->off, *end;
    if (c->type == C_STR) { snprintf(p, c->size, "%s", buf); return; }
    if (!buf[0]) return; // missing
    errno = 0;
    if (c->type == C_DBL) {
        double v = strtod(buf, &end);
        if (errno == ERANGE || *end) reader_fail(rd, c->name, "bad number", buf);
        *(double *)p = v;
    } else {
        long long v = strtoll(buf, &end, 10);
        if (errno || *end || v < 0 || (c->type == C_INT && v > 0x7fffffff)) reader_fail(rd, c->name, "bad integer", buf);
        if (c->type == C_INT) *(int *)p = (int)v;
        else *(int64_t *)p = (int64_t)v;
    }
}

static void on_record(int term, void *ctx) {
    (void)term;
    Reader *rd = ctx;
    if (rd->line == 1) {
        for (size_t k = 0; k < 5; k++)
            if (!(rd->have_key & (1 << k)) && !rd->err[0])
                snprintf(rd->err, sizeof rd->err, "%s:1: not a results CSV: column '%s' missing", rd->path, key_columns[k]);
    } else if (rd->field != rd->n_head && !rd->err[0]) {
        snprintf(rd->err, sizeof rd->err, "%s:%d: %d fields, the header has %d", rd->path, rd->line, rd->field, rd->n_head);
    } else if (!rd->err[0]) {
        if (rd->row.prompt_len < 0 || rd->row.completion_len < 0 || rd->row.num_completions < 0 || rd->row.batch_size < 0 || !rd->row.model[0])
            snprintf(rd->err, sizeof rd->err, "%s:%d: a key field (model, lengths, counts) is empty", rd->path, rd->line);
        if (rd->n == rd->cap) {
            size_t cap = rd->cap ? 2 * rd->cap : 64;
            ResultRow *r = realloc(rd->rows, cap * sizeof *r);
            if (!r) { snprintf(rd->err, sizeof rd->err, "%s: out of memory", rd->path); return; }
            rd->rows = r;
            rd->cap = cap;
        }
        rd->rows[rd->n++] = rd->row;
    }
    rd->line++;
    rd->field = 0;
    results_row_init(&rd->row);
}

int results_read(const char *path, ResultRow **rows, size_t *n, char *err, size_t errlen) {
    *rows = NULL;
    *n = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return -1; }
    Reader *rd = calloc(1, sizeof *rd);
    struct csv_parser p;
    if (!rd || csv_init(&p, CSV_APPEND_NULL | CSV_STRICT | CSV_STRICT_FINI)) {
        fclose(fp);
        free(rd);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    rd->path = path;
    rd->line = 1;
    results_row_init(&rd->row);
    char buf[65536];
    size_t got;
    int rc = 0;
    while (!rc && (got = fread(buf, 1, sizeof buf, fp)) > 0) {
        if (csv_parse(&p, buf, got, on_field, on_record, rd) != got) {
            snprintf(err, errlen, "%s:%d: %s", path, rd->line, csv_strerror(csv_error(&p)));
            rc = -1;
        }
        if (!rc && rd->err[0]) { snprintf(err, errlen, "%s", rd->err); rc = -1; }
    }
    if (!rc && csv_fini(&p, on_field, on_record, rd)) { snprintf(err, errlen, "%s:%d: %s", path, rd->line, csv_strerror(csv_error(&p))); rc = -1; }
    if (!rc && rd->err[0]) { snprintf(err, errlen, "%s", rd->err); rc = -1; }
    if (!rc && rd->line == 1) { snprintf(err, errlen, "%s: empty file", path); rc = -1; }
    csv_free(&p);
    fclose(fp);
    if (rc) free(rd->rows);
    else { *rows = rd->rows; *n = rd->n; }
    free(rd);
    return rc;
}

// Model names compare without case and without an "-instruct" suffix (the reference names the
// instruct checkpoint; weights do not change timing).
static void model_key(const char *model, char *out, size_t len) {
    snprintf(out, len, "%s", model);
    for (char *c = out; *c; c++) *c = (char)tolower((unsigned char)*c);
    size_t n = strlen(out);
    if (n > 9 && !strcmp(out + n - 9, "-instruct")) out[n - 9] = '\0';
}

int results_same_cell(const ResultRow *a, const ResultRow *b) {
    char ka[64], kb[64];
    model_key(a->model, ka, sizeof ka);
    model_key(b->model, kb, sizeof kb);
    if (strcmp(ka, kb) || a->prompt_len != b->prompt_len || a->completion_len != b->completion_len ||
        a->num_completions != b->num_completions || a->batch_size != b->batch_size)
        return 0;
    if (a->prompt_lens[0] && b->prompt_lens[0] && strcmp(a->prompt_lens, b->prompt_lens)) return 0;
    if (a->completion_lens[0] && b->completion_lens[0] && strcmp(a->completion_lens, b->completion_lens)) return 0;
    return 1;
}
