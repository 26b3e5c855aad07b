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

#include "quote.h"

typedef enum ColType { C_STR, C_DSTR, C_INT, C_I64, C_DBL } ColType; // C_DSTR: malloc'd char *
typedef struct Column { const char *name; ColType type; size_t off, size; } Column;

#define COL(n, t, f) { n, t, offsetof(ResultRow, f), sizeof(((ResultRow *)0)->f) }
#define STRATEGY_COLS(p, i) \
    COL(p "_status", C_STR, s[i].status), COL(p "_loss", C_DBL, s[i].loss), \
    COL(p "_min_ms", C_DBL, s[i].min_ms), COL(p "_iqr_ms", C_DBL, s[i].iqr_ms), \
    COL(p "_reps", C_INT, s[i].reps), COL(p "_model_tflop", C_DBL, s[i].model_tflop), \
    COL(p "_tflops", C_DBL, s[i].tflops), COL(p "_roofline_eff", C_DBL, s[i].roofline_eff), \
    COL(p "_driver_gb", C_DBL, s[i].driver_gb), \
    COL(p "_predicted_gb", C_DBL, s[i].predicted_gb), COL(p "_gb_accum", C_DBL, s[i].gb_accum), \
    COL(p "_sm_mhz_min", C_DBL, s[i].sm_mhz_min), \
    COL(p "_sm_mhz_max", C_DBL, s[i].sm_mhz_max), COL(p "_clocks", C_STR, s[i].clocks), \
    COL(p "_stopped_at_max_time", C_STR, s[i].stopped_at_max_time), COL(p "_error", C_STR, s[i].error)
// the stopping rule's outcome per strategy (harness/measure.h)
#define MEASURE_COLS(p, i) \
    COL(p "_stop", C_STR, s[i].stop), COL(p "_noise", C_DBL, s[i].noise), COL(p "_warmup_ms", C_DBL, s[i].warmup_ms)

#define RECOMPUTE_COLS(p, i) \
    COL(p "_recompute", C_STR, s[i].recompute), COL(p "_hw_tflop", C_DBL, s[i].hw_tflop), \
    COL(p "_hw_tflops", C_DBL, s[i].hw_tflops)

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
    // tree sharing (DESIGN.md section 7), after the three-strategy columns so older files still read
    COL("tree_ms", C_DBL, s[3].ms), COL("tree_gb", C_DBL, s[3].gb), COL("tree_tokens", C_I64, s[3].tokens),
    STRATEGY_COLS("tree", 3),
    COL("speedup_pad_tree", C_DBL, speedup_pad_tree), COL("speedup_prefix_tree", C_DBL, speedup_prefix_tree),
    COL("ideal_speedup_pad_tree", C_DBL, ideal_speedup_pad_tree),
    COL("ideal_speedup_prefix_tree", C_DBL, ideal_speedup_prefix_tree),
    COL("efficiency_tree", C_DBL, efficiency_tree), COL("forest", C_DSTR, forest),
    MEASURE_COLS("padded", 0), MEASURE_COLS("packed", 1), MEASURE_COLS("prefix", 2), MEASURE_COLS("tree", 3),
    COL("noise_target", C_DBL, noise_target), COL("measure_rule", C_STR, measure_rule),
    COL("loss_check", C_STR, loss_check), COL("loss_max_rel_diff", C_DBL, loss_max_rel_diff),
    COL("attention", C_STR, attention), COL("prefix_attention", C_STR, prefix_attention),
    COL("gemm_select", C_STR, gemm_select), COL("device", C_STR, device), COL("gpu", C_STR, gpu),
    COL("versions", C_STR, versions), COL("git_commit", C_STR, git_commit), COL("command", C_DSTR, command),
    COL("seed", C_I64, seed), COL("sweep", C_STR, sweep), COL("cell", C_INT, cell),
    COL("prompt_lens", C_DSTR, prompt_lens), COL("completion_lens", C_DSTR, completion_lens),
    COL("time", C_STR, time),
    // the prefix layout's per-group choice (strategies/prefix_share.h), last so older files still read
    COL("prefix_share", C_STR, prefix_share), COL("prefix_shared_groups", C_STR, prefix_shared_groups),
    COL("ideal_speedup_pad_prefix_run", C_DBL, ideal_speedup_pad_prefix_run),
    // the recompute policy (issue 11), last so that older files still read
    COL("recompute", C_STR, recompute), COL("memory_budget_gb", C_DBL, memory_budget_gb),
    RECOMPUTE_COLS("padded", 0), RECOMPUTE_COLS("packed", 1), RECOMPUTE_COLS("prefix", 2), RECOMPUTE_COLS("tree", 3),
    // which strategy's warm-up opened the process (measure.h WarmupAuto), last so older files still read
    COL("warmup_first", C_STR, warmup_first),
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

void results_row_free(ResultRow *r) {
    for (size_t c = 0; c < N_COLUMNS; c++)
        if (columns[c].type == C_DSTR) {
            char **p = (char **)((char *)r + columns[c].off);
            free(*p);
            *p = NULL;
        }
}

void results_rows_free(ResultRow *rows, size_t n) {
    for (size_t i = 0; rows && i < n; i++) results_row_free(&rows[i]);
    free(rows);
}

static double ratio(double a, double b) { return (a > 0 && b > 0) ? a / b : NAN; }

void results_row_derive(ResultRow *r, const double model_flop[STRATEGY_COUNT], double prefix_run_flop) {
    r->speedup_pad_pack = ratio(r->s[STRATEGY_PADDED].ms, r->s[STRATEGY_PACKED].ms);
    r->speedup_pack_prefix = ratio(r->s[STRATEGY_PACKED].ms, r->s[STRATEGY_PREFIX].ms);
    r->speedup_pad_prefix = ratio(r->s[STRATEGY_PADDED].ms, r->s[STRATEGY_PREFIX].ms);
    r->ideal_speedup_pad_prefix = ratio(model_flop[STRATEGY_PADDED], model_flop[STRATEGY_PREFIX]);
    r->ideal_speedup_pad_prefix_run = ratio(model_flop[STRATEGY_PADDED], prefix_run_flop);
    r->efficiency = ratio(r->speedup_pad_prefix, r->ideal_speedup_pad_prefix);
    r->speedup_pad_tree = ratio(r->s[STRATEGY_PADDED].ms, r->s[STRATEGY_TREE].ms);
    r->speedup_prefix_tree = ratio(r->s[STRATEGY_PREFIX].ms, r->s[STRATEGY_TREE].ms);
    r->ideal_speedup_pad_tree = ratio(model_flop[STRATEGY_PADDED], model_flop[STRATEGY_TREE]);
    r->ideal_speedup_prefix_tree = ratio(model_flop[STRATEGY_PREFIX], model_flop[STRATEGY_TREE]);
    r->efficiency_tree = ratio(r->speedup_pad_tree, r->ideal_speedup_pad_tree);
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

// A field as is, or quoted by libcsv when it holds a comma, quote or edge space. Control
// bytes are written escaped (\n, \xNN), so that a row is one physical line: --resume finds a
// torn row as the text after the last newline.
static int write_field(FILE *fp, const char *s) {
    size_t n = strlen(s);
    int ctrl = 0;
    for (size_t i = 0; i < n; i++) ctrl |= (unsigned char)s[i] < 0x20 || s[i] == 0x7f;
    char *esc = NULL;
    if (ctrl) {
        esc = malloc(4 * n + 8); // pb_escape's room: 4 bytes per character, and its margin
        if (!esc) return -1;
        pb_escape(s, n, esc, 4 * n + 8);
        s = esc;
        n = strlen(s);
    }
    int plain = strcspn(s, ",\"") == n && !(n && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1])));
    int rc = plain ? (fputs(s, fp) < 0 ? -1 : 0) : csv_fwrite(fp, s, n);
    free(esc);
    return rc;
}

// The text of one field: numbers and fixed strings in buf, malloc'd strings as they are.
static const char *field_text(const ResultRow *r, const Column *c, char *buf, size_t len) {
    const char *p = (const char *)r + c->off;
    buf[0] = '\0';
    switch (c->type) {
    case C_STR: return p;
    case C_DSTR: return *(char *const *)p ? *(char *const *)p : "";
    case C_INT: if (*(const int *)p >= 0) snprintf(buf, len, "%d", *(const int *)p); break;
    case C_I64: if (*(const int64_t *)p >= 0) snprintf(buf, len, "%lld", (long long)*(const int64_t *)p); break;
    case C_DBL: if (!isnan(*(const double *)p)) snprintf(buf, len, "%.10g", *(const double *)p); break;
    }
    return buf;
}

int results_format_row(const ResultRow *r, char **line, size_t *len) {
    *line = NULL;
    *len = 0;
    FILE *mem = open_memstream(line, len);
    if (!mem) return -1;
    char buf[64];
    int rc = 0;
    for (size_t c = 0; c < N_COLUMNS && !rc; c++) {
        if (c && fputc(',', mem) == EOF) rc = -1;
        if (!rc) rc = write_field(mem, field_text(r, &columns[c], buf, sizeof buf));
    }
    if (!rc && fputc('\n', mem) == EOF) rc = -1;
    if (fclose(mem)) rc = -1;
    if (rc) { free(*line); *line = NULL; *len = 0; }
    return rc;
}

int results_write_row(FILE *fp, const ResultRow *r) {
    // Assemble the whole line in memory first so a row is written whole or not at all.
    char *line;
    size_t line_len;
    if (results_format_row(r, &line, &line_len)) return -1;
    int rc = (fwrite(line, 1, line_len, fp) != line_len || fflush(fp)) ? -1 : 0;
    free(line);
    return rc;
}

/* ---- reader ------------------------------------------------------------------------------ */

enum { MAX_HEAD = 256 }; // header fields read (ours has about 120)

typedef struct Reader {
    const char *path;         // as shown in messages (escaped)
    int line;                 // current record's line (1-based)
    int n_head, head_col[MAX_HEAD];// header position -> column index (-1 = ignored)
    int have_key;             // bit mask of key columns seen
    ResultRow row;
    int field;                // index of the next field in the record
    ResultRow *rows;
    size_t n, cap;
    int bad_line;
    char err[600];
} Reader;

static const char *const key_columns[] = { "model", "prompt_len", "completion_len", "num_completions", "batch_size" };

static void reader_fail(Reader *rd, const char *col, const char *what, const char *value) {
    if (rd->err[0]) return;
    char q[PB_QUOTE_BUF];
    snprintf(rd->err, sizeof rd->err, "%s:%d: column '%s': %s %s", rd->path, rd->line, col, what,
             pb_quote(value, PB_QUOTE_VALUE, q, sizeof q));
    rd->bad_line = rd->line;
}

static void on_field(void *data, size_t len, void *ctx) {
    Reader *rd = ctx;
    const char *text = data ? data : "";
    if (!data) len = 0;
    int f = rd->field++;
    if (rd->line == 1) { // header
        if (f >= MAX_HEAD) return;
        rd->n_head = f + 1;
        rd->head_col[f] = -1;
        for (size_t c = 0; c < N_COLUMNS; c++)
            if (strlen(columns[c].name) == len && !memcmp(columns[c].name, text, len)) rd->head_col[f] = (int)c;
        for (size_t k = 0; k < 5; k++)
            if (strlen(key_columns[k]) == len && !memcmp(key_columns[k], text, len)) rd->have_key |= 1 << k;
        return;
    }
    if (f >= rd->n_head || rd->head_col[f] < 0) return;
    const Column *c = &columns[rd->head_col[f]];
    char *p = (char *)&rd->row + c->off, *end, num[64];
    for (size_t i = 0; i < len; i++) // the writer escapes control bytes: a raw one is not ours
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) {
            snprintf(num, sizeof num, "%.*s", (int)(len < 40 ? len : 40), text);
            reader_fail(rd, c->name, "control character in", num);
            return;
        }
    if (c->type == C_DSTR) {
        char **dst = (char **)p;
        free(*dst);
        *dst = malloc(len + 1);
        if (!*dst) { reader_fail(rd, c->name, "out of memory for", ""); return; }
        memcpy(*dst, text, len);
        (*dst)[len] = '\0';
        return;
    }
    if (c->type == C_STR) {
        if (len >= c->size) {
            char what[64];
            snprintf(what, sizeof what, "value longer than %zu bytes:", c->size - 1);
            snprintf(num, sizeof num, "%.*s", (int)(len < 60 ? len : 60), text);
            reader_fail(rd, c->name, what, num);
            return;
        }
        memcpy(p, text, len);
        p[len] = '\0';
        return;
    }
    if (!len) return; // missing
    snprintf(num, sizeof num, "%.*s", (int)(len < sizeof num - 1 ? len : sizeof num - 1), text);
    if (len >= sizeof num - 1) { reader_fail(rd, c->name, "bad number", num); return; }
    errno = 0;
    if (c->type == C_DBL) {
        double v = strtod(num, &end);
        if (errno == ERANGE || *end || end == num) reader_fail(rd, c->name, "bad number", num);
        else if (isnan(v)) reader_fail(rd, c->name, "bad number (a missing value is an empty field)", num);
        *(double *)p = v;
    } else {
        long long v = strtoll(num, &end, 10);
        if (errno || *end || end == num || v < 0 || (c->type == C_INT && v > 0x7fffffff)) reader_fail(rd, c->name, "bad integer", num);
        if (c->type == C_INT) *(int *)p = (int)v;
        else *(int64_t *)p = (int64_t)v;
    }
}

static void on_record(int term, void *ctx) {
    (void)term;
    Reader *rd = ctx;
    if (rd->line == 1) {
        for (size_t k = 0; k < 5; k++)
            if (!(rd->have_key & (1 << k)) && !rd->err[0]) {
                snprintf(rd->err, sizeof rd->err, "%s:1: not a results CSV: column '%s' missing", rd->path, key_columns[k]);
                rd->bad_line = 1;
            }
    } else if (rd->field != rd->n_head && !rd->err[0]) {
        snprintf(rd->err, sizeof rd->err, "%s:%d: %d fields, the header has %d", rd->path, rd->line, rd->field, rd->n_head);
        rd->bad_line = rd->line;
    } else if (!rd->err[0]) {
        if (rd->row.prompt_len < 0 || rd->row.completion_len < 0 || rd->row.num_completions < 0 || rd->row.batch_size < 0 || !rd->row.model[0]) {
            snprintf(rd->err, sizeof rd->err, "%s:%d: a key field (model, lengths, counts) is empty", rd->path, rd->line);
            rd->bad_line = rd->line;
        }
        if (rd->n == rd->cap) {
            size_t cap = rd->cap ? 2 * rd->cap : 64;
            ResultRow *r = realloc(rd->rows, cap * sizeof *r);
            if (!r) { snprintf(rd->err, sizeof rd->err, "%s: out of memory", rd->path); return; }
            rd->rows = r;
            rd->cap = cap;
        }
        rd->row.line = rd->line;
        rd->rows[rd->n++] = rd->row; // the row's strings move with it
        results_row_init(&rd->row);
    }
    rd->line++;
    rd->field = 0;
    results_row_free(&rd->row);
    results_row_init(&rd->row);
}

int results_read_stream(FILE *fp, const char *shown, ResultRow **rows, size_t *n, int *bad_line, char *err,
                        size_t errlen) {
    *rows = NULL;
    *n = 0;
    if (bad_line) *bad_line = 0;
    Reader *rd = calloc(1, sizeof *rd);
    struct csv_parser p;
    if (!rd || csv_init(&p, CSV_APPEND_NULL | CSV_STRICT | CSV_STRICT_FINI)) {
        free(rd);
        snprintf(err, errlen, "%s: out of memory", shown);
        return -1;
    }
    rd->path = shown;
    rd->line = 1;
    results_row_init(&rd->row);
    char buf[65536];
    size_t got;
    int rc = 0;
    while (!rc && (got = fread(buf, 1, sizeof buf, fp)) > 0) {
        if (csv_parse(&p, buf, got, on_field, on_record, rd) != got) {
            snprintf(err, errlen, "%s:%d: %s", shown, rd->line, csv_strerror(csv_error(&p)));
            rd->bad_line = rd->line;
            rc = -1;
        }
        if (!rc && rd->err[0]) { snprintf(err, errlen, "%s", rd->err); rc = -1; }
    }
    if (!rc && ferror(fp)) { snprintf(err, errlen, "%s: read error: %s", shown, strerror(errno)); rc = -1; }
    if (!rc && csv_fini(&p, on_field, on_record, rd)) {
        snprintf(err, errlen, "%s:%d: %s", shown, rd->line, csv_strerror(csv_error(&p)));
        rd->bad_line = rd->line;
        rc = -1;
    }
    if (!rc && rd->err[0]) { snprintf(err, errlen, "%s", rd->err); rc = -1; }
    if (!rc && rd->line == 1) { snprintf(err, errlen, "%s: empty file", shown); rc = -1; }
    csv_free(&p);
    results_row_free(&rd->row);
    if (bad_line) *bad_line = rc ? rd->bad_line : 0;
    if (rc) results_rows_free(rd->rows, rd->n);
    else { *rows = rd->rows; *n = rd->n; }
    free(rd);
    return rc;
}

int results_read(const char *path, ResultRow **rows, size_t *n, char *err, size_t errlen) {
    char shown[PB_QUOTE_BUF];
    pb_escape(path, PB_QUOTE_PATH, shown, sizeof shown);
    *rows = NULL;
    *n = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) { snprintf(err, errlen, "%s: cannot open: %s", shown, strerror(errno)); return -1; }
    int rc = results_read_stream(fp, shown, rows, n, NULL, err, errlen);
    fclose(fp);
    return rc;
}

// The figures compare works with: every double column but the losses (a loss may be inf in a
// row whose loss_check says nonfinite, and compare does not use it).
static int is_figure(const Column *c) {
    return c->type == C_DBL && !strstr(c->name, "_loss") && strcmp(c->name, "loss_max_rel_diff");
}

int results_check_figures(const char *shown, const ResultRow *rows, size_t n, char *err, size_t errlen) {
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < N_COLUMNS; c++) {
            if (!is_figure(&columns[c])) continue;
            double v = *(const double *)((const char *)&rows[i] + columns[c].off);
            if (isnan(v)) continue; // missing: the reader refuses a written "nan"
            if (isfinite(v) && v >= 0) continue;
            snprintf(err, errlen, "%s:%d: column '%s': %g is not a finite figure >= 0", shown, rows[i].line,
                     columns[c].name, v);
            return -1;
        }
    return 0;
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
    if (a->prompt_lens && a->prompt_lens[0] && b->prompt_lens && b->prompt_lens[0] && strcmp(a->prompt_lens, b->prompt_lens))
        return 0;
    if (a->completion_lens && a->completion_lens[0] && b->completion_lens && b->completion_lens[0] &&
        strcmp(a->completion_lens, b->completion_lens))
        return 0;
    const int fa = a->forest && a->forest[0], fb = b->forest && b->forest[0]; // a forest cell is its forest
    if ((fa || fb) && (!fa || !fb || strcmp(a->forest, b->forest))) return 0;
    return 1;
}

int results_warmup_opened(const ResultRow *r, Strategy s) { return !strcmp(r->warmup_first, strategy_name(s)); }
