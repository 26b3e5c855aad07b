/*
 * step_cpu.c: the CPU StepBackend (step/step.h): fp32 weights from model_init_params, the
 * step is cpu_step_levels at the policy's level in every layer (StepOptions.recompute; auto is
 * the GPU plan's choice, so here only explicit per-layer levels from a test), timed with
 * CLOCK_MONOTONIC. Its memory is its size table: params + grads + cpu_step_activation_bytes_levels,
 * the same number predicted and allocated (no driver on the CPU).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../step/step.h"
#include "cpu_step.h"

struct Step {
    ModelConfig m;
    StepOptions o;
    size_t n_params;
    float *params, *grads;
    const Layout *layout; // borrowed from prepare until release
    size_t act_bytes;
    RecomputePolicy policy;
    unsigned char levels[PB_MODEL_MAX_LAYERS]; // RecomputeLevel per layer (StepOptions.recompute)
};

static Step *cpu_create(const ModelConfig *m, const StepOptions *o, char *err, size_t errlen) {
    if (model_validate(m, err, errlen) != 0) return NULL;
    RecomputePolicy policy;
    if (recompute_policy_parse(o->recompute, &policy) || (policy == POLICY_AUTO && !o->recompute_levels)) {
        snprintf(err, errlen, "cpu: --recompute %s: the cpu step runs full, selective or none (auto chooses from the "
                 "GPU memory plan)", o->recompute ? o->recompute : "?");
        return NULL;
    }
    Step *s = calloc(1, sizeof *s);
    size_t off[P_COUNT];
    if (s) {
        s->m = *m;
        s->o = *o;
        s->o.attention = NULL; // no GPU backend here; do not keep the caller's string
        s->o.recompute = NULL;
        s->o.recompute_levels = NULL;
        s->policy = o->recompute_levels ? POLICY_AUTO : policy;
        for (int i = 0; i < m->layers; i++)
            s->levels[i] = o->recompute_levels ? o->recompute_levels[i] : (unsigned char)policy;
        s->n_params = model_param_offsets(m, off);
        s->params = malloc(s->n_params * sizeof(float));
        s->grads = calloc(s->n_params, sizeof(float));
    }
    if (!s || !s->params || !s->grads) {
        snprintf(err, errlen, "cpu: cannot allocate %zu bytes of weights and gradients", 8 * (s ? s->n_params : 0));
        if (s) { free(s->params); free(s->grads); free(s); }
        return NULL;
    }
    model_init_params(m, o->seed, s->params);
    return s;
}

static PbStatus cpu_prepare(Step *s, const Layout *l, char *err, size_t errlen) {
    if (!l || l->n_slots == 0) { snprintf(err, errlen, "cpu: empty layout"); return PB_ERROR; }
    for (size_t i = 0; i < l->n_slots; i++)
        if (l->tokens[i] < 0 || l->tokens[i] >= s->m.vocab) {
            snprintf(err, errlen, "cpu: token %d outside the vocabulary (%d)", l->tokens[i], s->m.vocab);
            return PB_ERROR;
        }
    s->layout = l;
    s->act_bytes = cpu_step_activation_bytes_levels(&s->m, l, s->levels);
    return PB_OK;
}

static PbStatus cpu_run(Step *s, double *ms, double *loss, char *err, size_t errlen) {
    if (!s->layout) { snprintf(err, errlen, "cpu: run before prepare"); return PB_ERROR; }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double v = cpu_step_levels(&s->m, s->params, s->grads, s->layout, s->levels);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6;
    *loss = v;
    if (v != v) { snprintf(err, errlen, "cpu: step failed (out of memory)"); return PB_NO_MEMORY; }
    return PB_OK;
}

static void cpu_memory(Step *s, StepMemory *out) {
    size_t bytes = 2 * s->n_params * sizeof(float) + (s->layout ? s->act_bytes : 0);
    out->predicted = out->allocated = bytes;
    out->driver_used = 0;
}

static void cpu_recompute(Step *s, unsigned char *levels, char *what, size_t len) {
    memcpy(levels, s->levels, (size_t)s->m.layers);
    recompute_describe(s->policy, s->levels, s->m.layers, what, len);
}

static PbStatus cpu_params(Step *s, float *out) { memcpy(out, s->params, s->n_params * sizeof(float)); return PB_OK; }
static PbStatus cpu_grads(Step *s, float *out) { memcpy(out, s->grads, s->n_params * sizeof(float)); return PB_OK; }

static void cpu_release(Step *s) { s->layout = NULL; s->act_bytes = 0; }

static void cpu_destroy(Step *s) {
    if (!s) return;
    free(s->params);
    free(s->grads);
    free(s);
}

// The CPU's "model name" from /proc/cpuinfo (or "cpu"); no library versions.
static void cpu_describe(Step *s, char *name, size_t n1, char *versions, size_t n2) {
    (void)s;
    if (n1) snprintf(name, n1, "cpu");
    if (n2) versions[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *v = strchr(line, ':');
        if (!v) break;
        v++;
        while (*v == ' ' || *v == '\t') v++;
        size_t len = strcspn(v, "\n");
        if (n1) snprintf(name, n1, "%.*s", (int)len, v);
        break;
    }
    fclose(f);
}

const StepBackend cpu_step_backend = {
    .device = "cpu",
    .create = cpu_create,
    .prepare = cpu_prepare,
    .run = cpu_run,
    .memory = cpu_memory,
    .params = cpu_params,
    .grads = cpu_grads,
    .release = cpu_release,
    .destroy = cpu_destroy,
    .describe = cpu_describe,
    .recompute = cpu_recompute,
};
