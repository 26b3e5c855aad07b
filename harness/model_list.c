/*
 * model_list.c: `bench --list`'s model table (see model_list.h). The figures come from the one
 * source of each: the parameter count from model.h's table, the step's peak from the GPU
 * memory plan (gpu/memory_plan.c, with the cuDNN backend's figures computed on the host,
 * attention/attn_memory.h: its workspace is a reserve the GPU may exceed) for the padded
 * layout of the stated cell (the largest of the three layouts there).
 */
#include "model_list.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "../gpu/memory_plan.h"
#include "../strategies/layout.h"
#include "config.h"

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void print_model(const char *path, FILE *out) {
    ModelConfig m;
    char err[600];
    if (config_load_model(path, &m, err, sizeof err)) { fprintf(out, "  %-22s (%s)\n", "?", err); return; }
    size_t off[P_COUNT], n = model_param_offsets(&m, off);
    const int B = MODEL_LIST_PROMPTS, K = MODEL_LIST_COMPLETIONS;
    int32_t pl[MODEL_LIST_PROMPTS], cl[MODEL_LIST_PROMPTS * MODEL_LIST_COMPLETIONS];
    for (int i = 0; i < B; i++) pl[i] = MODEL_LIST_PROMPT;
    for (int i = 0; i < B * K; i++) cl[i] = MODEL_LIST_COMPLETION;
    GroupBatch g;
    Layout l;
    char step[96] = "?";
    if (groups_make(&g, B, K, pl, cl, m.vocab, 1) == 0) {
        if (layout_build(&l, STRATEGY_PADDED, &g) == 0) {
            GpuPlanInput in = {.m = &m, .l = &l, .mode = GPU_PLAN_DEFAULT, .attn_tight = -1};
            const AttnMemoryAsk ask = {ATTN_PREFIX_AUTO, 0, 0}; // the step's defaults
            GpuMemPlan p;
            if (gpu_plan_attn_figures("cudnn", &m, &l, &ask, &in) == 0 && gpu_memory_plan(&in, &p, err, sizeof err) == 0) {
                snprintf(step, sizeof step, "%7.1f GB  %s", (double)p.peak / 1e9, p.peak <= GPU_H200_USABLE_BYTES ? "yes" : "no");
                gpu_memory_plan_free(&p);
            }
            layout_free(&l);
        }
        groups_free(&g);
    }
    char shape[96];
    snprintf(shape, sizeof shape, "%s%s%s%s", m.arch, m.qkv_bias ? " bias" : "", m.qk_norm ? " qk-norm" : "",
             m.tied_embeddings ? " tied" : "");
    fprintf(out, "  %-22s %-22s %9.1f M  %7.1f GB  %s\n", m.name, shape, (double)n / 1e6, 4.0 * (double)n / 1e9, step);
}

int model_list_print(const char *dir, FILE *out) {
    DIR *d = opendir(dir);
    if (!d) return 2;
    char *names[256];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 256;) {
        size_t len = strlen(e->d_name);
        if (len > 5 && !strcmp(e->d_name + len - 5, ".conf")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], by_name);
    fprintf(out, "models (%s; NAME, or a path to a .conf or a Hugging Face config.json, e.g. %s/hf/qwen3-8b/config.json):\n",
            dir, dir);
    fprintf(out, "  %-22s %-22s %10s  %10s  %s\n", "name", "architecture", "params", "w + grads",
            "GPU step at 2048x512, 3 x 2, padded, cuDNN: planned peak, fits one H200");
    for (int i = 0; i < n; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        print_model(path, out);
        free(names[i]);
    }
    return 0;
}
