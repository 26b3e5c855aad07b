/*
 * hf_config.c: Hugging Face config.json -> ModelConfig (see hf_config.h).
 *
 * The fields and their HF defaults, as the transformers config classes define them:
 * vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads required;
 * num_key_value_heads (default num_attention_heads), head_dim (default hidden / heads),
 * rms_norm_eps (1e-6), rope_theta (10000), tie_word_embeddings (false). Qwen2 always has q, k, v
 * biases; Llama and Qwen3 have them (and an o_proj bias) when attention_bias is true, which the
 * step does not support; Qwen3 always has the q/k norm. rope_scaling (or rope_parameters, the
 * newer spelling) may be null, "default" or "llama3".
 */
#include "hf_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "quote.h"

typedef struct Reader {
    const char *path; // escaped for messages
    json_t *root;
    char *err;
    size_t errlen;
} Reader;

static int refuse(Reader *r, const char *field, const char *why) {
    snprintf(r->err, r->errlen, "%s: field '%s': %s", r->path, field, why);
    return -1;
}

// A present, non-null field (NULL when absent or null).
static json_t *field(Reader *r, json_t *obj, const char *key) {
    json_t *v = json_object_get(obj ? obj : r->root, key);
    return v && !json_is_null(v) ? v : NULL;
}

static int get_int(Reader *r, const char *key, int required, int *out) {
    json_t *v = field(r, NULL, key);
    if (!v) return required ? refuse(r, key, "missing") : 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 0x7fffffff)
        return refuse(r, key, "not a positive integer");
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_number(Reader *r, json_t *obj, const char *key, int required, double *out) {
    json_t *v = field(r, obj, key);
    if (!v) return required ? refuse(r, key, "missing") : 0;
    if (!json_is_number(v) || !(json_number_value(v) > 0) || !isfinite(json_number_value(v)))
        return refuse(r, key, "not a positive number");
    *out = json_number_value(v);
    return 0;
}

static int get_bool(Reader *r, const char *key, int *out) {
    json_t *v = field(r, NULL, key);
    if (!v) return 0;
    if (!json_is_boolean(v)) return refuse(r, key, "not true or false");
    *out = json_is_true(v);
    return 0;
}

// Fields of mixture-of-experts models (Mixtral, Qwen2-MoE, Qwen3-MoE, DeepSeek): refused when set.
static int refuse_moe(Reader *r) {
    static const char *const keys[] = {"num_experts", "num_local_experts", "n_routed_experts", "num_experts_per_tok",
                                        "moe_intermediate_size", NULL};
    for (const char *const *k = keys; *k; k++) {
        json_t *v = field(r, NULL, *k);
        if (v && !(json_is_integer(v) && json_integer_value(v) == 0))
            return refuse(r, *k, "mixture of experts is not supported");
    }
    return 0;
}

// Sliding-window attention in use: Qwen2 / Qwen3 through use_sliding_window, Mistral whenever
// sliding_window is set (HF applies it then), any model through layer_types.
static int refuse_sliding(Reader *r, const char *arch) {
    int use = 0;
    if (get_bool(r, "use_sliding_window", &use)) return -1;
    if (use) return refuse(r, "use_sliding_window", "sliding-window attention is not supported");
    if ((!strcmp(arch, "mistral") || !strcmp(arch, "llama")) && field(r, NULL, "sliding_window"))
        return refuse(r, "sliding_window", "sliding-window attention is not supported (set it to null)");
    json_t *types = field(r, NULL, "layer_types");
    if (types) {
        size_t i;
        json_t *t;
        if (!json_is_array(types)) return refuse(r, "layer_types", "not a list");
        json_array_foreach(types, i, t)
            if (!json_is_string(t) || strcmp(json_string_value(t), "full_attention"))
                return refuse(r, "layer_types", "a layer other than full_attention is not supported");
    }
    return 0;
}

// rope_scaling (or rope_parameters): null, "default", or "llama3" with its four numbers.
static int read_rope(Reader *r, ModelConfig *m) {
    const char *key = "rope_scaling";
    json_t *sc = field(r, NULL, key);
    json_t *params = field(r, NULL, "rope_parameters");
    if (!sc && params) {
        key = "rope_parameters";
        sc = params;
        if (get_number(r, params, "rope_theta", 0, &m->rope_theta)) return -1;
    }
    if (!sc) return 0;
    if (!json_is_object(sc)) return refuse(r, key, "not an object or null");
    json_t *type = field(r, sc, "rope_type");
    if (!type) type = field(r, sc, "type");
    const char *t = type && json_is_string(type) ? json_string_value(type) : NULL;
    if (!t) return refuse(r, key, "no rope_type");
    if (!strcmp(t, "default")) return 0;
    if (strcmp(t, "llama3")) {
        char why[128];
        snprintf(why, sizeof why, "rope_type '%.40s' is not supported (llama3 or default only)", t);
        return refuse(r, key, why);
    }
    RopeScaling *s = &m->rope_scaling;
    if (get_number(r, sc, "factor", 1, &s->factor) || get_number(r, sc, "low_freq_factor", 1, &s->low_freq_factor) ||
        get_number(r, sc, "high_freq_factor", 1, &s->high_freq_factor) ||
        get_number(r, sc, "original_max_position_embeddings", 1, &s->original_max_pos))
        return -1;
    return 0;
}

static int read_fields(Reader *r, ModelConfig *m) {
    json_t *mt = field(r, NULL, "model_type");
    if (!mt || !json_is_string(mt)) return refuse(r, "model_type", "missing");
    const char *arch = json_string_value(mt);
    if (model_set_arch(m, arch)) {
        char why[128];
        snprintf(why, sizeof why, "'%.40s' is not supported (qwen2, llama, mistral, qwen3)", arch);
        return refuse(r, "model_type", why);
    }
    if (refuse_moe(r) || refuse_sliding(r, m->arch)) return -1;
    json_t *act = field(r, NULL, "hidden_act");
    if (act && (!json_is_string(act) || strcmp(json_string_value(act), "silu")))
        return refuse(r, "hidden_act", "only silu (SwiGLU) is supported");
    double partial = 1.0;
    if (get_number(r, NULL, "partial_rotary_factor", 0, &partial)) return -1;
    if (partial != 1.0) return refuse(r, "partial_rotary_factor", "partial rotary embeddings are not supported");
    int mlp_bias = 0, attn_bias = 0;
    if (get_bool(r, "mlp_bias", &mlp_bias)) return -1;
    if (mlp_bias) return refuse(r, "mlp_bias", "MLP biases are not supported");
    if (strcmp(m->arch, "qwen2")) { // Qwen2's biases are fixed: q, k, v yes, o no
        if (get_bool(r, "attention_bias", &attn_bias)) return -1;
        if (attn_bias) return refuse(r, "attention_bias", "true (q, k, v and o_proj biases) is not supported");
    }
    double eps = 1e-6;
    m->rope_theta = 10000.0;
    if (get_int(r, "vocab_size", 1, &m->vocab) || get_int(r, "hidden_size", 1, &m->hidden) ||
        get_int(r, "intermediate_size", 1, &m->mlp) || get_int(r, "num_hidden_layers", 1, &m->layers) ||
        get_int(r, "num_attention_heads", 1, &m->n_head))
        return -1;
    m->n_kv_head = m->n_head;
    if (get_int(r, "num_key_value_heads", 0, &m->n_kv_head)) return -1;
    if (m->hidden % m->n_head == 0) m->head_dim = m->hidden / m->n_head;
    if (get_int(r, "head_dim", 0, &m->head_dim)) return -1;
    if (!m->head_dim) return refuse(r, "head_dim", "missing, and hidden_size is not a multiple of num_attention_heads");
    if (get_number(r, NULL, "rms_norm_eps", 0, &eps) || get_number(r, NULL, "rope_theta", 0, &m->rope_theta) ||
        get_bool(r, "tie_word_embeddings", &m->tied_embeddings) || read_rope(r, m))
        return -1;
    m->rms_eps = (float)eps;
    char why[256];
    if (model_validate(m, why, sizeof why)) {
        snprintf(r->err, r->errlen, "%s: %s", r->path, why);
        return -1;
    }
    return 0;
}

// "dir/Qwen2.5-7B/config.json" -> "Qwen2.5-7B"; "configs/models/qwen2.5-7b.json" -> "qwen2.5-7b".
static void name_of(const char *path, char *out, size_t outlen) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!strcmp(base, "config.json") && base > path + 1) {
        const char *end = base - 1, *start = end;
        while (start > path && start[-1] != '/') start--;
        snprintf(out, outlen, "%.*s", (int)(end - start), start);
        return;
    }
    snprintf(out, outlen, "%s", base);
    size_t n = strlen(out);
    if (n > 5 && !strcmp(out + n - 5, ".json")) out[n - 5] = '\0';
}

// The root read (or NULL with jansson's error), checked and converted; every message one line.
static int convert(json_t *root, const json_error_t *je, const char *path, ModelConfig *m, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    char path_q[PB_QUOTE_BUF];
    pb_escape(path, PB_QUOTE_PATH, path_q, sizeof path_q);
    int rc;
    if (!root) {
        snprintf(err, errlen, "%s:%d: %s", path_q, je->line, je->text);
        rc = -1;
    } else {
        Reader r = {path_q, root, err, errlen};
        rc = json_is_object(root) ? read_fields(&r, m) : refuse(&r, "(top level)", "not a JSON object");
        if (!rc) name_of(path, m->name, sizeof m->name);
        json_decref(root);
    }
    if (rc) pb_one_line(err); // jansson's text can quote the offending bytes
    return rc;
}

int hf_config_load(const char *path, ModelConfig *m, char *err, size_t errlen) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    return convert(root, &je, path, m, err, errlen);
}

int hf_config_parse(const char *text, size_t len, const char *label, ModelConfig *m, char *err, size_t errlen) {
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    return convert(root, &je, label, m, err, errlen);
}
