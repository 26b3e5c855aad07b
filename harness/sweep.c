// sweep.c: cell enumeration and selection (see sweep.h).
#include "sweep.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"

static int cell_alloc(Cell *c, int index, int prompts, int k) {
    memset(c, 0, sizeof *c);
    c->index = index;
    c->prompts = prompts;
    c->k = k;
    c->prompt_lens = malloc((size_t)prompts * sizeof *c->prompt_lens);
    c->comp_lens = malloc((size_t)prompts * (size_t)k * sizeof *c->comp_lens);
    return (c->prompt_lens && c->comp_lens) ? 0 : -1;
}

static void cell_fill_uniform(Cell *c, int p, int n) {
    c->prompt_len = p;
    c->completion_len = n;
    for (int b = 0; b < c->prompts; b++) c->prompt_lens[b] = p;
    for (int j = 0; j < c->prompts * c->k; j++) c->comp_lens[j] = n;
}

static void cell_fill_random(Cell *c, uint64_t seed, int lo, int hi) {
    Rng r;
    rng_seed(&r, seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(c->index + 1)));
    double sp = 0, sc = 0;
    for (int b = 0; b < c->prompts; b++) sp += c->prompt_lens[b] = (int32_t)rng_range(&r, lo, hi);
    for (int j = 0; j < c->prompts * c->k; j++) sc += c->comp_lens[j] = (int32_t)rng_range(&r, lo, hi);
    c->random = 1;
    c->prompt_len = (int)(sp / c->prompts + 0.5);
    c->completion_len = (int)(sc / (c->prompts * c->k) + 0.5);
}

static int list_alloc(CellList *out, int n, char *err, size_t errlen) {
    out->n = 0;
    out->cells = calloc((size_t)n, sizeof *out->cells);
    if (!out->cells) { snprintf(err, errlen, "out of memory for %d cells", n); return -1; }
    return 0;
}

int sweep_cells(const SweepConfig *s, CellList *out, char *err, size_t errlen) {
    int n = s->kind == SWEEP_GRID ? s->n_prompt_lens * s->n_completion_lens : s->cells;
    if (list_alloc(out, n, err, errlen)) return -1;
    for (int i = 0; i < n; i++) {
        Cell *c = &out->cells[out->n++];
        if (cell_alloc(c, i, s->prompts, s->completions)) { cells_free(out); snprintf(err, errlen, "out of memory"); return -1; }
        if (s->kind == SWEEP_GRID)
            cell_fill_uniform(c, s->prompt_lens[i / s->n_completion_lens], s->completion_lens[i % s->n_completion_lens]);
        else
            cell_fill_random(c, s->seed, s->min_len, s->max_len);
    }
    return 0;
}

int sweep_cells_parse(const char *spec, int prompts, int k, CellList *out, char *err, size_t errlen) {
    int n = 1;
    for (const char *c = spec; *c; c++) n += *c == ',';
    if (list_alloc(out, n, err, errlen)) return -1;
    const char *p = spec;
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long a = strtol(p, &end, 10), b = 0;
        int ok = !errno && end != p && *end == 'x' && a > 0 && a <= (1L << 24);
        if (ok) {
            const char *q = end + 1;
            b = strtol(q, &end, 10);
            ok = !errno && end != q && (*end == ',' || !*end) && b > 0 && b <= (1L << 24);
        }
        if (!ok) {
            snprintf(err, errlen, "--cells: bad cell '%.*s' (want PROMPTxCOMPLETION, e.g. 512x512,2048x128)",
                     (int)strcspn(p, ","), p);
            cells_free(out);
            return -1;
        }
        Cell *c = &out->cells[out->n++];
        if (cell_alloc(c, i, prompts, k)) { cells_free(out); snprintf(err, errlen, "out of memory"); return -1; }
        cell_fill_uniform(c, (int)a, (int)b);
        p = *end ? end + 1 : end;
    }
    return 0;
}

void cells_free(CellList *l) {
    for (int i = 0; i < l->n; i++) {
        free(l->cells[i].prompt_lens);
        free(l->cells[i].comp_lens);
    }
    free(l->cells);
    l->cells = NULL;
    l->n = 0;
}

int shard_parse(const char *s, int *i, int *n) {
    char *end;
    errno = 0;
    long a = strtol(s, &end, 10);
    if (errno || end == s || *end != '/') return -1;
    const char *q = end + 1;
    long b = strtol(q, &end, 10);
    if (errno || end == q || *end || b < 1 || b > 1 << 20 || a < 0 || a >= b) return -1;
    *i = (int)a;
    *n = (int)b;
    return 0;
}

int cell_in_shard(const Cell *c, int shard_i, int shard_n) {
    return shard_n <= 1 || c->index % shard_n == shard_i;
}

void cell_lens_text(const Cell *c, char *prompts, size_t n1, char *comps, size_t n2) {
    prompts[0] = comps[0] = '\0';
    if (!c->random) return;
    size_t o = 0;
    for (int b = 0; b < c->prompts && o < n1; b++) o += (size_t)snprintf(prompts + o, n1 - o, "%s%d", b ? " " : "", c->prompt_lens[b]);
    o = 0;
    for (int j = 0; j < c->prompts * c->k && o < n2; j++) o += (size_t)snprintf(comps + o, n2 - o, "%s%d", j ? " " : "", c->comp_lens[j]);
}

int cell_done(const Cell *c, const char *model, const ResultRow *rows, size_t n) {
    ResultRow *probe = malloc(sizeof *probe);
    if (!probe) return 0;
    results_row_init(probe);
    snprintf(probe->model, sizeof probe->model, "%s", model);
    probe->prompt_len = c->prompt_len;
    probe->completion_len = c->completion_len;
    probe->num_completions = c->k;
    probe->batch_size = c->prompts;
    cell_lens_text(c, probe->prompt_lens, sizeof probe->prompt_lens, probe->completion_lens, sizeof probe->completion_lens);
    int done = 0;
    for (size_t i = 0; i < n && !done; i++) done = results_same_cell(probe, &rows[i]);
    free(probe);
    return done;
}
