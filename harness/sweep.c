// sweep.c: cells made one at a time, and their selection (see sweep.h).
#include "sweep.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "quote.h"

static int cell_alloc(Cell *c, int index, int prompts, int k) {
    memset(c, 0, sizeof *c);
    c->index = index;
    c->prompts = prompts;
    c->k = k;
    c->prompt_lens = malloc((size_t)prompts * sizeof *c->prompt_lens);
    c->comp_lens = malloc((size_t)prompts * (size_t)k * sizeof *c->comp_lens);
    if (c->prompt_lens && c->comp_lens) return 0;
    cell_free(c);
    return -1;
}

void cell_free(Cell *c) {
    free(c->prompt_lens);
    free(c->comp_lens);
    free(c->seg_len);
    free(c->seg_parent);
    free(c->seg_loss);
    c->prompt_lens = c->comp_lens = c->seg_len = c->seg_parent = NULL;
    c->seg_loss = NULL;
    c->n_segs = 0;
}

int cell_set_forest(Cell *c, int n, const int32_t *len, const int32_t *parent, const uint8_t *loss, char *err,
                    size_t errlen) {
    if (forest_check(n, len, parent, err, errlen)) return -1;
    c->seg_len = malloc((size_t)n * sizeof *c->seg_len);
    c->seg_parent = malloc((size_t)n * sizeof *c->seg_parent);
    c->seg_loss = malloc((size_t)n);
    uint8_t *has_child = calloc((size_t)n, 1);
    if (!c->seg_len || !c->seg_parent || !c->seg_loss || !has_child) {
        free(has_child);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->n_segs = n;
    memcpy(c->seg_len, len, (size_t)n * sizeof *len);
    memcpy(c->seg_parent, parent, (size_t)n * sizeof *parent);
    for (int i = 0; i < n; i++) c->seg_loss[i] = loss[i] ? 1 : 0;
    for (int i = 0; i < n; i++) if (parent[i] >= 0) has_child[parent[i]] = 1;
    int roots = 0, paths = 0;
    double shared = 0, leaf = 0;
    for (int i = 0; i < n; i++) {
        roots += parent[i] < 0;
        if (has_child[i]) continue;
        paths++;
        leaf += len[i];
        for (int a = parent[i]; a >= 0; a = parent[a]) shared += len[a];
    }
    free(has_child);
    c->prompts = roots;
    c->k = (int)((double)paths / roots + 0.5);
    c->prompt_len = (int)(shared / paths + 0.5);
    c->completion_len = (int)(leaf / paths + 0.5);
    return 0;
}

int cell_batch(const Cell *c, int vocab, uint64_t seed, Forest *f, char *why, size_t n) {
    snprintf(why, n, "out of memory or bad lengths");
    if (c->n_segs > 0) return forest_make(f, c->n_segs, c->seg_len, c->seg_parent, c->seg_loss, vocab, seed, why, n);
    GroupBatch g;
    if (groups_make(&g, c->prompts, c->k, c->prompt_lens, c->comp_lens, vocab, seed)) return -1;
    int rc = forest_from_groups(f, &g);
    groups_free(&g);
    return rc;
}

int cell_estimate(const Cell *c, Strategy s, LayoutCounts *out) {
    if (c->n_segs > 0) return layout_estimate_forest(s, c->n_segs, c->seg_len, c->seg_parent, c->seg_loss, out);
    return layout_estimate(s, c->prompts, c->k, c->prompt_lens, c->comp_lens, out);
}

int cell_forest_text(const Cell *c, char **out) {
    *out = NULL;
    if (!c->n_segs) return 0;
    char *s = malloc((size_t)c->n_segs * 36 + 1), *o = s; // "%d:%d:%d " is 35 bytes at most
    if (!s) return -1;
    *o = '\0';
    for (int i = 0; i < c->n_segs; i++)
        o += sprintf(o, "%s%d:%d:%d", i ? " " : "", c->seg_len[i], c->seg_parent[i], c->seg_loss[i]);
    *out = s;
    return 0;
}

// Cell i of a tree sweep: level d's lengths index (i / stride_d) % n_d, last level fastest.
static int tree_cell(const SweepConfig *s, int i, Cell *c) {
    char err[160];
    int lens[PB_MAX_LEVELS], stride = 1;
    for (int d = s->n_levels; d-- > 0;) {
        lens[d] = s->level_lens[d][(i / stride) % s->n_level_lens[d]];
        stride *= s->n_level_lens[d];
    }
    int n = 0, per_level = 1;
    for (int d = 0; d < s->n_levels; d++) n += per_level *= s->branching[d];
    int32_t *len = malloc((size_t)n * sizeof *len), *parent = malloc((size_t)n * sizeof *parent);
    uint8_t *loss = malloc((size_t)n);
    if (!len || !parent || !loss) { free(len); free(parent); free(loss); return -1; }
    int at = 0, first = 0, count = s->branching[0]; // level d's nodes: [first, first + count)
    for (int j = 0; j < count; j++) { len[at] = lens[0]; parent[at] = -1; loss[at++] = (uint8_t)s->level_loss[0]; }
    for (int d = 1; d < s->n_levels; d++) {
        int next_first = at;
        for (int p = first; p < first + count; p++)
            for (int j = 0; j < s->branching[d]; j++) { len[at] = lens[d]; parent[at] = p; loss[at++] = (uint8_t)s->level_loss[d]; }
        first = next_first;
        count = at - next_first;
    }
    memset(c, 0, sizeof *c);
    c->index = i;
    int rc = cell_set_forest(c, n, len, parent, loss, err, sizeof err);
    free(len); free(parent); free(loss);
    if (rc) cell_free(c);
    return rc;
}

// A copy of a --lengths cell.
static int forest_copy(const Cell *src, Cell *c) {
    char err[160];
    memset(c, 0, sizeof *c);
    c->index = src->index;
    if (cell_set_forest(c, src->n_segs, src->seg_len, src->seg_parent, src->seg_loss, err, sizeof err)) {
        cell_free(c);
        return -1;
    }
    return 0;
}

void cells_from_forests(Cell *cells, int n, CellSource *out) {
    memset(out, 0, sizeof *out);
    out->n = n;
    out->forests = cells;
    out->kind = SWEEP_TREE;
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

int cells_from_sweep(const SweepConfig *s, CellSource *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    out->prompts = s->prompts;
    out->k = s->completions;
    out->kind = s->kind;
    out->seed = s->seed;
    if (s->kind == SWEEP_TREE) {
        out->tree = *s;
        out->n = 1;
        for (int d = 0; d < s->n_levels; d++) out->n *= s->n_level_lens[d];
        return 0;
    }
    if (s->kind == SWEEP_RANDOM) {
        out->n = s->cells;
        out->min_len = s->min_len;
        out->max_len = s->max_len;
        return 0;
    }
    out->n = s->n_prompt_lens * s->n_completion_lens; // each list holds at most PB_MAX_LENS
    out->n_completion_lens = s->n_completion_lens;
    out->plens = malloc((size_t)s->n_prompt_lens * sizeof *out->plens);
    out->clens = malloc((size_t)s->n_completion_lens * sizeof *out->clens);
    if (!out->plens || !out->clens) { cells_source_free(out); snprintf(err, errlen, "out of memory"); return -1; }
    memcpy(out->plens, s->prompt_lens, (size_t)s->n_prompt_lens * sizeof *out->plens);
    memcpy(out->clens, s->completion_lens, (size_t)s->n_completion_lens * sizeof *out->clens);
    return 0;
}

int cells_from_spec(const char *spec, int prompts, int k, CellSource *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    size_t n = 1;
    for (const char *c = spec; *c; c++) n += *c == ',';
    if (n > PB_MAX_CELLS) { snprintf(err, errlen, "--cells: %zu cells, at most %d", n, PB_MAX_CELLS); return -1; }
    out->prompts = prompts;
    out->k = k;
    out->kind = SWEEP_GRID;
    out->explicit_cells = 1;
    out->n_completion_lens = 1;
    out->plens = malloc(n * sizeof *out->plens);
    out->clens = malloc(n * sizeof *out->clens);
    if (!out->plens || !out->clens) { cells_source_free(out); snprintf(err, errlen, "out of memory"); return -1; }
    const char *p = spec;
    for (size_t i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long a = strtol(p, &end, 10), b = 0;
        int ok = !errno && end != p && *p != ' ' && *p != '+' && *p != '-' && *end == 'x' && a > 0 && a <= PB_MAX_LEN;
        if (ok) {
            const char *q = end + 1;
            b = strtol(q, &end, 10);
            ok = !errno && end != q && *q != ' ' && *q != '+' && *q != '-' && (*end == ',' || !*end) && b > 0 &&
                 b <= PB_MAX_LEN;
        }
        if (!ok) {
            char cut[64], q[PB_QUOTE_BUF];
            snprintf(cut, sizeof cut, "%.*s", (int)strcspn(p, ","), p);
            snprintf(err, errlen, "--cells: bad cell %s (want PROMPTxCOMPLETION, lengths 1..%d, e.g. 512x512,2048x128)",
                     pb_quote(cut, PB_QUOTE_VALUE, q, sizeof q), PB_MAX_LEN);
            cells_source_free(out);
            return -1;
        }
        out->plens[i] = (int)a;
        out->clens[i] = (int)b;
        p = *end ? end + 1 : end;
    }
    out->n = (int)n;
    return 0;
}

void cells_source_free(CellSource *src) {
    free(src->plens);
    free(src->clens);
    for (int i = 0; src->forests && i < src->n; i++) cell_free(&src->forests[i]);
    free(src->forests);
    memset(src, 0, sizeof *src);
}

static void cell_lengths(const CellSource *src, int index, int *p, int *c) {
    if (src->kind == SWEEP_RANDOM) { *p = *c = src->max_len; return; }
    *p = src->plens[src->explicit_cells ? index : index / src->n_completion_lens];
    *c = src->clens[src->explicit_cells ? index : index % src->n_completion_lens];
}

// A tree sweep's largest padded layout: every path of its longest lengths (forest_check at read
// bounds a --lengths file's cells). 0, or -1 with err.
static int tree_check_size(const CellSource *src, char *err, size_t errlen) {
    if (src->forests) return 0;
    int64_t paths = 1, longest = 0;
    for (int d = 0; d < src->tree.n_levels; d++) {
        int m = 0;
        for (int i = 0; i < src->tree.n_level_lens[d]; i++) if (src->tree.level_lens[d][i] > m) m = src->tree.level_lens[d][i];
        paths *= src->tree.branching[d]; // at most 2^20 segments (config.c)
        longest += m;
    }
    if (paths * longest <= PB_MAX_SLOTS) return 0;
    snprintf(err, errlen, "the largest tree cell needs %lld token slots in the padded layout (%lld paths of %lld), "
             "above the bound of %lld (slot indices are int32)", (long long)(paths * longest), (long long)paths,
             (long long)longest, (long long)PB_MAX_SLOTS);
    return -1;
}

int cells_check_size(const CellSource *src, int *max_p, int *max_c, char *err, size_t errlen) {
    if (src->kind == SWEEP_TREE) {
        if (max_p) *max_p = 0;
        if (max_c) *max_c = 0;
        return tree_check_size(src, err, errlen);
    }
    int64_t worst = -1;
    int wi = 0, wp = 0, wc = 0;
    for (int i = 0; i < src->n; i++) {
        int p, c;
        cell_lengths(src, i, &p, &c);
        int64_t slots = (int64_t)src->prompts * src->k * ((int64_t)p + c); // <= 2^16 * 64 * 2^25
        if (slots > worst) { worst = slots; wi = i; wp = p; wc = c; }
        if (src->kind == SWEEP_RANDOM) break; // every random cell has the same worst case
    }
    if (max_p) *max_p = wp;
    if (max_c) *max_c = wc;
    if (worst <= PB_MAX_SLOTS) return 0;
    snprintf(err, errlen, "cell %d (%s%dx%d, %d prompts x %d completions) needs %lld token slots in the padded layout, "
             "above the bound of %lld (slot indices are int32)", wi, src->kind == SWEEP_RANDOM ? "up to " : "", wp, wc,
             src->prompts, src->k, (long long)worst, (long long)PB_MAX_SLOTS);
    return -1;
}

int cell_make_uniform(int index, int prompts, int k, int p, int c, Cell *out) {
    if (cell_alloc(out, index, prompts, k)) return -1;
    cell_fill_uniform(out, p, c);
    return 0;
}

int cell_make(const CellSource *src, int index, Cell *out) {
    if (src->forests) return forest_copy(&src->forests[index], out);
    if (src->kind == SWEEP_TREE) return tree_cell(&src->tree, index, out);
    if (cell_alloc(out, index, src->prompts, src->k)) return -1;
    if (src->kind == SWEEP_RANDOM) {
        cell_fill_random(out, src->seed, src->min_len, src->max_len);
    } else {
        int p, c;
        cell_lengths(src, index, &p, &c);
        cell_fill_uniform(out, p, c);
    }
    return 0;
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

// Space-separated values, grown as needed (11 bytes per value at most).
static char *join_lens(const int32_t *v, size_t n) {
    char *s = malloc(n * 12 + 1), *o = s;
    if (!s) return NULL;
    *o = '\0';
    for (size_t i = 0; i < n; i++) o += sprintf(o, "%s%d", i ? " " : "", v[i]);
    return s;
}

int cell_lens_text(const Cell *c, char **prompts, char **comps) {
    *prompts = *comps = NULL;
    if (!c->random) return 0;
    *prompts = join_lens(c->prompt_lens, (size_t)c->prompts);
    *comps = join_lens(c->comp_lens, (size_t)c->prompts * (size_t)c->k);
    if (*prompts && *comps) return 0;
    free(*prompts);
    free(*comps);
    *prompts = *comps = NULL;
    return -1;
}

int cell_row_key(const Cell *c, const char *model, ResultRow *row) {
    snprintf(row->model, sizeof row->model, "%s", model);
    row->prompt_len = c->prompt_len;
    row->completion_len = c->completion_len;
    row->num_completions = c->k;
    row->batch_size = c->prompts;
    free(row->prompt_lens);
    free(row->completion_lens);
    free(row->forest);
    row->forest = NULL;
    return cell_lens_text(c, &row->prompt_lens, &row->completion_lens) || cell_forest_text(c, &row->forest) ? -1 : 0;
}
