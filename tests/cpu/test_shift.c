/*
 * test_shift: proves the strategy-equality test fails for the reason that matters.
 *
 * A prefix layout whose loss pairs are the plain one-token shift of its row (every completion
 * token predicted from the slot before it) predicts c_2[0] from c_1's last token instead of
 * the prompt's last token. Its loss must differ from the padded loss by far more than the
 * equality tolerance (1e-5), while the real prefix layout (loss pairs from layout_build)
 * matches. With K = 1 there is no sibling, so the shift is right and must match too.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../reference/cpu_step.h"
#include "tiny.h"
#include "../test_util.h"


int main(void) {
    ModelConfig m = tiny_model();
    size_t off[P_COUNT], n = model_param_offsets(&m, off);
    float *params = malloc(n * sizeof(float)), *gpad = malloc(n * sizeof(float)), *gpre = malloc(n * sizeof(float)),
          *gsh = malloc(n * sizeof(float));
    model_init_params(&m, 42, params);
    static const int ks[] = {1, 2, 4};
    for (int ki = 0; ki < 3; ki++) {
        GroupBatch g;
        test_random_groups(&g, 2, ks[ki], 6, 5, m.vocab, (77 + (uint64_t)ki) ^ 0x5eedull, 77 + (uint64_t)ki);
        Layout pad, pre;
        layout_build(&pad, STRATEGY_PADDED, &g);
        layout_build(&pre, STRATEGY_PREFIX, &g);

        // The naive loss pairs: every completion slot s is predicted from slot s - 1.
        Layout shifted = pre;
        shifted.loss_row = malloc(pre.n_loss * sizeof(int32_t));
        shifted.loss_target = malloc(pre.n_loss * sizeof(int32_t));
        size_t nl = 0;
        for (int i = 0; i < pre.n_segs; i++)
            for (int j = 0; j < pre.segs[i].len; j++, nl++) {
                int32_t s = pre.segs[i].start + j;
                shifted.loss_row[nl] = s - 1;
                shifted.loss_target[nl] = pre.tokens[s];
            }
        CHECK(nl == pre.n_loss, "shifted pairs %zu, want %zu", nl, pre.n_loss);

        double lpad = cpu_step(&m, params, gpad, &pad, 1), lpre = cpu_step(&m, params, gpre, &pre, 1),
               lsh = cpu_step(&m, params, gsh, &shifted, 1);
        double epre = fabs(lpre - lpad) / fabs(lpad), esh = fabs(lsh - lpad) / fabs(lpad);
        double gepre = grads_rel_err(&m, gpad, gpre, NULL), gesh = grads_rel_err(&m, gpad, gsh, NULL);
        printf("test_shift: K=%d: prefix vs padded loss rel err %.2e, gradient %.2e; naive shift: loss %.2e, "
               "gradient %.2e\n", ks[ki], epre, gepre, esh, gesh);
        CHECK(epre <= 1e-5 && gepre <= 1e-5, "K=%d: real prefix layout does not match padded", ks[ki]);
        if (ks[ki] == 1)
            CHECK(esh <= 1e-5 && gesh <= 1e-5, "K=1: the shift is right without siblings, yet differs");
        else
            CHECK(esh >= 100 * 1e-5 && gesh >= 100 * 1e-5,
                  "K=%d: the naive shift is not caught (loss %.2e, gradient %.2e, need >= 1e-3)", ks[ki], esh, gesh);
        free(shifted.loss_row);
        free(shifted.loss_target);
        layout_free(&pad);
        layout_free(&pre);
        groups_free(&g);
    }
    free(params); free(gpad); free(gpre); free(gsh);
    printf("test_shift: %d failures\n", failures);
    return failures ? 1 : 0;
}
