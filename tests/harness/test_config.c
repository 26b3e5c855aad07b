/*
 * test_config.c: the configs/ parser. Every shipped config loads with the values the brief
 * gives; every file in tests/harness/bad/ is rejected with exactly one line naming the file,
 * the line and the key. argv[1]: the source root.
 */
#include <stdio.h>
#include <string.h>

#include "../../harness/config.h"
#include "../test_util.h"



static void check_model(const char *root, const char *name, int vocab, int hidden, int layers, int nh, int nkv,
                        int hd, int mlp, double eps, double theta, int tied) {
    char path[1024], err[600] = "";
    snprintf(path, sizeof path, "%s/configs/models/%s.conf", root, name);
    ModelConfig m;
    int rc = config_load_model(path, &m, err, sizeof err);
    CHECK(rc == 0, "%s: %s", name, err);
    if (rc) return;
    CHECK(!strcmp(m.name, name), "name %s", m.name);
    CHECK(m.vocab == vocab && m.hidden == hidden && m.layers == layers && m.n_head == nh && m.n_kv_head == nkv &&
          m.head_dim == hd && m.mlp == mlp && m.tied_embeddings == tied, "%s: shape differs", name);
    CHECK(m.rms_eps == (float)eps && m.rope_theta == theta, "%s: eps %g theta %g", name, m.rms_eps, m.rope_theta);
}

static void check_sweeps(const char *root) {
    char path[1024], err[600] = "";
    SweepConfig s;
    snprintf(path, sizeof path, "%s/configs/sweeps/nll_2_qwen7b.conf", root);
    CHECK(config_load_sweep(path, &s, err, sizeof err) == 0, "%s", err);
    CHECK(!strcmp(s.model, "qwen2.5-7b") && s.kind == SWEEP_GRID && s.prompts == 3 && s.completions == 2, "nll_2 header");
    CHECK(s.n_prompt_lens == 8 && s.n_completion_lens == 8, "nll_2 grid %d x %d", s.n_prompt_lens, s.n_completion_lens);
    for (int i = 0; i < 8 && i < s.n_prompt_lens; i++)
        CHECK(s.prompt_lens[i] == 128 << i && s.completion_lens[i] == 128 << i, "nll_2 length %d", i);
    snprintf(path, sizeof path, "%s/configs/sweeps/random.conf", root);
    CHECK(config_load_sweep(path, &s, err, sizeof err) == 0, "%s", err);
    CHECK(s.kind == SWEEP_RANDOM && s.min_len == 128 && s.max_len == 16384 && s.cells > 0 && s.prompts == 3 &&
          s.completions == 2, "random sweep");
    snprintf(path, sizeof path, "%s/configs/sweeps/tiny.conf", root);
    CHECK(config_load_sweep(path, &s, err, sizeof err) == 0, "%s", err);
    CHECK(!strcmp(s.model, "tiny") && s.min_time > 0, "tiny sweep");
    snprintf(path, sizeof path, "%s/configs/sweeps/system.conf", root);
    CHECK(config_load_sweep(path, &s, err, sizeof err) == 0, "%s", err);
    CHECK(s.kind == SWEEP_TREE && s.n_levels == 3 && s.branching[1] == 4 && s.branching[2] == 4 && s.level_loss[2] == 1 &&
          !s.level_loss[0] && s.n_level_lens[0] == 5 && s.level_lens[0][0] == 1024 && s.level_lens[0][4] == 16384,
          "system sweep");
    snprintf(path, sizeof path, "%s/configs/sweeps/multiturn.conf", root);
    CHECK(config_load_sweep(path, &s, err, sizeof err) == 0, "%s", err);
    CHECK(s.kind == SWEEP_TREE && s.n_levels == 6 && s.level_loss[1] && s.level_loss[3] && s.level_loss[5] &&
          !s.level_loss[0] && !s.level_loss[2] && !s.level_loss[4], "multiturn: assistant turns carry loss");
    snprintf(path, sizeof path, "%s/configs/sweeps/grpo_16_qwen7b.conf", root);
    CHECK(config_load_sweep(path, &s, err, sizeof err) == 0, "%s", err);
    CHECK(s.kind == SWEEP_GRID && s.prompts == 2 && s.completions == 16 && s.n_prompt_lens == 6 &&
          s.prompt_lens[0] == 256 && s.prompt_lens[5] == 8192 && s.n_completion_lens == 5 &&
          s.completion_lens[0] == 256 && s.completion_lens[4] == 4096, "grpo_16_qwen7b sweep");
}

// A malformed file: rejected, one line, "PATH:LINE: ..." containing want.
static void check_bad(const char *root, const char *file, int is_model, int line, const char *want) {
    char path[1024], err[600] = "", prefix[1100];
    snprintf(path, sizeof path, "%s/tests/harness/bad/%s", root, file);
    ModelConfig m;
    SweepConfig s;
    int rc = is_model ? config_load_model(path, &m, err, sizeof err) : config_load_sweep(path, &s, err, sizeof err);
    snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
    CHECK(rc == -1, "%s accepted", file);
    CHECK(!strchr(err, '\n') && err[0], "%s: message is not one line: '%s'", file, err);
    CHECK(!strncmp(err, prefix, strlen(prefix)), "%s: message '%s' does not start with '%s'", file, err, prefix);
    CHECK(strstr(err, want) != NULL, "%s: message '%s' lacks '%s'", file, err, want);
}

// Issue 15 cases 1, 2 on model_validate itself (the path a program that builds a ModelConfig
// takes): on main the parameter count wrapped (a heap overflow in model_init_params) and
// n_head * head_dim overflowed int to pass validation.
static void check_validate(void) {
    char err[300];
    ModelConfig wrap = { .name = "wrap", .vocab = 2, .hidden = 65536, .layers = 16777216, .n_head = 1, .n_kv_head = 1,
                         .head_dim = 65536, .mlp = 16689833, .rms_eps = 1e-6f, .rope_theta = 1e4, .tied_embeddings = 1 };
    CHECK(model_validate(&wrap, err, sizeof err) == -1 && strstr(err, "above its bound"), "case 1 accepted: %s", err);
    ModelConfig heads = { .name = "heads", .vocab = 512, .hidden = 64, .layers = 2, .n_head = 67108865, .n_kv_head = 1,
                          .head_dim = 64, .mlp = 128, .rms_eps = 1e-6f, .rope_theta = 1e4 };
    CHECK(model_validate(&heads, err, sizeof err) == -1, "case 2 accepted");
    // within its bound: valid since head_dim is independent of hidden (issue 13), and its count,
    // computed in 64 bits, is the table's
    heads.n_head = 1024;
    uint64_t hn = 0;
    size_t hoff[P_COUNT];
    CHECK(model_validate(&heads, err, sizeof err) == 0 && model_param_count_checked(&heads, &hn) == 0 &&
          hn == model_param_offsets(&heads, hoff), "product: %s", err);
    // every size at its bound: 2^40 parameters is exceeded, reported, nothing wraps
    ModelConfig top = { .name = "top", .vocab = PB_MODEL_MAX_VOCAB, .hidden = PB_MODEL_MAX_HIDDEN, .layers = PB_MODEL_MAX_LAYERS,
                        .n_head = 64, .n_kv_head = 64, .head_dim = 1024, .mlp = PB_MODEL_MAX_MLP, .rms_eps = 1e-6f, .rope_theta = 1e4 };
    uint64_t n = 0;
    CHECK(model_param_count_checked(&top, &n) == 0 && n > PB_MODEL_MAX_PARAMS, "top count %llu", (unsigned long long)n);
    CHECK(model_validate(&top, err, sizeof err) == -1 && strstr(err, "parameters, above the bound"), "top: %s", err);
}

int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : ".";
    check_model(root, "qwen2.5-7b", 152064, 3584, 28, 28, 4, 128, 18944, 1e-6, 1e6, 0);
    check_model(root, "qwen2.5-0.5b", 151936, 896, 24, 14, 2, 64, 4864, 1e-6, 1e6, 1);
    check_model(root, "tiny", 512, 64, 2, 4, 2, 16, 128, 1e-6, 1e4, 0);
    check_sweeps(root);
    check_validate();
    check_bad(root, "model_unknown_key.conf", 1, 4, "key 'layerz': unknown key");
    check_bad(root, "model_bad_number.conf", 1, 3, "key 'hidden': bad integer");
    check_bad(root, "model_missing_key.conf", 1, 10, "key 'mlp': missing");
    check_bad(root, "model_duplicate.conf", 1, 8, "key 'hidden': duplicate (first on line 3)");
    check_bad(root, "model_no_equals.conf", 1, 10, "expected 'key = value'");
    check_bad(root, "model_bad_bool.conf", 1, 11, "key 'tied_embeddings': bad boolean");
    check_bad(root, "model_invalid.conf", 1, 11, "n_head must be a multiple of n_kv_head");
    check_bad(root, "model_negative.conf", 1, 9, "key 'rms_eps': bad number");
    check_bad(root, "sweep_bad_list.conf", 0, 5, "key 'prompt_lens': bad length list");
    check_bad(root, "sweep_bad_kind.conf", 0, 2, "key 'kind': unknown kind");
    check_bad(root, "sweep_missing_lens.conf", 0, 4, "key 'completion_lens': missing");
    check_bad(root, "sweep_random_range.conf", 0, 7, "key 'max_len': smaller than min_len");
    check_bad(root, "sweep_too_many_completions.conf", 0, 3, "key 'completions': bad integer (want 1..64)");
    check_bad(root, "sweep_tree_loss_count.conf", 0, 4, "key 'loss': needs one value per level");
    check_bad(root, "sweep_tree_extra_level.conf", 0, 7, "key 'level2_lens': deeper than branching");
    check_bad(root, "sweep_tree_bad_loss.conf", 0, 4, "key 'loss': bad list");
    // lookup by name and by path
    char path[4200], err[600];
    CHECK(config_find("models", "tiny", path, sizeof path, err, sizeof err) == 0, "find tiny: %s", err);
    CHECK(config_find("models", "no-such-model", path, sizeof path, err, sizeof err) == -1 && strstr(err, "no-such-model"),
          "unknown name accepted");
    CHECK(config_find("sweeps", "/nonexistent/x.conf", path, sizeof path, err, sizeof err) == -1, "missing path accepted");
    printf("%s: %d failure(s)\n", argv[0], failures);
    return failures ? 1 : 0;
}
