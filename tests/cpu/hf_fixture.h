// hf_fixture.h: reads a fixture of dev/hf_fixtures.py (tests/cpu/data/hf/NAME.fix): a text header
// (groups, lengths, token ids, RoPE inverse frequencies, loss), the line "data", then params and
// grads as little-endian float32 in the model.h table order. 0, or -1 with a reason in err.
#ifndef PB_TEST_HF_FIXTURE_H
#define PB_TEST_HF_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../strategies/layout.h"

#define HF_FIX_MAX 64

typedef struct HfFixture {
    int B, K;
    int32_t prompt_lens[HF_FIX_MAX], comp_lens[HF_FIX_MAX];
    int32_t *ids;
    size_t n_ids;
    double inv_freq[HF_FIX_MAX];
    int n_freq;
    double loss;
    size_t n_floats;
    float *params, *grads;
} HfFixture;

static inline int hf_fix_ints(FILE *f, const char *key, int n, int32_t *out) {
    char k[32];
    if (fscanf(f, "%31s", k) != 1 || strcmp(k, key)) return -1;
    for (int i = 0; i < n; i++)
        if (fscanf(f, "%d", &out[i]) != 1) return -1;
    return 0;
}

// float32 little-endian, whatever the host's order
static inline int hf_fix_floats(FILE *f, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char b[4];
        if (fread(b, 1, 4, f) != 4) return -1;
        uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&out[i], &u, 4);
    }
    return 0;
}

static inline int hf_fixture_load(const char *path, HfFixture *x, char *err, size_t errlen) {
    memset(x, 0, sizeof *x);
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "%s: cannot open", path); return -1; }
    char magic[32], key[32];
    int version = 0, n = 0, ok = fscanf(f, "%31s %d", magic, &version) == 2 && !strcmp(magic, "packbench-hf-fixture") &&
                                    version == 1;
    ok = ok && fscanf(f, "%31s %d %d", key, &x->B, &x->K) == 3 && !strcmp(key, "groups") && x->B > 0 && x->K > 0 &&
         x->B * x->K <= HF_FIX_MAX;
    ok = ok && !hf_fix_ints(f, "prompt_lens", x->B, x->prompt_lens) &&
         !hf_fix_ints(f, "completion_lens", x->B * x->K, x->comp_lens);
    ok = ok && fscanf(f, "%31s %d", key, &n) == 2 && !strcmp(key, "ids") && n > 0;
    if (ok) {
        x->n_ids = (size_t)n;
        x->ids = malloc(x->n_ids * sizeof *x->ids);
        ok = x->ids != NULL;
        for (size_t i = 0; ok && i < x->n_ids; i++) ok = fscanf(f, "%d", &x->ids[i]) == 1;
    }
    ok = ok && fscanf(f, "%31s %d", key, &x->n_freq) == 2 && !strcmp(key, "inv_freq") && x->n_freq > 0 &&
         x->n_freq <= HF_FIX_MAX;
    for (int i = 0; ok && i < x->n_freq; i++) ok = fscanf(f, "%lf", &x->inv_freq[i]) == 1;
    ok = ok && fscanf(f, "%31s %lf", key, &x->loss) == 2 && !strcmp(key, "loss");
    ok = ok && fscanf(f, "%31s %d", key, &n) == 2 && !strcmp(key, "floats") && n > 0;
    ok = ok && fscanf(f, "%31s", key) == 1 && !strcmp(key, "data") && fgetc(f) == '\n';
    if (ok) {
        x->n_floats = (size_t)n;
        x->params = malloc(x->n_floats * sizeof(float));
        x->grads = malloc(x->n_floats * sizeof(float));
        ok = x->params && x->grads && !hf_fix_floats(f, x->params, x->n_floats) &&
             !hf_fix_floats(f, x->grads, x->n_floats) && fgetc(f) == EOF;
    }
    fclose(f);
    if (!ok) { snprintf(err, errlen, "%s: not a packbench-hf-fixture 1 file (or truncated)", path); return -1; }
    return 0;
}

static inline void hf_fixture_free(HfFixture *x) {
    free(x->ids);
    free(x->params);
    free(x->grads);
}

#endif
