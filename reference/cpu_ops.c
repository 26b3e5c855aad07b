/*
 * cpu_ops.c: the fp32 CPU reference of every op of the step (see cpu_ops.h).
 *
 * Plain loops, one function per op and direction. Storage is fp32 like the header says; every
 * reduction (dot products, norms, softmax sums, weight-gradient sums over tokens) accumulates in
 * double, so that the reference's own rounding stays far below the tolerances it is used at
 * (strategy equality at 1e-5, GPU bf16 kernels at ~1e-2) and summation order hardly matters.
 * Attention walks the layout's key ranges (layout_key_ranges), the encoding the kernels use;
 * the tests hold it against the definition (layout_allows).
 */
#include "cpu_ops.h"

#include "../model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cpu_embedding_forward(float *out, const int32_t *tokens, const float *wte, size_t T, int C) {
    for (size_t t = 0; t < T; t++) memcpy(out + t * C, wte + (size_t)tokens[t] * C, (size_t)C * sizeof(float));
}

void cpu_embedding_backward(float *dwte, const float *dout, const int32_t *tokens, size_t T, int C) {
    for (size_t t = 0; t < T; t++) {
        float *d = dwte + (size_t)tokens[t] * C;
        const float *g = dout + t * C;
        for (int i = 0; i < C; i++) d[i] += g[i];
    }
}

void cpu_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, size_t T, int C, float eps) {
    for (size_t t = 0; t < T; t++) {
        const float *x = inp + t * C;
        double ss = 0.0;
        for (int i = 0; i < C; i++) ss += (double)x[i] * x[i];
        double r = 1.0 / sqrt(ss / C + eps);
        for (int i = 0; i < C; i++) out[t * C + i] = (float)(x[i] * r * w[i]);
        rstd[t] = (float)r;
    }
}

// y_i = x_i r w_i, r = (mean x^2 + eps)^-1/2:  dx_i = r (g_i w_i) - x_i r^3 (sum_j g_j w_j x_j) / C.
void cpu_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                          const float *rstd, size_t T, int C) {
    for (size_t t = 0; t < T; t++) {
        const float *x = inp + t * C, *g = dout + t * C;
        double r = rstd[t], dot = 0.0;
        for (int i = 0; i < C; i++) dot += (double)g[i] * w[i] * x[i];
        double c = r * r * r * dot / C;
        for (int i = 0; i < C; i++) {
            dinp[t * C + i] += (float)(r * g[i] * w[i] - x[i] * c);
            dw[i] += (float)(g[i] * x[i] * r);
        }
    }
}

// Per head, the row rmsnorm over D values: (T, H, D) is (T * H) rows of D.
void cpu_head_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, size_t T, int H, int D,
                              float eps) {
    cpu_rmsnorm_forward(out, rstd, inp, w, T * (size_t)H, D, eps);
}

void cpu_head_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                               const float *rstd, size_t T, int H, int D) {
    memset(dinp, 0, T * (size_t)H * (size_t)D * sizeof(float));
    cpu_rmsnorm_backward(dinp, dw, dout, inp, w, rstd, T * (size_t)H, D);
}

void cpu_linear_forward(float *out, const float *inp, const float *w, const float *bias, size_t T, int K, int N) {
    for (size_t t = 0; t < T; t++) {
        const float *x = inp + t * K;
        for (int n = 0; n < N; n++) {
            const float *wr = w + (size_t)n * K;
            double s = bias ? bias[n] : 0.0;
            for (int k = 0; k < K; k++) s += (double)x[k] * wr[k];
            out[t * N + n] = (float)s;
        }
    }
}

void cpu_linear_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                         const float *w, size_t T, int K, int N) {
    if (dinp)
        for (size_t t = 0; t < T; t++) {
            const float *g = dout + t * N;
            for (int k = 0; k < K; k++) {
                double s = 0.0;
                for (int n = 0; n < N; n++) s += (double)g[n] * w[(size_t)n * K + k];
                dinp[t * K + k] = (float)s;
            }
        }
    for (int n = 0; n < N; n++) {
        float *dwr = dw + (size_t)n * K;
        for (int k = 0; k < K; k++) {
            double s = 0.0;
            for (size_t t = 0; t < T; t++) s += (double)dout[t * N + n] * inp[t * K + k];
            dwr[k] += (float)s;
        }
        if (dbias) {
            double s = 0.0;
            for (size_t t = 0; t < T; t++) s += dout[t * N + n];
            dbias[n] += (float)s;
        }
    }
}

// Rotates every (i, i + D/2) pair of every head by sign * pos * inv_freq[i].
static void rope_rotate(float *x, const int32_t *pos, size_t T, int H, int D, const double *inv_freq, double sign) {
    int half = D / 2;
    for (size_t t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            double angle = sign * pos[t] * inv_freq[i], c = cos(angle), s = sin(angle);
            for (int h = 0; h < H; h++) {
                float *v = x + (t * H + h) * D;
                double x1 = v[i], x2 = v[i + half];
                v[i] = (float)(x1 * c - x2 * s);
                v[i + half] = (float)(x2 * c + x1 * s);
            }
        }
}

void cpu_rope_forward(float *x, const int32_t *pos, size_t T, int H, int D, const double *inv_freq) {
    rope_rotate(x, pos, T, H, D, inv_freq, 1.0);
}

// The rotation is orthogonal: its transpose is the rotation by the negative angle.
void cpu_rope_backward(float *dx, const int32_t *pos, size_t T, int H, int D, const double *inv_freq) {
    rope_rotate(dx, pos, T, H, D, inv_freq, -1.0);
}

static void rope_theta(float *x, const int32_t *pos, size_t T, int H, int D, double theta, double sign) {
    double f[CPU_ROPE_MAX_HALF];
    if (D / 2 > CPU_ROPE_MAX_HALF) { fprintf(stderr, "cpu_rope_*_theta: head_dim %d > %d\n", D, 2 * CPU_ROPE_MAX_HALF); abort(); }
    rope_inv_freq(theta, NULL, D, f);
    rope_rotate(x, pos, T, H, D, f, sign);
}

void cpu_rope_forward_theta(float *x, const int32_t *pos, size_t T, int H, int D, double theta) {
    rope_theta(x, pos, T, H, D, theta, 1.0);
}

void cpu_rope_backward_theta(float *dx, const int32_t *pos, size_t T, int H, int D, double theta) {
    rope_theta(dx, pos, T, H, D, theta, -1.0);
}

static double dot_d(const float *a, const float *b, int D) {
    double s = 0.0;
    for (int i = 0; i < D; i++) s += (double)a[i] * b[i];
    return s;
}

// Out of host memory in an op that returns nothing: NaN outputs, which every caller's check catches.
static void fill_nan(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = NAN;
}

void cpu_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                           const Layout *l, int Hq, int Hkv, int D) {
    size_t T = l->n_slots;
    int group = Hq / Hkv;
    double scale = 1.0 / sqrt((double)D);
    double *acc = malloc((size_t)D * sizeof *acc); // one query head's output, in double
    if (!acc) { fill_nan(out, T * Hq * (size_t)D); return; }
    for (size_t t = 0; t < T; t++) {
        int64_t lo[PB_MAX_DEPTH], hi[PB_MAX_DEPTH];
        int nr = layout_key_ranges(l, t, lo, hi);
        for (int h = 0; h < Hq; h++) {
            float *o = out + (t * Hq + h) * D;
            const float *qh = q + (t * Hq + h) * D;
            int kh = h / group;
            memset(o, 0, (size_t)D * sizeof(float));
            if (nr == 0) { lse[t * Hq + h] = -INFINITY; continue; }
            double mx = -INFINITY;
            for (int r = 0; r < nr; r++)
                for (int64_t j = lo[r]; j < hi[r]; j++)
                    mx = fmax(mx, scale * dot_d(qh, k + ((size_t)j * Hkv + kh) * D, D));
            double sum = 0.0;
            for (int d = 0; d < D; d++) acc[d] = 0.0;
            for (int r = 0; r < nr; r++)
                for (int64_t j = lo[r]; j < hi[r]; j++) {
                    double p = exp(scale * dot_d(qh, k + ((size_t)j * Hkv + kh) * D, D) - mx);
                    const float *vj = v + ((size_t)j * Hkv + kh) * D;
                    sum += p;
                    for (int d = 0; d < D; d++) acc[d] += p * vj[d];
                }
            for (int d = 0; d < D; d++) o[d] = (float)(acc[d] / sum);
            lse[t * Hq + h] = (float)(mx + log(sum));
        }
    }
    free(acc);
}

// P = exp(S - lse); dV += P^T dO; dP = dO V^T; dS = P (dP - rowsum(dO * O)); dQ = dS K s; dK += dS^T Q s.
void cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                            const float *k, const float *v, const float *out, const float *lse,
                            const Layout *l, int Hq, int Hkv, int D) {
    size_t T = l->n_slots;
    int group = Hq / Hkv;
    double scale = 1.0 / sqrt((double)D);
    memset(dq, 0, T * Hq * (size_t)D * sizeof(float));
    memset(dk, 0, T * Hkv * (size_t)D * sizeof(float));
    memset(dv, 0, T * Hkv * (size_t)D * sizeof(float));
    double *acc = malloc((size_t)D * sizeof *acc); // one query head's dq, in double
    if (!acc) { fill_nan(dq, T * Hq * (size_t)D); return; }
    for (size_t t = 0; t < T; t++) {
        int64_t lo[PB_MAX_DEPTH], hi[PB_MAX_DEPTH];
        int nr = layout_key_ranges(l, t, lo, hi);
        if (nr == 0) continue;
        for (int h = 0; h < Hq; h++) {
            const float *qh = q + (t * Hq + h) * D, *go = dout + (t * Hq + h) * D, *oh = out + (t * Hq + h) * D;
            float *dqh = dq + (t * Hq + h) * D;
            int kh = h / group;
            double m = lse[t * Hq + h], rowsum = dot_d(go, oh, D);
            for (int d = 0; d < D; d++) acc[d] = 0.0;
            for (int r = 0; r < nr; r++)
                for (int64_t j = lo[r]; j < hi[r]; j++) {
                    size_t kv = ((size_t)j * Hkv + kh) * D;
                    double p = exp(scale * dot_d(qh, k + kv, D) - m);
                    double ds = p * (dot_d(go, v + kv, D) - rowsum) * scale;
                    for (int d = 0; d < D; d++) {
                        acc[d] += ds * k[kv + d];
                        dk[kv + d] += (float)(ds * qh[d]);
                        dv[kv + d] += (float)(p * go[d]);
                    }
                }
            for (int d = 0; d < D; d++) dqh[d] = (float)acc[d];
        }
    }
    free(acc);
}

void cpu_swiglu_forward(float *h, const float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double g = gate[i];
        h[i] = (float)(g / (1.0 + exp(-g)) * up[i]);
    }
}

// silu'(g) = s (1 + g (1 - s)), s = sigmoid(g).
void cpu_swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double g = gate[i], s = 1.0 / (1.0 + exp(-g));
        dgate[i] = (float)(dh[i] * up[i] * s * (1.0 + g * (1.0 - s)));
        dup[i] = (float)(dh[i] * g * s);
    }
}

// One loss pair at a time: logits in a V-long double buffer, never a [rows x V] tensor.
// Returns NAN if that buffer cannot be allocated.
double cpu_linear_cross_entropy(float *dhidden, float *dw, const float *hidden, const float *w,
                                const int32_t *rows, const int32_t *targets, const int32_t *weights, size_t n_loss,
                                int C, int V) {
    double loss = 0.0, *logit = malloc(((size_t)V + (size_t)C) * sizeof(double));
    if (!logit) return NAN;
    double *dx = logit + V;
    for (size_t i = 0; i < n_loss; i++) {
        const float *x = hidden + (size_t)rows[i] * C;
        double mx = -INFINITY, sum = 0.0;
        for (int v = 0; v < V; v++) {
            logit[v] = dot_d(x, w + (size_t)v * C, C);
            mx = fmax(mx, logit[v]);
        }
        for (int v = 0; v < V; v++) sum += exp(logit[v] - mx);
        double lse = mx + log(sum), wt = weights ? weights[i] : 1.0;
        loss += wt * (lse - logit[targets[i]]);
        for (int c = 0; c < C; c++) dx[c] = 0.0;
        for (int v = 0; v < V; v++) {
            double g = wt * (exp(logit[v] - lse) - (v == targets[i] ? 1.0 : 0.0));
            const float *wr = w + (size_t)v * C;
            float *dwr = dw + (size_t)v * C;
            for (int c = 0; c < C; c++) {
                dx[c] += g * wr[c];
                dwr[c] += (float)(g * x[c]);
            }
        }
        float *dh = dhidden + (size_t)rows[i] * C;
        for (int c = 0; c < C; c++) dh[c] += (float)dx[c];
    }
    free(logit);
    return loss;
}
