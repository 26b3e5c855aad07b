/*
 * test_ops: every op of reference/cpu_ops.h on its own.
 *
 * Forward: against the definition, computed here in double and independently: RMSNorm and
 * SwiGLU by formula, the linear layer by a naive sum, RoPE by the rotate-half formula with its
 * own angles (plus the relative-position property q(m).k(n) = f(m - n)), attention by a brute
 * force softmax over the keys layout_allows permits (the definition of the mask, not the key
 * ranges the op walks), on padded, packed and prefix layouts with GQA; the cross-entropy by a
 * plain log-sum-exp; Qwen3's per-head RMSNorm by formula; RoPE from a Llama 3 scaled frequency
 * table (its three bands in use) by the formula with that table.
 *
 * Backward: against central finite differences of f = sum(R * out) for a fixed random R, the
 * backward being fed dout = R. The ops are fp32 with double reductions. With inputs O(1) and
 * eps = 1e-3, the fp32 rounding of the ~1e3 outputs puts ~3e-6 of noise on f, i.e. ~1e-3
 * absolute on a difference quotient; truncation is O(eps^2) = 1e-6. Tolerance: 1% of |g| +
 * 2e-3 of the largest |g| of the tensor, about 10x the noise; a wrong sign, a missing term or
 * a wrong mask is an O(1) error (the test was run against such mutants). Also checked: the
 * accumulate (+=) versus overwrite (=) contract of each backward, and zero gradients and
 * out = 0, lse = -inf on padding queries.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../model/model.h"
#include "../../reference/cpu_ops.h"
#include "tiny.h"
#include "../test_util.h"

static double worst_fd = 0.0, worst_fwd = 0.0;

static Rng rng;
static float *randn(size_t n, float scale) {
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = scale * rng_normal(&rng);
    return x;
}
static float *zeros(size_t n) { return calloc(n, sizeof(float)); }

static void check_close(const char *what, const float *got, const double *want, size_t n, double tol) {
    double worst = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]) / (fabs(want[i]) + 1.0);
        if (e > worst || e != e) { worst = e; at = i; }
    }
    if (worst > worst_fwd) worst_fwd = worst;
    CHECK(worst <= tol, "%s forward: [%zu] = %.7g, want %.7g", what, at, got[at], want[at]);
}

/* ---- finite differences over an op's forward, f = sum(R * out) ---- */
typedef enum { OP_RMSNORM, OP_LINEAR, OP_ROPE, OP_ATTN, OP_SWIGLU, OP_CE, OP_HEADNORM, OP_ROPE_FREQ } OpKind;
typedef struct Case {
    OpKind op;
    size_t T; int C, K, N, H, Hkv, D, V;
    const Layout *l;
    float *x, *w, *b, *x2, *x3; // inputs (meaning per op)
    float *out, *aux, *R;       // output buffer, second output, R
    int32_t *pos, *rows, *targets;
    size_t n_out, n_loss;
    const double *inv_freq;     // OP_ROPE_FREQ
} Case;

static double objective(Case *c) {
    switch (c->op) {
    case OP_RMSNORM: cpu_rmsnorm_forward(c->out, c->aux, c->x, c->w, c->T, c->C, 1e-6f); break;
    case OP_LINEAR: cpu_linear_forward(c->out, c->x, c->w, c->b, c->T, c->K, c->N); break;
    case OP_ROPE: memcpy(c->out, c->x, c->n_out * sizeof(float));
                  cpu_rope_forward_theta(c->out, c->pos, c->T, c->H, c->D, 10000.0); break;
    case OP_ATTN: cpu_attention_forward(c->out, c->aux, c->x, c->x2, c->x3, c->l, c->H, c->Hkv, c->D); break;
    case OP_SWIGLU: cpu_swiglu_forward(c->out, c->x, c->x2, c->n_out); break;
    case OP_HEADNORM: cpu_head_rmsnorm_forward(c->out, c->aux, c->x, c->w, c->T, c->H, c->D, 1e-6f); break;
    case OP_ROPE_FREQ: memcpy(c->out, c->x, c->n_out * sizeof(float));
                       cpu_rope_forward(c->out, c->pos, c->T, c->H, c->D, c->inv_freq); break;
    case OP_CE: {
        float *dh = zeros(c->T * c->C), *dw = zeros((size_t)c->V * c->C);
        double loss = cpu_linear_cross_entropy(dh, dw, c->x, c->w, c->rows, c->targets, NULL, c->n_loss, c->C, c->V);
        free(dh); free(dw);
        return loss;
    }
    }
    double f = 0.0;
    for (size_t i = 0; i < c->n_out; i++) f += (double)c->R[i] * c->out[i];
    return f;
}

// Checks grad (n) of input x against finite differences: 4 largest |grad| entries and 8 random ones.
static void fd_check(const char *what, Case *c, float *x, const float *grad, size_t n) {
    const double eps = 1e-3;
    double gmax = 0.0;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(grad[i]));
    size_t pick[12];
    for (int i = 0; i < 4; i++) {
        size_t best = 0;
        double bv = -1;
        for (size_t j = 0; j < n; j++) {
            int taken = 0;
            for (int k = 0; k < i; k++) taken |= pick[k] == j;
            if (!taken && fabs(grad[j]) > bv) { bv = fabs(grad[j]); best = j; }
        }
        pick[i] = best;
    }
    for (int i = 4; i < 12; i++) pick[i] = (size_t)rng_range(&rng, 0, (int64_t)n - 1);
    for (int i = 0; i < 12; i++) {
        float saved = x[pick[i]];
        x[pick[i]] = saved + (float)eps;
        double fp = objective(c);
        x[pick[i]] = saved - (float)eps;
        double fm = objective(c);
        x[pick[i]] = saved;
        double fd = (fp - fm) / (2 * eps), an = grad[pick[i]];
        double e = fabs(fd - an) / (0.01 * fabs(an) + 2e-3 * gmax + 1e-7);
        if (e > worst_fd) worst_fd = e;
        CHECK(e <= 1.0, "%s backward [%zu]: analytic %.7g, finite difference %.7g", what, pick[i], an, fd);
    }
}

static void test_embedding(void) {
    const int C = 8;
    int32_t tok[5] = {3, 1, 3, 0, 2};
    float *wte = randn(4 * C, 1.0f), *out = zeros(5 * C), *dout = randn(5 * C, 1.0f), *dw = randn(4 * C, 1.0f);
    float *dw0 = malloc(4 * C * sizeof(float));
    memcpy(dw0, dw, 4 * C * sizeof(float));
    cpu_embedding_forward(out, tok, wte, 5, C);
    int ok = 1;
    for (int t = 0; t < 5; t++) for (int i = 0; i < C; i++) ok &= out[t * C + i] == wte[tok[t] * C + i];
    CHECK(ok, "embedding forward");
    cpu_embedding_backward(dw, dout, tok, 5, C);
    double want[4 * 8];
    for (int i = 0; i < 4 * C; i++) want[i] = dw0[i];
    for (int t = 0; t < 5; t++) for (int i = 0; i < C; i++) want[tok[t] * C + i] += dout[t * C + i];
    check_close("embedding backward (+=, repeated tokens)", dw, want, 4 * C, 1e-6);
    free(wte); free(out); free(dout); free(dw); free(dw0);
}

static void test_rmsnorm(void) {
    Case c = {.op = OP_RMSNORM, .T = 6, .C = 32};
    size_t n = c.T * c.C;
    c.x = randn(n, 1.0f); c.w = randn(c.C, 1.0f); c.out = zeros(n); c.aux = zeros(c.T); c.R = randn(n, 1.0f);
    c.n_out = n;
    objective(&c);
    double *want = malloc(n * sizeof(double));
    for (size_t t = 0; t < c.T; t++) {
        double ss = 0;
        for (int i = 0; i < c.C; i++) ss += (double)c.x[t * c.C + i] * c.x[t * c.C + i];
        for (int i = 0; i < c.C; i++) want[t * c.C + i] = c.x[t * c.C + i] / sqrt(ss / c.C + 1e-6) * c.w[i];
    }
    check_close("rmsnorm", c.out, want, n, 1e-6);
    float *dx = randn(n, 1.0f), *dw = zeros(c.C), *dx0 = malloc(n * sizeof(float));
    memcpy(dx0, dx, n * sizeof(float));
    cpu_rmsnorm_backward(dx, dw, c.R, c.x, c.w, c.aux, c.T, c.C);
    for (size_t i = 0; i < n; i++) dx[i] -= dx0[i]; // dinp accumulates: take the increment
    fd_check("rmsnorm dinp", &c, c.x, dx, n);
    fd_check("rmsnorm dw", &c, c.w, dw, (size_t)c.C);
    free(want); free(dx); free(dw); free(dx0);
    free(c.x); free(c.w); free(c.out); free(c.aux); free(c.R);
}

static void test_linear(void) {
    Case c = {.op = OP_LINEAR, .T = 5, .K = 24, .N = 12};
    c.x = randn(c.T * c.K, 1.0f); c.w = randn((size_t)c.N * c.K, 0.3f); c.b = randn(c.N, 1.0f);
    c.n_out = c.T * c.N; c.out = zeros(c.n_out); c.R = randn(c.n_out, 1.0f);
    objective(&c);
    double *want = malloc(c.n_out * sizeof(double));
    for (size_t t = 0; t < c.T; t++)
        for (int o = 0; o < c.N; o++) {
            double s = c.b[o];
            for (int k = 0; k < c.K; k++) s += (double)c.x[t * c.K + k] * c.w[o * c.K + k];
            want[t * c.N + o] = s;
        }
    check_close("linear", c.out, want, c.n_out, 1e-6);
    float *dx = randn(c.T * c.K, 1.0f), *dw = zeros((size_t)c.N * c.K), *db = zeros(c.N);
    cpu_linear_backward(dx, dw, db, c.R, c.x, c.w, c.T, c.K, c.N); // dinp overwritten: garbage before
    fd_check("linear dinp", &c, c.x, dx, c.T * c.K);
    fd_check("linear dw", &c, c.w, dw, (size_t)c.N * c.K);
    fd_check("linear dbias", &c, c.b, db, (size_t)c.N);
    float *dw2 = malloc((size_t)c.N * c.K * sizeof(float));
    memcpy(dw2, dw, (size_t)c.N * c.K * sizeof(float));
    cpu_linear_backward(NULL, dw2, NULL, c.R, c.x, c.w, c.T, c.K, c.N);
    double *twice = malloc((size_t)c.N * c.K * sizeof(double));
    for (size_t i = 0; i < (size_t)c.N * c.K; i++) twice[i] = 2.0 * dw[i];
    check_close("linear dw accumulates (+=)", dw2, twice, (size_t)c.N * c.K, 1e-6);
    free(want); free(dx); free(dw); free(db); free(dw2); free(twice);
    free(c.x); free(c.w); free(c.b); free(c.out); free(c.R);
}

// The rotate-half rotation of c->x at c->pos by pos * freq[i], in double (malloc'd).
static double *rope_definition(const Case *c, const double *freq) {
    double *want = malloc(c->n_out * sizeof(double));
    for (size_t t = 0; t < c->T; t++)
        for (int h = 0; h < c->H; h++)
            for (int i = 0; i < c->D / 2; i++) {
                const float *x = c->x + (t * c->H + h) * c->D;
                double a = c->pos[t] * freq[i];
                want[(t * c->H + h) * c->D + i] = x[i] * cos(a) - x[i + c->D / 2] * sin(a);
                want[(t * c->H + h) * c->D + i + c->D / 2] = x[i + c->D / 2] * cos(a) + x[i] * sin(a);
            }
    return want;
}

static void test_rope(void) {
    Case c = {.op = OP_ROPE, .T = 4, .H = 3, .D = 8};
    int32_t pos[4] = {0, 1, 7, 1000};
    c.pos = pos;
    c.n_out = c.T * c.H * c.D;
    c.x = randn(c.n_out, 1.0f); c.out = zeros(c.n_out); c.R = randn(c.n_out, 1.0f);
    objective(&c);
    double freq[4];
    for (int i = 0; i < c.D / 2; i++) freq[i] = 1.0 / pow(10000.0, 2.0 * i / c.D);
    double *want = rope_definition(&c, freq);
    check_close("rope", c.out, want, c.n_out, 1e-6);
    // Relative positions: <rope(q, m), rope(k, n)> depends on m - n only.
    float q[8], k[8], qa[8], ka[8];
    for (int i = 0; i < 8; i++) { q[i] = rng_normal(&rng); k[i] = rng_normal(&rng); }
    double dots[2];
    for (int r = 0; r < 2; r++) {
        int32_t pq = 9 + 30 * r, pk = 4 + 30 * r;
        memcpy(qa, q, sizeof q); memcpy(ka, k, sizeof k);
        cpu_rope_forward_theta(qa, &pq, 1, 1, 8, 10000.0);
        cpu_rope_forward_theta(ka, &pk, 1, 1, 8, 10000.0);
        dots[r] = 0;
        for (int i = 0; i < 8; i++) dots[r] += (double)qa[i] * ka[i];
    }
    CHECK(fabs(dots[0] - dots[1]) < 1e-4, "rope relative position: %.7g vs %.7g", dots[0], dots[1]);
    float *dx = malloc(c.n_out * sizeof(float));
    memcpy(dx, c.R, c.n_out * sizeof(float));
    cpu_rope_backward_theta(dx, pos, c.T, c.H, c.D, 10000.0);
    fd_check("rope backward", &c, c.x, dx, c.n_out);
    free(want); free(dx); free(c.x); free(c.out); free(c.R);
}

// Qwen3's q/k norm: per head over D, one weight for all heads; dinp overwritten (=).
static void test_head_rmsnorm(void) {
    Case c = {.op = OP_HEADNORM, .T = 5, .H = 3, .D = 8};
    size_t n = c.T * c.H * c.D;
    c.x = randn(n, 1.0f); c.w = randn(c.D, 1.0f); c.out = zeros(n); c.aux = zeros(c.T * c.H); c.R = randn(n, 1.0f);
    c.n_out = n;
    objective(&c);
    double *want = malloc(n * sizeof(double));
    for (size_t r = 0; r < c.T * c.H; r++) {
        double ss = 0;
        for (int i = 0; i < c.D; i++) ss += (double)c.x[r * c.D + i] * c.x[r * c.D + i];
        for (int i = 0; i < c.D; i++) want[r * c.D + i] = c.x[r * c.D + i] / sqrt(ss / c.D + 1e-6) * c.w[i];
    }
    check_close("head_rmsnorm", c.out, want, n, 1e-6);
    float *dx = randn(n, 1.0f), *dw = zeros(c.D); // dx: garbage before, overwritten
    cpu_head_rmsnorm_backward(dx, dw, c.R, c.x, c.w, c.aux, c.T, c.H, c.D);
    fd_check("head_rmsnorm dinp", &c, c.x, dx, n);
    fd_check("head_rmsnorm dw", &c, c.w, dw, (size_t)c.D);
    free(want); free(dx); free(dw);
    free(c.x); free(c.w); free(c.out); free(c.aux); free(c.R);
}

// RoPE from a frequency table (Llama 3 scaling: all three bands of rope_inv_freq in use).
static void test_rope_scaled(void) {
    Case c = {.op = OP_ROPE_FREQ, .T = 4, .H = 2, .D = 16};
    int32_t pos[4] = {0, 3, 40, 900};
    RopeScaling sc = {.factor = 8.0, .low_freq_factor = 1.0, .high_freq_factor = 4.0, .original_max_pos = 64.0};
    double f[8], plain[8];
    rope_inv_freq(10000.0, &sc, c.D, f);
    rope_inv_freq(10000.0, NULL, c.D, plain);
    int kept = 0, slowed = 0, blended = 0;
    for (int i = 0; i < 8; i++) {
        kept += f[i] == plain[i];
        slowed += fabs(f[i] - plain[i] / 8.0) < 1e-15 * plain[i];
        blended += f[i] < plain[i] && f[i] > plain[i] / 8.0;
    }
    CHECK(kept && slowed && blended && kept + slowed + blended == 8, "llama3 bands: %d kept, %d slowed, %d blended",
          kept, slowed, blended);
    c.pos = pos; c.inv_freq = f;
    c.n_out = c.T * c.H * c.D;
    c.x = randn(c.n_out, 1.0f); c.out = zeros(c.n_out); c.R = randn(c.n_out, 1.0f);
    objective(&c);
    double *want = rope_definition(&c, f);
    check_close("rope (llama3 frequencies)", c.out, want, c.n_out, 1e-6);
    float *dx = malloc(c.n_out * sizeof(float));
    memcpy(dx, c.R, c.n_out * sizeof(float));
    cpu_rope_backward(dx, pos, c.T, c.H, c.D, f);
    fd_check("rope backward (llama3 frequencies)", &c, c.x, dx, c.n_out);
    free(want); free(dx); free(c.x); free(c.out); free(c.R);
}

static void test_swiglu(void) {
    Case c = {.op = OP_SWIGLU, .n_out = 64};
    c.x = randn(c.n_out, 2.0f); c.x2 = randn(c.n_out, 1.0f); c.out = zeros(c.n_out); c.R = randn(c.n_out, 1.0f);
    objective(&c);
    double *want = malloc(c.n_out * sizeof(double));
    for (size_t i = 0; i < c.n_out; i++) want[i] = c.x[i] / (1.0 + exp(-(double)c.x[i])) * c.x2[i];
    check_close("swiglu", c.out, want, c.n_out, 1e-6);
    float *dg = zeros(c.n_out), *du = zeros(c.n_out);
    cpu_swiglu_backward(dg, du, c.R, c.x, c.x2, c.n_out);
    fd_check("swiglu dgate", &c, c.x, dg, c.n_out);
    fd_check("swiglu dup", &c, c.x2, du, c.n_out);
    free(want); free(dg); free(du); free(c.x); free(c.x2); free(c.out); free(c.R);
}

// Brute force attention in double from the mask's definition (layout_allows).
static void attention_brute(double *out, double *lse, const Case *c) {
    const Layout *l = c->l;
    int Hq = c->H, Hkv = c->Hkv, D = c->D;
    double *s = malloc(l->n_slots * sizeof(double));
    for (size_t t = 0; t < l->n_slots; t++)
        for (int h = 0; h < Hq; h++) {
            int kh = h / (Hq / Hkv);
            double mx = -INFINITY, sum = 0;
            for (size_t j = 0; j < l->n_slots; j++) {
                s[j] = -INFINITY;
                if (!layout_allows(l, t, j)) continue;
                double d = 0;
                for (int i = 0; i < D; i++) d += (double)c->x[(t * Hq + h) * D + i] * c->x2[(j * Hkv + kh) * D + i];
                s[j] = d / sqrt((double)D);
                mx = fmax(mx, s[j]);
            }
            for (size_t j = 0; j < l->n_slots; j++) if (s[j] > -INFINITY) sum += exp(s[j] - mx);
            lse[t * Hq + h] = sum > 0 ? mx + log(sum) : -INFINITY;
            for (int i = 0; i < D; i++) {
                double o = 0;
                for (size_t j = 0; j < l->n_slots; j++)
                    if (s[j] > -INFINITY) o += exp(s[j] - mx) / sum * c->x3[(j * Hkv + kh) * D + i];
                out[(t * Hq + h) * D + i] = o;
            }
        }
    free(s);
}

static void test_attention(void) {
    GroupBatch g;
    test_random_groups(&g, 2, 3, 5, 4, 100, 11 ^ 0x5eedull, 11);
    for (int st = 0; st < STRATEGY_COUNT; st++) {
        Layout l;
        layout_build(&l, (Strategy)st, &g);
        Case c = {.op = OP_ATTN, .l = &l, .H = 4, .Hkv = 2, .D = 8};
        size_t T = l.n_slots, nq = T * c.H * c.D, nk = T * c.Hkv * c.D;
        c.x = randn(nq, 1.0f); c.x2 = randn(nk, 1.0f); c.x3 = randn(nk, 1.0f);
        c.n_out = nq; c.out = zeros(nq); c.aux = zeros(T * c.H); c.R = randn(nq, 1.0f);
        objective(&c);
        double *want = malloc(nq * sizeof(double)), *wlse = malloc(T * c.H * sizeof(double));
        attention_brute(want, wlse, &c);
        char what[64];
        snprintf(what, sizeof what, "attention (%s)", strategy_name((Strategy)st));
        check_close(what, c.out, want, nq, 1e-5);
        int lse_ok = 1;
        for (size_t i = 0; i < T * (size_t)c.H; i++)
            lse_ok &= isinf(wlse[i]) ? (isinf(c.aux[i]) && c.aux[i] < 0) : fabs(c.aux[i] - wlse[i]) < 1e-5 * (1 + fabs(wlse[i]));
        CHECK(lse_ok, "%s lse", what);
        float *dq = randn(nq, 1.0f), *dk = randn(nk, 1.0f), *dv = randn(nk, 1.0f);
        float *lse = malloc(T * c.H * sizeof(float));
        memcpy(lse, c.aux, T * c.H * sizeof(float));
        cpu_attention_backward(dq, dk, dv, c.R, c.x, c.x2, c.x3, c.out, lse, &l, c.H, c.Hkv, c.D);
        int pad_ok = 1;
        for (size_t t = 0; t < T; t++)
            if (l.seq_id[t] < 0) {
                for (int i = 0; i < c.H * c.D; i++) pad_ok &= dq[t * c.H * c.D + i] == 0 && c.out[t * c.H * c.D + i] == 0;
                for (int i = 0; i < c.Hkv * c.D; i++) pad_ok &= dk[t * c.Hkv * c.D + i] == 0 && dv[t * c.Hkv * c.D + i] == 0;
            }
        CHECK(pad_ok, "%s: padding rows not zero", what);
        snprintf(what, sizeof what, "attention dq (%s)", strategy_name((Strategy)st));
        fd_check(what, &c, c.x, dq, nq);
        snprintf(what, sizeof what, "attention dk (%s)", strategy_name((Strategy)st));
        fd_check(what, &c, c.x2, dk, nk);
        snprintf(what, sizeof what, "attention dv (%s)", strategy_name((Strategy)st));
        fd_check(what, &c, c.x3, dv, nk);
        free(want); free(wlse); free(dq); free(dk); free(dv); free(lse);
        free(c.x); free(c.x2); free(c.x3); free(c.out); free(c.aux); free(c.R);
        layout_free(&l);
    }
    groups_free(&g);
}

static void test_cross_entropy(void) {
    int32_t rows[5] = {0, 2, 2, 2, 3}, targets[5] = {4, 1, 9, 4, 0};
    Case c = {.op = OP_CE, .T = 4, .C = 16, .V = 10, .rows = rows, .targets = targets, .n_loss = 5};
    c.x = randn(c.T * c.C, 1.0f); c.w = randn((size_t)c.V * c.C, 0.5f);
    double want = 0;
    for (int i = 0; i < 5; i++) {
        double lg[10], mx = -INFINITY, s = 0;
        for (int v = 0; v < c.V; v++) {
            lg[v] = 0;
            for (int k = 0; k < c.C; k++) lg[v] += (double)c.x[rows[i] * c.C + k] * c.w[v * c.C + k];
            mx = fmax(mx, lg[v]);
        }
        for (int v = 0; v < c.V; v++) s += exp(lg[v] - mx);
        want += mx + log(s) - lg[targets[i]];
    }
    float *dh = zeros(c.T * c.C), *dw = zeros((size_t)c.V * c.C);
    double got = cpu_linear_cross_entropy(dh, dw, c.x, c.w, rows, targets, NULL, 5, c.C, c.V);
    CHECK(fabs(got - want) < 1e-9 * (1 + fabs(want)), "cross entropy loss %.9g, want %.9g", got, want);
    int unused_zero = 1;
    for (int i = 0; i < c.C; i++) unused_zero &= dh[1 * c.C + i] == 0; // row 1 carries no loss
    CHECK(unused_zero, "cross entropy: gradient on a row without loss");
    fd_check("cross entropy dhidden (repeated rows)", &c, c.x, dh, c.T * c.C);
    fd_check("cross entropy dw", &c, c.w, dw, (size_t)c.V * c.C);
    // weights: a pair of weight n is n copies of the pair (how a tree's shared loss term counts)
    int32_t weights[5] = {1, 3, 1, 2, 1}, xrows[8], xtargets[8], nx = 0;
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < weights[i]; k++) { xrows[nx] = rows[i]; xtargets[nx++] = targets[i]; }
    float *dh_w = zeros(c.T * c.C), *dw_w = zeros((size_t)c.V * c.C), *dh_x = zeros(c.T * c.C),
          *dw_x = zeros((size_t)c.V * c.C);
    double lw = cpu_linear_cross_entropy(dh_w, dw_w, c.x, c.w, rows, targets, weights, 5, c.C, c.V);
    double lx = cpu_linear_cross_entropy(dh_x, dw_x, c.x, c.w, xrows, xtargets, NULL, (size_t)nx, c.C, c.V);
    double gd = 0, gn = 0;
    for (size_t i = 0; i < c.T * c.C; i++) { gd = fmax(gd, fabs(dh_w[i] - dh_x[i])); gn = fmax(gn, fabs(dh_x[i])); }
    for (int i = 0; i < c.V * c.C; i++) { gd = fmax(gd, fabs(dw_w[i] - dw_x[i])); gn = fmax(gn, fabs(dw_x[i])); }
    CHECK(fabs(lw - lx) < 1e-9 * fabs(lx) && gd <= 1e-6 * gn && fabs(lw - got) > 0.1,
          "weighted cross entropy %.9g vs copies %.9g (gradient diff %.3g of %.3g)", lw, lx, gd, gn);
    free(dh); free(dw); free(c.x); free(c.w); free(dh_w); free(dw_w); free(dh_x); free(dw_x);
}

int main(void) {
    rng_seed(&rng, 2024);
    test_embedding();
    test_rmsnorm();
    test_linear();
    test_rope();
    test_rope_scaled();
    test_head_rmsnorm();
    test_swiglu();
    test_attention();
    test_cross_entropy();
    printf("test_ops: worst forward error %.3e (tolerance 1e-5..1e-6), worst backward error / FD tolerance %.3f, "
           "%d failures\n", worst_fwd, worst_fd, failures);
    return failures ? 1 : 0;
}
