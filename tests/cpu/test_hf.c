/*
 * test_hf: the CPU reference against Hugging Face transformers' own implementation of each
 * architecture (fixtures of dev/hf_fixtures.py, tests/cpu/data/hf: tiny Qwen2 with biases and a
 * tied head, Llama with Llama 3 RoPE scaling and head_dim != hidden / heads, Qwen3 with the q/k
 * norm, Mistral tied). For each: the config.json read by packbench's reader gives the fixture's
 * parameter count; rope_inv_freq equals the frequencies transformers uses; and cpu_step in each
 * layout (padded, packed, prefix) on the fixture's weights and tokens gives transformers' loss
 * within 1e-5 relative and every gradient tensor within 1e-5 norm-relative (||g - g_hf|| /
 * ||g_hf||; transformers ran in float64, the reference stores fp32 and reduces in double, and
 * transformers computes RoPE angles in fp32: measured errors are printed).
 * argv[1]: the source root.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness/hf_config.h"
#include "../../reference/cpu_step.h"
#include "hf_fixture.h"
#include "tiny.h"


static void check_fixture(const char *root, const char *name) {
    char path[1024], err[1200] = "";
    ModelConfig m;
    snprintf(path, sizeof path, "%s/tests/cpu/data/hf/%s.json", root, name);
    int rc = hf_config_load(path, &m, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    HfFixture x;
    snprintf(path, sizeof path, "%s/tests/cpu/data/hf/%s.fix", root, name);
    if (rc || hf_fixture_load(path, &x, err, sizeof err)) {
        CHECK(0, "%s", err);
        return;
    }
    size_t off[P_COUNT], n = model_param_offsets(&m, off);
    CHECK(n == x.n_floats, "%s: %zu parameters in the table, fixture has %zu", name, n, x.n_floats);
    CHECK(x.n_freq == m.head_dim / 2, "%s: %d frequencies, head_dim %d", name, x.n_freq, m.head_dim);
    double freq[HF_FIX_MAX], worst_f = 0.0;
    model_rope_inv_freq(&m, freq);
    for (int i = 0; i < x.n_freq && i < m.head_dim / 2; i++)
        worst_f = fmax(worst_f, fabs(freq[i] - x.inv_freq[i]) / x.inv_freq[i]);
    CHECK(worst_f <= 1e-6, "%s: rope_inv_freq differs from transformers' by %.2e relative", name, worst_f);

    GroupBatch g;
    CHECK(groups_make(&g, x.B, x.K, x.prompt_lens, x.comp_lens, m.vocab, 1) == 0 && g.n_ids == x.n_ids,
          "%s: groups", name);
    memcpy(g.ids, x.ids, x.n_ids * sizeof *g.ids);
    float *grads = malloc(n * sizeof(float));
    for (int st = 0; st < STRATEGY_COUNT && n == x.n_floats; st++) {
        Layout l;
        CHECK(layout_build(&l, (Strategy)st, &g) == 0, "layout");
        double loss = cpu_step(&m, x.params, grads, &l, 1);
        double el = fabs(loss - x.loss) / fabs(x.loss);
        int wt = 0;
        double eg = grads_rel_err(&m, x.grads, grads, &wt);
        printf("test_hf: %-16s %-6s loss %.9f (transformers %.9f, rel %.1e), worst gradient rel %.1e (%s)\n", name,
               strategy_name((Strategy)st), loss, x.loss, el, eg, model_param_name((ParamId)wt));
        CHECK(el <= 1e-5, "%s %s: loss rel err %.2e", name, strategy_name((Strategy)st), el);
        CHECK(eg <= 1e-5, "%s %s: gradient rel err %.2e in %s", name, strategy_name((Strategy)st), eg,
              model_param_name((ParamId)wt));
        layout_free(&l);
    }
    free(grads);
    groups_free(&g);
    hf_fixture_free(&x);
}

int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : ".";
    static const char *const names[] = {"qwen2_bias_tied", "llama3_scaling", "qwen3_qknorm", "mistral_tied"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) check_fixture(root, names[i]);
    return test_finish("test_hf");
}
