/*
 * config.c: the configs/ file format. A file is read into (key, value, line) entries first
 * (syntax and duplicates are checked there), then every key is checked against the reader's list
 * (a misspelt key is reported as unknown, not as a missing one), then the values are parsed. Every error is one line: FILE:LINE: ...
 */
#include "config.h"
#include "pb_config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ENTRIES 64

typedef struct Entry { char key[48]; char value[512]; int line; } Entry;
typedef struct KvFile { const char *path; int n, n_lines; Entry e[MAX_ENTRIES]; } KvFile;

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

static int kv_read(KvFile *f, const char *path, char *err, size_t errlen) {
    FILE *fp = fopen(path, "r");
    if (!fp) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return -1; }
    f->path = path;
    f->n = 0;
    char buf[1024];
    int line = 0, rc = 0;
    while (fgets(buf, sizeof buf, fp)) {
        line++;
        if (!strchr(buf, '\n') && !feof(fp)) { snprintf(err, errlen, "%s:%d: line too long", path, line); rc = -1; break; }
        char *hash = strchr(buf, '#');
        if (hash) *hash = '\0';
        char *s = trim(buf);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (!eq) { snprintf(err, errlen, "%s:%d: expected 'key = value', got '%s'", path, line, s); rc = -1; break; }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        int ok = *key != '\0';
        for (const char *c = key; *c; c++) ok &= (islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_');
        if (!ok || strlen(key) >= sizeof f->e[0].key) { snprintf(err, errlen, "%s:%d: bad key '%s'", path, line, key); rc = -1; break; }
        if (!*value) { snprintf(err, errlen, "%s:%d: key '%s': empty value", path, line, key); rc = -1; break; }
        if (strlen(value) >= sizeof f->e[0].value) { snprintf(err, errlen, "%s:%d: key '%s': value too long", path, line, key); rc = -1; break; }
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
    f->n_lines = line;
    fclose(fp);
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
    snprintf(err, errlen, "%s:%d: key '%s': %s '%s'", f->path, e->line, e->key, why, e->value);
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

static int kv_double(KvFile *f, const char *key, int required, double *out, char *err, size_t errlen) {
    Entry *e = kv_get(f, key);
    if (!e) return required ? kv_missing(f, key, err, errlen) : 0;
    char *end;
    errno = 0;
    double v = strtod(e->value, &end);
    if (errno || end == e->value || *end || !isfinite(v) || v < 0) return kv_bad(f, e, "bad number", err, errlen);
    *out = v;
    return 0;
}

static int kv_bool(KvFile *f, const char *key, int *out, char *err, size_t errlen) {
    Entry *e = kv_get(f, key);
    if (!e) return kv_missing(f, key, err, errlen);
    const char *v = e->value;
    if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) *out = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) *out = 0;
    else return kv_bad(f, e, "bad boolean (true/false)", err, errlen);
    return 0;
}

// Comma-separated list of lengths.
static int kv_list(KvFile *f, const char *key, int *n, int *vals, char *err, size_t errlen) {
    Entry *e = kv_get(f, key);
    if (!e) return kv_missing(f, key, err, errlen);
    char buf[sizeof e->value];
    snprintf(buf, sizeof buf, "%s", e->value);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long v;
        if (*n == PB_MAX_LENS) return kv_bad(f, e, "too many lengths in", err, errlen);
        if (parse_long(trim(tok), 1, 1L << 24, &v)) return kv_bad(f, e, "bad length list", err, errlen);
        vals[(*n)++] = (int)v;
    }
    if (*n == 0) return kv_bad(f, e, "empty list", err, errlen);
    return 0;
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
    "tied_embeddings", NULL,
};
#define SWEEP_COMMON_KEYS "name", "description", "model", "kind", "prompts", "completions", "min_reps", "max_reps", \
                          "min_time", "max_time"
static const char *const sweep_keys[] = { SWEEP_COMMON_KEYS, "prompt_lens", "completion_lens", "cells", "min_len",
                                          "max_len", "seed", NULL };
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

int config_load_model(const char *path, ModelConfig *m, char *err, size_t errlen) {
    KvFile *f = calloc(1, sizeof *f);
    if (!f) { snprintf(err, errlen, "%s: out of memory", path); return -1; }
    memset(m, 0, sizeof *m);
    stem_of(path, m->name, sizeof m->name);
    double eps = 0;
    const long big = INT_MAX;
    int rc = kv_read(f, path, err, errlen);
    if (!rc) rc = kv_check_keys(f, model_keys, "unknown key", err, errlen);
    if (!rc) rc = kv_string(f, "name", m->name, sizeof m->name, err, errlen);
    if (!rc) rc = kv_int(f, "vocab", 1, 2, big, &m->vocab, err, errlen);
    if (!rc) rc = kv_int(f, "hidden", 1, 1, big, &m->hidden, err, errlen);
    if (!rc) rc = kv_int(f, "layers", 1, 1, big, &m->layers, err, errlen);
    if (!rc) rc = kv_int(f, "n_head", 1, 1, big, &m->n_head, err, errlen);
    if (!rc) rc = kv_int(f, "n_kv_head", 1, 1, big, &m->n_kv_head, err, errlen);
    if (!rc) rc = kv_int(f, "head_dim", 1, 1, big, &m->head_dim, err, errlen);
    if (!rc) rc = kv_int(f, "mlp", 1, 1, big, &m->mlp, err, errlen);
    if (!rc) rc = kv_double(f, "rms_eps", 1, &eps, err, errlen);
    if (!rc) rc = kv_double(f, "rope_theta", 1, &m->rope_theta, err, errlen);
    if (!rc) rc = kv_bool(f, "tied_embeddings", &m->tied_embeddings, err, errlen);
    m->rms_eps = (float)eps;
    if (!rc) {
        char why[256];
        if (model_validate(m, why, sizeof why)) { snprintf(err, errlen, "%s:%d: %s", path, f->n_lines, why); rc = -1; }
    }
    free(f);
    return rc;
}

int config_load_sweep(const char *path, SweepConfig *s, char *err, size_t errlen) {
    KvFile *f = calloc(1, sizeof *f);
    if (!f) { snprintf(err, errlen, "%s: out of memory", path); return -1; }
    memset(s, 0, sizeof *s);
    stem_of(path, s->name, sizeof s->name);
    int rc = kv_read(f, path, err, errlen);
    char kind[16] = "grid";
    int seed = 1;
    if (!rc) rc = kv_check_keys(f, sweep_keys, "unknown key", err, errlen);
    if (!rc) rc = kv_string(f, "name", s->name, sizeof s->name, err, errlen);
    if (!rc && !kv_get(f, "model")) rc = kv_missing(f, "model", err, errlen);
    if (!rc) rc = kv_string(f, "model", s->model, sizeof s->model, err, errlen);
    if (!rc) rc = kv_int(f, "prompts", 1, 1, 1 << 16, &s->prompts, err, errlen);
    if (!rc) rc = kv_int(f, "completions", 1, 1, 64, &s->completions, err, errlen);
    if (!rc) rc = kv_string(f, "kind", kind, sizeof kind, err, errlen);
    if (!rc) {
        if (!strcmp(kind, "grid")) s->kind = SWEEP_GRID;
        else if (!strcmp(kind, "random")) s->kind = SWEEP_RANDOM;
        else rc = kv_bad(f, kv_get(f, "kind"), "unknown kind (grid|random)", err, errlen);
    }
    if (!rc) rc = kv_check_keys(f, s->kind == SWEEP_GRID ? sweep_grid_keys : sweep_random_keys,
                                s->kind == SWEEP_GRID ? "not used by kind grid" : "not used by kind random", err, errlen);
    if (!rc && s->kind == SWEEP_GRID) {
        rc = kv_list(f, "prompt_lens", &s->n_prompt_lens, s->prompt_lens, err, errlen);
        if (!rc) rc = kv_list(f, "completion_lens", &s->n_completion_lens, s->completion_lens, err, errlen);
    }
    if (!rc && s->kind == SWEEP_RANDOM) {
        rc = kv_int(f, "cells", 1, 1, 1 << 20, &s->cells, err, errlen);
        if (!rc) rc = kv_int(f, "min_len", 1, 1, 1 << 24, &s->min_len, err, errlen);
        if (!rc) rc = kv_int(f, "max_len", 1, 1, 1 << 24, &s->max_len, err, errlen);
        if (!rc) rc = kv_int(f, "seed", 0, 0, INT_MAX, &seed, err, errlen);
        if (!rc && s->max_len < s->min_len) rc = kv_bad(f, kv_get(f, "max_len"), "smaller than min_len:", err, errlen);
    }
    s->seed = (uint64_t)seed;
    if (!rc) rc = kv_int(f, "min_reps", 0, 1, 1 << 20, &s->min_reps, err, errlen);
    if (!rc) rc = kv_int(f, "max_reps", 0, 1, 1 << 20, &s->max_reps, err, errlen);
    if (!rc) rc = kv_double(f, "min_time", 0, &s->min_time, err, errlen);
    if (!rc) rc = kv_double(f, "max_time", 0, &s->max_time, err, errlen);
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
    if (strchr(name_or_path, '/') || (n > 5 && !strcmp(name_or_path + n - 5, ".conf"))) {
        if (access(name_or_path, R_OK)) { snprintf(err, errlen, "%s: cannot open: %s", name_or_path, strerror(errno)); return -1; }
        snprintf(path, pathlen, "%s", name_or_path);
        return 0;
    }
    char dir[4096];
    if (config_dir(dir, sizeof dir)) { snprintf(err, errlen, "configs/ folder not found for %s '%s'", kind, name_or_path); return -1; }
    snprintf(path, pathlen, "%s/%s/%s.conf", dir, kind, name_or_path);
    if (access(path, R_OK)) {
        snprintf(err, errlen, "no %s named '%s' (%s; see --list)", kind, name_or_path, path);
        return -1;
    }
    return 0;
}
