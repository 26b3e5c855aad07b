/*
 * test_tree_step: the CPU step's loss and every parameter gradient equal across the four layouts
 * of random forests of depth 2-4 (fp32, per tensor ||g_a - g_b|| / ||g_a|| <= 1e-5, loss relative
 * 1e-5), and two plausible mistakes in the tree layout caught breaking that equality:
 *  - the plain shift: every loss slot predicted from the slot before it (a segment's first token
 *    from its preceding sibling's subtree instead of its parent's last token), weight 1;
 *  - the right pairs without the path weights (every weight 1).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../reference/cpu_step.h"
#include "tiny.h"


// A mistake must move the loss by 20x the tolerance where it changes the loss pairs at all.
static const double TOL = 1e-5, CAUGHT = 2e-4;

static int cmp_triple(const void *a, const void *b) {
    const int32_t *x = a, *y = b;
    for (int i = 0; i < 3; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

// Whether two layouts' weighted loss pairs (row, target, weight) differ as multisets.
static int pairs_differ(const Layout *a, const Layout *b) {
    if (a->n_loss != b->n_loss) return 1;
    int32_t (*x)[3] = malloc((a->n_loss + 1) * sizeof *x), (*y)[3] = malloc((a->n_loss + 1) * sizeof *y);
    for (size_t i = 0; i < a->n_loss; i++) {
        x[i][0] = a->loss_row[i]; x[i][1] = a->loss_target[i]; x[i][2] = a->loss_weight[i];
        y[i][0] = b->loss_row[i]; y[i][1] = b->loss_target[i]; y[i][2] = b->loss_weight[i];
    }
    qsort(x, a->n_loss, sizeof *x, cmp_triple);
    qsort(y, a->n_loss, sizeof *y, cmp_triple);
    int d = memcmp(x, y, a->n_loss * sizeof *x) != 0;
    free(x); free(y);
    return d;
}

// The tree layout with its loss pairs replaced by the plain shift of its loss-carrying slots.
static void shifted_pairs(const Layout *t, const Forest *f, Layout *out) {
    ForestWalk w;
    forest_walk(&w, f);
    *out = *t;
    out->loss_row = malloc(t->n_slots * sizeof(int32_t));
    out->loss_target = malloc(t->n_slots * sizeof(int32_t));
    out->loss_weight = malloc(t->n_slots * sizeof(int32_t));
    out->n_loss = 0;
    for (size_t s = 1; s < t->n_slots; s++) // tree node i is segment w.order[i]
        if (f->loss[w.order[t->node_of[s]]]) {
            out->loss_row[out->n_loss] = (int32_t)s - 1;
            out->loss_weight[out->n_loss] = 1;
            out->loss_target[out->n_loss++] = t->tokens[s];
        }
    forest_walk_free(&w);
}

// The tree layout's pairs with every weight 1 (the path weights dropped); 1 if that changes any.
static int unweighted_pairs(const Layout *t, Layout *out) {
    *out = *t;
    out->loss_weight = malloc((t->n_loss + 1) * sizeof(int32_t));
    int changed = 0;
    for (size_t i = 0; i < t->n_loss; i++) {
        out->loss_weight[i] = 1;
        changed |= t->loss_weight[i] != 1;
    }
    return changed;
}

int main(void) {
    ModelConfig m = tiny_model();
    size_t off[P_COUNT], n = model_param_offsets(&m, off);
    float *params = malloc(n * sizeof(float)), *g[STRATEGY_COUNT], *gx = malloc(n * sizeof(float));
    for (int s = 0; s < STRATEGY_COUNT; s++) g[s] = malloc(n * sizeof(float));
    model_init_params(&m, 42, params);
    double worst_loss = 0, worst_grad = 0, least_shift = INFINITY, least_unweighted = INFINITY;
    int n_forests = 0, n_shift = 0, n_unweighted = 0;
    for (int depth = 2; depth <= 4; depth++)
        for (uint64_t seed = 1; seed <= 5; seed++) {
            Forest f;
            if (tiny_forest(&f, depth, 5, m.vocab, seed * 7 + (uint64_t)depth)) { CHECK(0, "tiny_forest"); continue; }
            Layout l[STRATEGY_COUNT];
            double loss[STRATEGY_COUNT];
            for (int s = 0; s < STRATEGY_COUNT; s++) {
                CHECK(layout_build_forest(&l[s], (Strategy)s, &f) == 0, "layout_build_forest %s", strategy_name((Strategy)s));
                loss[s] = cpu_step(&m, params, g[s], &l[s], 1);
            }
            for (int s = 1; s < STRATEGY_COUNT; s++) {
                double el = fabs(loss[s] - loss[0]) / fabs(loss[0]), eg = grads_rel_err(&m, g[0], g[s], NULL);
                worst_loss = fmax(worst_loss, el);
                worst_grad = fmax(worst_grad, eg);
                CHECK(el <= TOL && eg <= TOL, "depth %d seed %llu: %s vs padded: loss %.2e gradient %.2e", depth,
                      (unsigned long long)seed, strategy_name((Strategy)s), el, eg);
            }
            // Each mistake is checked where it changes the pairs (the shift is right along a chain
            // of first children; weights matter only for a loss-carrying segment on several paths).
            Layout bad;
            shifted_pairs(&l[STRATEGY_TREE], &f, &bad);
            if (pairs_differ(&bad, &l[STRATEGY_TREE])) {
                double es = fabs(cpu_step(&m, params, gx, &bad, 1) - loss[0]) / fabs(loss[0]);
                least_shift = fmin(least_shift, es);
                n_shift++;
                CHECK(es >= CAUGHT, "depth %d seed %llu: the plain shift is not caught (%.2e)", depth, (unsigned long long)seed, es);
            }
            free(bad.loss_row); free(bad.loss_target); free(bad.loss_weight);
            if (unweighted_pairs(&l[STRATEGY_TREE], &bad)) {
                double eu = fabs(cpu_step(&m, params, gx, &bad, 1) - loss[0]) / fabs(loss[0]);
                least_unweighted = fmin(least_unweighted, eu);
                n_unweighted++;
                CHECK(eu >= CAUGHT, "depth %d seed %llu: dropped weights not caught (%.2e)", depth, (unsigned long long)seed, eu);
            }
            free(bad.loss_weight);
            for (int s = 0; s < STRATEGY_COUNT; s++) layout_free(&l[s]);
            forest_free(&f);
            n_forests++;
        }
    printf("test_tree_step: %d forests (depth 2-4): worst loss rel diff %.2e, worst gradient %.2e (tolerance %.0e); "
           "plain shift caught at >= %.2e in %d forests, dropped weights at >= %.2e in %d (need %.0e)\n",
           n_forests, worst_loss, worst_grad, TOL, least_shift, n_shift, least_unweighted, n_unweighted, CAUGHT);
    CHECK(n_shift >= 4 && n_unweighted >= 4, "too few forests where the mistakes apply (%d, %d)", n_shift, n_unweighted);
    for (int s = 0; s < STRATEGY_COUNT; s++) free(g[s]);
    free(params); free(gx);
    return test_finish("test_tree_step");
}
