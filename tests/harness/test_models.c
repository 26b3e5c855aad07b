/*
 * test_models.c: the shipped model configs and the Hugging Face config.json reader.
 *  1. Every configs/models/NAME.conf of a published model loads, and its parameter count (the
 *     model.h table) equals the total of that model's published safetensors, which checks
 *     every shape the file gives, tied embeddings, biases and q/k norms included.
 *  2. Every configs/models/hf/NAME/config.json (the published config.json form) reads into
 *     the same ModelConfig as configs/models/NAME.conf, field by field; so does the transformers
 *     5 spelling (rope_parameters) of Llama-3.1-8B's.
 *  3. Every file in tests/harness/bad/hf/ is refused with one line naming the field, and the
 *     .conf format's architecture keys reject their malformed forms.
 *  4. `bench --list`'s table names every model with its parameter count, and the size table's
 *     verdict for one H200 at the stated cell (Qwen2.5-7B: yes).
 * argv[1]: the source root.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../harness/config.h"
#include "../../harness/hf_config.h"
#include "../../harness/model_list.h"
#include "../test_util.h"

typedef struct Published { const char *name; size_t params; int has_json; } Published;

// Totals of the published checkpoints (embedding counted once where tied).
static const Published published[] = {
    {"qwen2.5-0.5b", 494032768u, 1},     {"qwen2.5-1.5b", 1543714304u, 0},   {"qwen2.5-3b", 3085938688u, 0},
    {"qwen2.5-7b", 7615616512u, 1},      {"qwen2.5-14b", 14770033664u, 0},   {"llama-3.1-8b", 8030261248u, 1},
    {"llama-3.2-1b", 1235814400u, 1},    {"llama-3.2-3b", 3212749824u, 0},   {"qwen3-0.6b", 596049920u, 1},
    {"qwen3-4b", 4022468096u, 0},        {"qwen3-8b", 8190735360u, 1},       {"qwen3-14b", 14768307200u, 0},
    {"mistral-7b-v0.3", 7248023552u, 1},
};

static int same_config(const ModelConfig *a, const ModelConfig *b) {
    return !strcmp(a->arch, b->arch) && a->vocab == b->vocab && a->hidden == b->hidden && a->layers == b->layers &&
           a->n_head == b->n_head && a->n_kv_head == b->n_kv_head && a->head_dim == b->head_dim && a->mlp == b->mlp &&
           a->rms_eps == b->rms_eps && a->rope_theta == b->rope_theta && a->tied_embeddings == b->tied_embeddings &&
           a->qkv_bias == b->qkv_bias && a->qk_norm == b->qk_norm &&
           !memcmp(&a->rope_scaling, &b->rope_scaling, sizeof a->rope_scaling) && !strcmp(a->name, b->name);
}

static void check_published(const char *root) {
    for (size_t i = 0; i < sizeof published / sizeof published[0]; i++) {
        const Published *p = &published[i];
        char path[1024], err[600] = "";
        ModelConfig m, j;
        snprintf(path, sizeof path, "%s/configs/models/%s.conf", root, p->name);
        int rc = config_load_model(path, &m, err, sizeof err);
        CHECK(rc == 0, "%s: %s", p->name, err);
        if (rc) continue;
        size_t off[P_COUNT], n = model_param_offsets(&m, off);
        uint64_t checked = 0; // model_validate's 64-bit count (issue 15) agrees with the table
        CHECK(n == p->params && model_param_count_checked(&m, &checked) == 0 && checked == p->params,
              "%s: %zu parameters (64-bit count %llu), published %zu", p->name, n, (unsigned long long)checked,
              p->params);
        if (!p->has_json) continue;
        snprintf(path, sizeof path, "%s/configs/models/hf/%s/config.json", root, p->name);
        rc = config_load_model(path, &j, err, sizeof err);
        CHECK(rc == 0, "%s: %s", path, err);
        CHECK(rc || same_config(&m, &j), "%s: config.json and .conf differ", p->name);
    }
    ModelConfig l;
    char path[1024], err[600] = "";
    snprintf(path, sizeof path, "%s/configs/models/llama-3.1-8b.conf", root);
    CHECK(config_load_model(path, &l, err, sizeof err) == 0 && !strcmp(l.arch, "llama") && !l.qkv_bias && !l.qk_norm &&
          l.rope_scaling.factor == 8.0 && l.rope_scaling.low_freq_factor == 1.0 &&
          l.rope_scaling.high_freq_factor == 4.0 && l.rope_scaling.original_max_pos == 8192.0,
          "llama-3.1-8b: architecture fields (%s)", err);
    snprintf(path, sizeof path, "%s/configs/models/tiny.conf", root); // no arch keys: Qwen2
    CHECK(config_load_model(path, &l, err, sizeof err) == 0 && !strcmp(l.arch, "qwen2") && l.qkv_bias &&
          !l.qk_norm && l.rope_scaling.factor == 0.0, "tiny.conf: Qwen2 defaults (%s)", err);
}

// A refused model file: one line, starting with prefix (the path, and for .conf files the line),
// containing want.
static void check_refused(const char *path, const char *prefix, const char *want) {
    char err[1200] = "";
    ModelConfig m;
    CHECK(config_load_model(path, &m, err, sizeof err) == -1, "%s accepted", path);
    CHECK(err[0] && !strchr(err, '\n'), "%s: message is not one line: '%s'", path, err);
    CHECK(!strncmp(err, prefix, strlen(prefix)) && strstr(err, want), "%s: message '%s', want '%s...%s'", path, err,
          prefix, want);
}

static void check_bad_json(const char *root, const char *file, const char *want) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/harness/bad/hf/%s", root, file);
    check_refused(path, path, want);
}

static void check_bad_conf(const char *root, const char *file, int line, const char *want) {
    char path[1024], prefix[1100];
    snprintf(path, sizeof path, "%s/tests/harness/bad/%s", root, file);
    snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
    check_refused(path, prefix, want);
}

static void check_list(const char *root) {
    char dir[1024], text[16384] = "";
    snprintf(dir, sizeof dir, "%s/configs/models", root);
    FILE *f = tmpfile();
    CHECK(f && model_list_print(dir, f) == 0, "model_list_print");
    if (!f) return;
    rewind(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    for (size_t i = 0; i < sizeof published / sizeof published[0]; i++) {
        char want[96], key[96];
        snprintf(want, sizeof want, "%.1f M", (double)published[i].params / 1e6);
        snprintf(key, sizeof key, "\n  %s ", published[i].name);
        const char *line = strstr(text, key);
        CHECK(line && strstr(line, want) && strstr(line, want) < strchr(line + 1, '\n'), "--list: %s without '%s'",
              published[i].name, want);
    }
    const char *q7 = strstr(text, "\n  qwen2.5-7b ");
    CHECK(q7 && strstr(q7, " yes\n") && strstr(q7, " yes\n") < strchr(q7 + 1, '\n') + 1, "--list: qwen2.5-7b not 'yes'");
}

int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : ".";
    check_published(root);
    check_list(root);
    static const char *const refused_json[][2] = {
        {"unknown_type.json", "field 'model_type': 'gemma2' is not supported"},
        {"mistral_sliding_window.json", "field 'sliding_window'"},
        {"qwen2_use_sliding_window.json", "field 'use_sliding_window'"},
        {"layer_types.json", "field 'layer_types'"},
        {"qwen3_moe.json", "field 'num_experts': mixture of experts"},
        {"rope_yarn.json", "field 'rope_scaling': rope_type 'yarn' is not supported"},
        {"rope_llama3_incomplete.json", "field 'high_freq_factor': missing"},
        {"attention_bias.json", "field 'attention_bias'"},
        {"mlp_bias.json", "field 'mlp_bias'"},
        {"hidden_act.json", "field 'hidden_act'"},
        {"missing_hidden.json", "field 'hidden_size': missing"},
        {"invalid_heads.json", "n_head must be a multiple of n_kv_head"},
        {"malformed.json", "malformed.json:"},
    };
    for (size_t i = 0; i < sizeof refused_json / sizeof refused_json[0]; i++)
        check_bad_json(root, refused_json[i][0], refused_json[i][1]);
    check_bad_conf(root, "model_bad_arch.conf", 2, "key 'arch': unknown arch");
    check_bad_conf(root, "model_rope_yarn.conf", 13, "key 'rope_scaling': unknown rope_scaling");
    check_bad_conf(root, "model_rope_key_alone.conf", 13, "key 'rope_scaling_factor': needs rope_scaling = llama3");
    check_bad_conf(root, "model_rope_incomplete.conf", 14, "key 'rope_low_freq_factor': missing");
    // transformers 5 writes rope_theta and the scaling into rope_parameters: the same model
    ModelConfig conf, v5;
    char path5[4200], err5[1200] = "";
    snprintf(path5, sizeof path5, "%s/configs/models/llama-3.1-8b.conf", root);
    int rc5 = config_load_model(path5, &conf, err5, sizeof err5);
    snprintf(path5, sizeof path5, "%s/tests/harness/data/hf/llama-3.1-8b/config.json", root);
    CHECK(!rc5 && config_load_model(path5, &v5, err5, sizeof err5) == 0 && same_config(&conf, &v5),
          "rope_parameters form of llama-3.1-8b differs from the .conf (%s)", err5);
    // a config.json named by its folder, as downloaded from the Hub
    char path[4200], err[600] = "";
    ModelConfig m;
    snprintf(path, sizeof path, "%s/configs/models/hf/qwen3-8b/config.json", root);
    CHECK(hf_config_load(path, &m, err, sizeof err) == 0 && !strcmp(m.name, "qwen3-8b") && m.qk_norm && !m.qkv_bias &&
          m.head_dim == 128 && m.hidden == 4096, "qwen3-8b config.json: %s", err);
    return test_finish("test_models");
}
