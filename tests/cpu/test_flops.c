/*
 * test_flops: model_flops and the parameter table against numbers computed by hand.
 *
 * Tiny model (C 64, 4 q / 2 kv heads of 16, F 128, L 2, V 512): multiply-adds per token
 *   L * (C*Hq*D + 2*C*Hkv*D + Hq*D*C + 3*C*F) = 2 * (4096 + 4096 + 4096 + 24576) = 73728,
 * so 6 * 73728 = 442368 dense FLOPs per token slot; attention 2 * 4 * (4*16) * 3.5 = 1792 per
 * allowed pair; LM head 6 * 64 * 512 = 196608 per loss row.
 * Layout: one group, prompt 3, completions 2 and 1.
 *   padded: 2 rows x 5 = 10 slots, pairs 15 + 10 = 25;  packed: 9 slots, 25 pairs;
 *   prefix: 6 slots, pairs 6 (prompt) + (4 + 5) (c1) + 4 (c2) = 19.
 * Qwen2.5-7B: per layer 3584^2 (q) + 2*3584*512 (k, v) + 3584^2 (o) + 3*3584*18944 (MLP)
 *   = 233046016 linear weights, x 28 = 6525288448 (the "6.53e9 non-embedding linear params"),
 *   6 x that = 39151730688 dense FLOPs per token; LM head 6 * 3584 * 152064 = 3269984256 per
 *   loss row; attention 28 * 28 * 512 * 3.5 = 1404928 per pair; 7615616512 parameters in all.
 * Qwen3-0.6B (head_dim x heads != hidden, tied): see main.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../model/model.h"
#include "tiny.h"
#include "../test_util.h"


static void check_flops(const char *what, Flops f, double dense, double attn, double head) {
    CHECK(f.dense == dense && f.attention == attn && f.lm_head == head && f.total == dense + attn + head,
          "%s: dense %.17g attention %.17g lm_head %.17g total %.17g; want %.17g %.17g %.17g", what, f.dense,
          f.attention, f.lm_head, f.total, dense, attn, head);
}

int main(void) {
    ModelConfig m = tiny_model();
    int32_t pl[1] = {3}, cl[2] = {2, 1};
    GroupBatch g;
    CHECK(groups_make(&g, 1, 2, pl, cl, m.vocab, 5) == 0, "groups_make");
    static const size_t slots[STRATEGY_COUNT] = {10, 9, 6, 6}, pairs[STRATEGY_COUNT] = {25, 25, 19, 19};
    for (int s = 0; s < STRATEGY_COUNT; s++) {
        Layout l;
        layout_build(&l, (Strategy)s, &g);
        CHECK(l.n_slots == slots[s] && l.attn_pairs == pairs[s] && l.n_loss == 3, "%s: slots %zu pairs %zu loss %zu",
              strategy_name((Strategy)s), l.n_slots, l.attn_pairs, l.n_loss);
        check_flops(strategy_name((Strategy)s), model_flops(&m, l.n_slots, l.attn_pairs, l.n_loss),
                    442368.0 * slots[s], 1792.0 * pairs[s], 196608.0 * 3);
        layout_free(&l);
    }
    groups_free(&g);

    ModelConfig q = {.name = "qwen2.5-7b", .vocab = 152064, .hidden = 3584, .layers = 28, .n_head = 28,
                     .n_kv_head = 4, .head_dim = 128, .mlp = 18944, .rms_eps = 1e-6f, .rope_theta = 1e6,
                     .tied_embeddings = 0, .arch = "qwen2", .qkv_bias = 1};
    char err[128];
    CHECK(model_validate(&q, err, sizeof err) == 0, "%s", err);
    Flops one = model_flops(&q, 1, 0, 0);
    CHECK(one.dense == 39151730688.0, "7B dense FLOPs per token %.17g, want 39151730688", one.dense);
    check_flops("7B", model_flops(&q, 1000, 5000, 300), 39151730688.0 * 1000, 1404928.0 * 5000, 3269984256.0 * 300);
    size_t off[P_COUNT], total = model_param_offsets(&q, off);
    CHECK(total == 7615616512u, "7B parameters %zu, want 7615616512", total);
    size_t lin = 0;
    static const ParamId linear[] = {P_WQ, P_WK, P_WV, P_WO, P_WGATE, P_WUP, P_WDOWN};
    size_t sizes[P_COUNT];
    model_param_sizes(&q, sizes);
    for (int i = 0; i < 7; i++) lin += sizes[linear[i]];
    CHECK(lin == 6525288448u, "7B non-embedding linear weights %zu, want 6525288448", lin);
    // Qwen3-0.6B: head_dim x heads = 2048 != hidden 1024, tied. Per token
    // 28 * (1024*2048 + 2*1024*1024 + 2048*1024 + 3*1024*3072) = 440401920 multiply-adds, x 6;
    // attention 28 * 16 * (4*128) * 3.5 = 802816 per pair; LM head 6 * 1024 * 151936 per loss
    // row (the tied head is still applied); 596049920 parameters, the embedding counted once.
    ModelConfig q3 = {.name = "qwen3-0.6b", .vocab = 151936, .hidden = 1024, .layers = 28, .n_head = 16,
                      .n_kv_head = 8, .head_dim = 128, .mlp = 3072, .rms_eps = 1e-6f, .rope_theta = 1e6,
                      .tied_embeddings = 1, .arch = "qwen3", .qk_norm = 1};
    check_flops("qwen3-0.6b", model_flops(&q3, 10, 70, 3), 6.0 * 440401920.0 * 10, 802816.0 * 70,
                6.0 * 1024 * 151936 * 3);
    CHECK(model_param_offsets(&q3, off) == 596049920u, "qwen3-0.6b parameters %zu", model_param_offsets(&q3, off));
    printf("test_flops: 7B dense %.4e FLOPs/token (6 x %.4e linear weights), %zu parameters; %d failures\n",
           one.dense, (double)lin, total, failures);
    return failures ? 1 : 0;
}
