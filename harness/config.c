/*
 * config.c: the configs/ file format. A file is read into (key, value, line) entries first
 * (syntax and duplicates are checked there), then every key is checked against the reader's list
 * (a misspelt key is reported as unknown, not as a missing one), then the values are parsed. Every error is one line: FILE:LINE: ...
 */
#include "config.h"
#include "pb_config.h"
#include "hf_config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quote.h"

#define MAX_ENTRIES 64

typedef struct Entry { char key[48]; char value[512]; int line; } Entry;
typedef struct KvFile { const char *path; int n, n_lines; Entry e[MAX_ENTRIES]; } KvFile;

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

// Reads entries from fp; path names it in messages (already escaped by the caller).
static int kv_read(KvFile *f, FILE *fp, const char *path, char *err, size_t errlen) {
    f->path = path;
    f->n = 0;
    char buf[1024], q[PB_QUOTE_BUF];
    int line = 0, rc = 0;
    while (fgets(buf, sizeof buf, fp)) {
        line++;
        if (!strchr(buf, '\n') && !feof(fp)) {
            if (strlen(buf) == sizeof buf - 1) snprintf(err, errlen, "%s:%d: line too long (at most %zu bytes)", path, line, sizeof buf - 2);
            else snprintf(err, errlen, "%s:%d: NUL byte in the line", path, line);
            rc = -1;
            break;
        }
        char *hash = strchr(buf, '#');
        if (hash) *hash = '\0';
        char *s = trim(buf);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (!eq) { snprintf(err, errlen, "%s:%d: expected 'key = value', got %s", path, line, pb_quote(s, PB_QUOTE_VALUE, q, sizeof q)); rc = -1; break; }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        int ok = *key != '\0';
        for (const char *c = key; *c; c++) ok &= (islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_');
        if (!ok || strlen(key) >= sizeof f->e[0].key) { snprintf(err, errlen, "%s:%d: bad key %s", path, line, pb_quote(key, PB_QUOTE_VALUE, q, sizeof q)); rc = -1; break; }
        if (!*value) { snprintf(err, errlen, "%s:%d: key '%s': empty value", path, line, key); rc = -1; break; }
        if (strlen(value) >= sizeof f->e[0].value) { snprintf(err, errlen, "%s:%d: key '%s': value too long (at most %zu bytes)", path, line, key, sizeof f->e[0].value - 1); rc = -1; break; }
        for (const char *c = value; *c && !rc; c++)
            if ((unsigned char)*c < 0x20 && *c != '\t') {
                snprintf(err, errlen, "%s:%d: key '%s': control character in %s", path, line, key, pb_quote(value, PB_QUOTE_VALUE, q, sizeof q));
                rc = -1;
            }
        if (rc) break;
        for (int i = 0; i < f->n; i++)
            if (!strcmp(f->e[i].key, key)) {
                snprintf(err, errlen, "%s:%d: key '%s': duplicate (first on line %d)", path, line, key, f->e[i].line);
                rc = -1;
            }
        if (rc) break;
        if (f->n == MAX_ENTRIES) { snprintf(err, errlen, "%s:%d: too many keys", path, line); rc = -1; break; }
        Entry *e = &f->e[f->n++];
        snprintf(e->key, sizeof e->key, "%s", key);
        snprintf(e->value, sizeof e->value, "%s", value);
        e->line = line;
    }
    if (!rc && ferror(fp)) { snprintf(err, errlen, "%s: read error: %s", path, strerror(errno)); rc = -1; }
    f->n_lines = line;
    return rc;
}

static Entry *kv_get(KvFile *f, const char *key) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->e[i].key, key)) return &f->e[i];
    return NULL;
}

static int kv_missing(const KvFile *f, const char *key, char *err, size_t errlen) {
    snprintf(err, errlen, "%s:%d: key '%s': missing", f->path, f->n_lines, key);
    return -1;
}

static int kv_bad(const KvFile *f, const Entry *e, const char *why, char *err, size_t errlen) {
    char q[PB_QUOTE_BUF];
    snprintf(err, errlen, "%s:%d: key '%s': %s %s", f->path, e->line, e->key, why, pb_quote(e->value, PB_QUOTE_VALUE, q, sizeof q));
    return -1;
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

// Integer key. required: 0 = optional (keeps *out), 1 = required.
static int kv_int(KvFile *f, const char *key, int required, long lo, long hi, int *out, char *err, size_t errlen) {
    Entry *e = kv_get(f, key);
    if (!e) return required ? kv_missing(f, key, err, errlen) : 0;
    long v;
    if (parse_long(e->value, lo, hi, &v)) {
        char why[96];
        snprintf(why, sizeof why, "bad integer (want %ld..%ld)", lo, hi);
        return kv_bad(f, e, why, err, errlen);
    }
    *out = (int)v;
    return 0;
}

// A finite number in 0..hi.
static int kv_double(KvFile *f, const char *key, int required, double hi, double *out, char *err, size_t errlen) {
    Entry *e = kv_get(f, key);
    if (!e) return required ? kv_missing(f, key, err, errlen) : 0;
    char *end;
    errno = 0;
    double v = strtod(e->value, &end);
    if (errno || end == e->value || *end || !isfinite(v) || v < 0 || v > hi) {
        char why[64];
        snprintf(why, sizeof why, "bad number (want 0..%g)", hi);
        return kv_bad(f, e, why, err, errlen);
    }
    *out = v;
    return 0;
}

static int kv_bool_value(KvFile *f, const Entry *e, int *out, char *err, size_t errlen);

static int kv_bool(KvFile *f, const char *key, int *out, char *err, size_t errlen) {
    Entry *e = kv_get(f, key);
    if (!e) return kv_missing(f, key, err, errlen);
    return kv_bool_value(f, e, out, err, errlen);
}

// An optional boolean: keeps *out when absent.
static int kv_bool_opt(KvFile *f, const char *key, int *out, char *err, size_t errlen) {
    Entry *e = kv_get(f, key);
    return e ? kv_bool_value(f, e, out, err, errlen) : 0;
}

static int kv_bool_value(KvFile *f, const Entry *e, int *out, char *err, size_t errlen) {
    const char *v = e->value;
    if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) *out = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) *out = 0;
    else return kv_bad(f, e, "bad boolean (true/false)", err, errlen);
    return 0;
}

// Comma-separated list of integers in [lo, hi] (lengths: 1..2^24).
static int kv_list_in(KvFile *f, const char *key, long lo, long hi, int *n, int *vals, char *err, size_t errlen) {
    Entry *e = kv_get(f, key);
    if (!e) return kv_missing(f, key, err, errlen);
    char buf[sizeof e->value];
    snprintf(buf, sizeof buf, "%s", e->value);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long v;
        if (*n == PB_MAX_LENS) return kv_bad(f, e, "too many lengths in", err, errlen);
        if (parse_long(trim(tok), lo, hi, &v))
            return kv_bad(f, e, lo == 1 && hi == PB_MAX_LEN ? "bad length list (lengths 1..16777216)" : "bad list", err,
                          errlen);
        vals[(*n)++] = (int)v;
    }
    if (*n == 0) return kv_bad(f, e, "empty list", err, errlen);
    return 0;
}

static int kv_list(KvFile *f, const char *key, int *n, int *vals, char *err, size_t errlen) {
    return kv_list_in(f, key, 1, PB_MAX_LEN, n, vals, err, errlen);
}

static int kv_string(KvFile *f, const char *key, char *out, size_t outlen, char *err, size_t errlen) {
    Entry *e = kv_get(f, key);
    if (!e) return 0;
    if (strlen(e->value) >= outlen) return kv_bad(f, e, "too long", err, errlen);
    snprintf(out, outlen, "%s", e->value);
    return 0;
}

// Every key must be in allowed (NULL-terminated); checked before any value, so a misspelt key
// is reported as such rather than as a missing one.
static int kv_check_keys(const KvFile *f, const char *const *allowed, const char *why, char *err, size_t errlen) {
    for (int i = 0; i < f->n; i++) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++) ok = !strcmp(*a, f->e[i].key);
        if (!ok) {
            snprintf(err, errlen, "%s:%d: key '%s': %s", f->path, f->e[i].line, f->e[i].key, why);
            return -1;
        }
    }
    return 0;
}

static const char *const model_keys[] = {
    "name", "vocab", "hidden", "layers", "n_head", "n_kv_head", "head_dim", "mlp", "rms_eps", "rope_theta",
    "tied_embeddings", "arch", "qkv_bias", "qk_norm", "rope_scaling", "rope_scaling_factor",
    "rope_low_freq_factor", "rope_high_freq_factor", "rope_original_max_pos", NULL,
};
static const char *const rope_scaling_keys[] = {
    "rope_scaling_factor", "rope_low_freq_factor", "rope_high_freq_factor", "rope_original_max_pos", NULL,
};
#define SWEEP_COMMON_KEYS "name", "description", "model", "kind", "prompts", "completions", "min_reps", "max_reps", \
                          "min_time", "max_time"
#define SWEEP_TREE_KEYS "branching", "loss", "level0_lens", "level1_lens", "level2_lens", "level3_lens", \
                        "level4_lens", "level5_lens", "level6_lens", "level7_lens"
static const char *const sweep_keys[] = { SWEEP_COMMON_KEYS, "prompt_lens", "completion_lens", "cells", "min_len",
                                          "max_len", "seed", SWEEP_TREE_KEYS, NULL };
static const char *const sweep_tree_keys[] = { SWEEP_COMMON_KEYS, SWEEP_TREE_KEYS, NULL };
static const char *const sweep_grid_keys[] = { SWEEP_COMMON_KEYS, "prompt_lens", "completion_lens", NULL };
static const char *const sweep_random_keys[] = { SWEEP_COMMON_KEYS, "cells", "min_len", "max_len", "seed", NULL };

// The file name without folder and .conf: the default name of a model or sweep.
static void stem_of(const char *path, char *out, size_t outlen) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, outlen, "%s", base);
    size_t n = strlen(out);
    if (n > 5 && !strcmp(out + n - 5, ".conf")) out[n - 5] = '\0';
}

/* The architecture keys, all optional (a file without them is Qwen2, the format's first model):
 * arch (qwen2|llama|mistral|qwen3) sets qkv_bias and qk_norm, which the file may override;
 * rope_scaling = llama3 needs the four rope_* numbers, rope_scaling = none (default) none of them. */
static int model_arch_keys(KvFile *f, ModelConfig *m, char *err, size_t errlen) {
    char arch[16] = "qwen2", scaling[16] = "none";
    int rc = kv_string(f, "arch", arch, sizeof arch, err, errlen);
    if (!rc && model_set_arch(m, arch)) rc = kv_bad(f, kv_get(f, "arch"), "unknown arch (qwen2|llama|mistral|qwen3)", err, errlen);
    if (!rc) rc = kv_bool_opt(f, "qkv_bias", &m->qkv_bias, err, errlen);
    if (!rc) rc = kv_bool_opt(f, "qk_norm", &m->qk_norm, err, errlen);
    if (!rc) rc = kv_string(f, "rope_scaling", scaling, sizeof scaling, err, errlen);
    if (rc) return rc;
    int llama3 = !strcmp(scaling, "llama3");
    if (!llama3 && strcmp(scaling, "none")) return kv_bad(f, kv_get(f, "rope_scaling"), "unknown rope_scaling (none|llama3)", err, errlen);
    double *vals[4] = {&m->rope_scaling.factor, &m->rope_scaling.low_freq_factor, &m->rope_scaling.high_freq_factor,
                       &m->rope_scaling.original_max_pos};
    for (int i = 0; i < 4 && !rc; i++) {
        Entry *e = kv_get(f, rope_scaling_keys[i]);
        if (!llama3 && e) {
            snprintf(err, errlen, "%s:%d: key '%s': needs rope_scaling = llama3", f->path, e->line, e->key);
            return -1;
        }
        if (llama3) rc = kv_double(f, rope_scaling_keys[i], 1, 1e9, vals[i], err, errlen);
    }
    return rc;
}

// A name goes into CSV rows and messages: printable, no quotes or commas. 0 or -1.
static int check_name(const KvFile *f, const char *name, char *err, size_t errlen) {
    int ok = name[0] != '\0';
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        ok &= *c > 0x20 && *c < 0x7f && *c != ',' && *c != '"' && *c != '\'' && *c != '\\';
    if (ok) return 0;
    char q[PB_QUOTE_BUF];
    Entry *e = kv_get((KvFile *)f, "name");
    snprintf(err, errlen, "%s:%d: %s %s: printable characters only, no spaces, quotes or commas", f->path,
             e ? e->line : f->n_lines, e ? "key 'name':" : "file name", pb_quote(name, PB_QUOTE_VALUE, q, sizeof q));
    return -1;
}

// Opens path for a loader: 0 with *fp, the escaped path (shown) and the default name (stem),
// or -1 with err.
static int open_config(const char *path, FILE **fp, char *shown, size_t shownlen, char *stem, size_t stemlen,
                       char *err, size_t errlen) {
    pb_escape(path, PB_QUOTE_PATH, shown, shownlen);
    stem_of(path, stem, stemlen);
    *fp = fopen(path, "r");
    if (!*fp) { snprintf(err, errlen, "%s: cannot open: %s", shown, strerror(errno)); return -1; }
    return 0;
}

// A reader's first steps: the entries of fp, and the default name (the stem) into name.
// NULL when out of memory; else *rc is 0 or -1 with err (free the KvFile either way).
static KvFile *kv_start(FILE *fp, const char *shown, const char *stem, char *name, size_t namelen, int *rc, char *err,
                        size_t errlen) {
    KvFile *f = calloc(1, sizeof *f);
    if (!f) { snprintf(err, errlen, "%s: out of memory", shown); return NULL; }
    *rc = kv_read(f, fp, shown, err, errlen);
    if (!*rc && strlen(stem) >= namelen && !kv_get(f, "name")) {
        snprintf(err, errlen, "%s: file name longer than %zu characters (give a 'name' key)", shown, namelen - 1);
        *rc = -1;
    }
    if (!*rc) snprintf(name, namelen, "%s", stem);
    return f;
}

// A model (m) or a sweep (s) from path.
static int load_file(const char *path, ModelConfig *m, SweepConfig *s, char *err, size_t errlen) {
    FILE *fp;
    char shown[PB_QUOTE_BUF], stem[256];
    if (open_config(path, &fp, shown, sizeof shown, stem, sizeof stem, err, errlen)) return -1;
    int rc = m ? config_read_model(fp, shown, stem, m, err, errlen) : config_read_sweep(fp, shown, stem, s, err, errlen);
    fclose(fp);
    return rc;
}

int config_load_model(const char *path, ModelConfig *m, char *err, size_t errlen) {
    size_t n = strlen(path);
    if (n > 5 && !strcmp(path + n - 5, ".json")) return hf_config_load(path, m, err, errlen);
    return load_file(path, m, NULL, err, errlen);
}

int config_read_model(FILE *fp, const char *shown, const char *stem, ModelConfig *m, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    double eps = 0;
    int rc;
    KvFile *f = kv_start(fp, shown, stem, m->name, sizeof m->name, &rc, err, errlen);
    if (!f) return -1;
    if (!rc) rc = kv_check_keys(f, model_keys, "unknown key", err, errlen);
    if (!rc) rc = kv_string(f, "name", m->name, sizeof m->name, err, errlen);
    if (!rc) rc = check_name(f, m->name, err, errlen);
    if (!rc) rc = kv_int(f, "vocab", 1, 2, PB_MODEL_MAX_VOCAB, &m->vocab, err, errlen);
    if (!rc) rc = kv_int(f, "hidden", 1, 1, PB_MODEL_MAX_HIDDEN, &m->hidden, err, errlen);
    if (!rc) rc = kv_int(f, "layers", 1, 1, PB_MODEL_MAX_LAYERS, &m->layers, err, errlen);
    if (!rc) rc = kv_int(f, "n_head", 1, 1, PB_MODEL_MAX_HEADS, &m->n_head, err, errlen);
    if (!rc) rc = kv_int(f, "n_kv_head", 1, 1, PB_MODEL_MAX_HEADS, &m->n_kv_head, err, errlen);
    if (!rc) rc = kv_int(f, "head_dim", 1, 2, PB_MODEL_MAX_HEAD_DIM, &m->head_dim, err, errlen);
    if (!rc) rc = kv_int(f, "mlp", 1, 1, PB_MODEL_MAX_MLP, &m->mlp, err, errlen);
    if (!rc) rc = kv_double(f, "rms_eps", 1, 1.0, &eps, err, errlen);
    if (!rc) rc = kv_double(f, "rope_theta", 1, 1e12, &m->rope_theta, err, errlen);
    if (!rc) rc = kv_bool(f, "tied_embeddings", &m->tied_embeddings, err, errlen);
    if (!rc) rc = model_arch_keys(f, m, err, errlen);
    m->rms_eps = (float)eps;
    if (!rc) {
        char why[256];
        if (model_validate(m, why, sizeof why)) { snprintf(err, errlen, "%s:%d: %s", shown, f->n_lines, why); rc = -1; }
    }
    free(f);
    return rc;
}

/* A tree sweep's levels: branching (the count of levels), loss (one 0/1 per level) and one
 * levelD_lens list per level; at most 2^20 segments per cell. */
static int tree_levels(KvFile *f, SweepConfig *s, char *err, size_t errlen) {
    int n_loss = 0;
    int rc = kv_list(f, "branching", &s->n_levels, s->branching, err, errlen);
    if (!rc && s->n_levels > PB_MAX_LEVELS) {
        char why[64];
        snprintf(why, sizeof why, "more than %d levels", PB_MAX_LEVELS);
        return kv_bad(f, kv_get(f, "branching"), why, err, errlen);
    }
    if (!rc) rc = kv_list_in(f, "loss", 0, 1, &n_loss, s->level_loss, err, errlen);
    if (!rc && n_loss != s->n_levels) return kv_bad(f, kv_get(f, "loss"), "needs one value per level of branching", err, errlen);
    double segs = 0, per_level = 1;
    for (int d = 0; !rc && d < s->n_levels; d++) {
        char key[24];
        snprintf(key, sizeof key, "level%d_lens", d);
        rc = kv_list(f, key, &s->n_level_lens[d], s->level_lens[d], err, errlen);
        per_level *= s->branching[d];
        segs += per_level;
    }
    for (int d = s->n_levels; !rc && d < PB_MAX_LEVELS; d++) {
        char key[24];
        snprintf(key, sizeof key, "level%d_lens", d);
        if (kv_get(f, key)) return kv_bad(f, kv_get(f, key), "deeper than branching's levels", err, errlen);
    }
    if (!rc && segs > (1 << 20)) return kv_bad(f, kv_get(f, "branching"), "more than 2^20 segments per cell", err, errlen);
    return rc;
}

int config_load_sweep(const char *path, SweepConfig *s, char *err, size_t errlen) {
    return load_file(path, NULL, s, err, errlen);
}

int config_read_sweep(FILE *fp, const char *shown, const char *stem, SweepConfig *s, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    int rc;
    KvFile *f = kv_start(fp, shown, stem, s->name, sizeof s->name, &rc, err, errlen);
    if (!f) return -1;
    char kind[16] = "grid";
    int seed = 1;
    if (!rc) rc = kv_check_keys(f, sweep_keys, "unknown key", err, errlen);
    if (!rc) rc = kv_string(f, "name", s->name, sizeof s->name, err, errlen);
    if (!rc) rc = check_name(f, s->name, err, errlen);
    if (!rc && !kv_get(f, "model")) rc = kv_missing(f, "model", err, errlen);
    if (!rc) rc = kv_string(f, "model", s->model, sizeof s->model, err, errlen);
    if (!rc) rc = kv_string(f, "kind", kind, sizeof kind, err, errlen);
    if (!rc) {
        if (!strcmp(kind, "grid")) s->kind = SWEEP_GRID;
        else if (!strcmp(kind, "random")) s->kind = SWEEP_RANDOM;
        else if (!strcmp(kind, "tree")) s->kind = SWEEP_TREE;
        else rc = kv_bad(f, kv_get(f, "kind"), "unknown kind (grid|random|tree)", err, errlen);
    }
    // a tree sweep's shape is its levels; prompts / completions are optional there (unused)
    if (!rc) rc = kv_int(f, "prompts", s->kind != SWEEP_TREE, 1, PB_MAX_PROMPTS, &s->prompts, err, errlen);
    if (!rc) rc = kv_int(f, "completions", s->kind != SWEEP_TREE, 1, 64, &s->completions, err, errlen);
    static const char *const kind_names[] = {"not used by kind grid", "not used by kind random", "not used by kind tree"};
    const char *const *kind_keys[] = {sweep_grid_keys, sweep_random_keys, sweep_tree_keys};
    if (!rc) rc = kv_check_keys(f, kind_keys[s->kind], kind_names[s->kind], err, errlen);
    if (!rc && s->kind == SWEEP_TREE) rc = tree_levels(f, s, err, errlen);
    if (!rc && s->kind == SWEEP_GRID) {
        rc = kv_list(f, "prompt_lens", &s->n_prompt_lens, s->prompt_lens, err, errlen);
        if (!rc) rc = kv_list(f, "completion_lens", &s->n_completion_lens, s->completion_lens, err, errlen);
    }
    if (!rc && s->kind == SWEEP_RANDOM) {
        rc = kv_int(f, "cells", 1, 1, PB_MAX_CELLS, &s->cells, err, errlen);
        if (!rc) rc = kv_int(f, "min_len", 1, 1, PB_MAX_LEN, &s->min_len, err, errlen);
        if (!rc) rc = kv_int(f, "max_len", 1, 1, PB_MAX_LEN, &s->max_len, err, errlen);
        if (!rc) rc = kv_int(f, "seed", 0, 0, INT_MAX, &seed, err, errlen);
        if (!rc && s->max_len < s->min_len) rc = kv_bad(f, kv_get(f, "max_len"), "smaller than min_len:", err, errlen);
    }
    s->seed = (uint64_t)seed;
    if (!rc) rc = kv_int(f, "min_reps", 0, 1, 1 << 20, &s->min_reps, err, errlen);
    if (!rc) rc = kv_int(f, "max_reps", 0, 1, 1 << 20, &s->max_reps, err, errlen);
    if (!rc) rc = kv_double(f, "min_time", 0, 1e6, &s->min_time, err, errlen);
    if (!rc) rc = kv_double(f, "max_time", 0, 1e6, &s->max_time, err, errlen);
    free(f);
    return rc;
}

static int is_dir(const char *p) {
    return access(p, X_OK) == 0;
}

int config_dir(char *dir, size_t dirlen) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        for (int up = 0; up < 5; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash) break;
            *slash = '\0';
            char probe[4200];
            snprintf(probe, sizeof probe, "%s/configs/models", exe);
            if (is_dir(probe)) { snprintf(dir, dirlen, "%s/configs", exe); return 0; }
        }
    }
    snprintf(dir, dirlen, "%s/configs", PB_SOURCE_ROOT); // the source tree meson was set up from
    return is_dir(dir) ? 0 : -1;
}

int config_find(const char *kind, const char *name_or_path, char *path, size_t pathlen, char *err, size_t errlen) {
    size_t n = strlen(name_or_path);
    char q[PB_QUOTE_BUF];
    if (strchr(name_or_path, '/') || (n > 5 && !strcmp(name_or_path + n - 5, ".conf")) ||
        (n > 5 && !strcmp(name_or_path + n - 5, ".json"))) {
        if (access(name_or_path, R_OK)) {
            snprintf(err, errlen, "%s: cannot open: %s", pb_escape(name_or_path, PB_QUOTE_PATH, q, sizeof q), strerror(errno));
            return -1;
        }
        if (n >= pathlen) { snprintf(err, errlen, "%s: path too long", pb_escape(name_or_path, PB_QUOTE_PATH, q, sizeof q)); return -1; }
        snprintf(path, pathlen, "%s", name_or_path);
        return 0;
    }
    char dir[4096];
    if (config_dir(dir, sizeof dir)) {
        snprintf(err, errlen, "configs/ folder not found for %s %s", kind, pb_quote(name_or_path, PB_QUOTE_VALUE, q, sizeof q));
        return -1;
    }
    if (snprintf(path, pathlen, "%s/%s/%s.conf", dir, kind, name_or_path) >= (int)pathlen || access(path, R_OK)) {
        snprintf(err, errlen, "no %s named %s (see --list)", kind, pb_quote(name_or_path, PB_QUOTE_VALUE, q, sizeof q));
        return -1;
    }
    return 0;
}
