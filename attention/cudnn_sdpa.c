// cudnn_sdpa.c: the SDPA forward / backward graphs and their execution (see cudnn_sdpa.h).
#define PB_WANT_CUDNN
#include "cudnn_sdpa.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/check.h"

// ---- UIDs of the tensors that live in memory (variant pack) ---------------------------------
enum {
    UID_Q = 1, UID_K, UID_V, UID_O, UID_STATS, UID_DO, UID_DQ, UID_DK, UID_DV,
    UID_SCALE, UID_NEG_INF, UID_ONE, UID_LEN_Q, UID_LEN_KV, UID_OFF_Q, UID_OFF_KV, UID_OFF_S,
    UID_SUM, UID_DQ_ACC, UID_DK_FULL, UID_DV_FULL,
    UID_VIRTUAL = 1000,
};

static const float k_neg_inf = -INFINITY;
static const float k_one = 1.0f;

// Token tensor [b, h, s, d] over a token-major (slots, h, d) buffer; transposed: [b, h, d, s].
static Tensor token_tensor(Graph *g, int64_t uid, cudnnDataType_t dt, int64_t b, int64_t h, int64_t s, int64_t d,
                           int64_t batch_tokens, int transposed, Tensor ragged) {
    int64_t dim[4] = {b, h, s, d}, stride[4] = {batch_tokens * h * d, d, h * d, 1};
    if (transposed) {
        dim[2] = d, dim[3] = s;
        stride[2] = 1, stride[3] = h * d;
    }
    return graph_tensor(g, uid, dt, dim, stride, false, ragged);
}

// Per-query fp32 row tensor [b, h, s, 1] over a token-major (slots, h) buffer.
static Tensor row_tensor(Graph *g, int64_t uid, int64_t b, int64_t h, int64_t s, int64_t batch_tokens, Tensor ragged) {
    const int64_t dim[4] = {b, h, s, 1}, stride[4] = {batch_tokens * h, 1, h, 1};
    return graph_tensor(g, uid, CUDNN_DATA_FLOAT, dim, stride, false, ragged);
}

typedef struct MaskInputs { Tensor len_q, len_kv, neg_inf; } MaskInputs;

static Tensor gen_index(Graph *g, Tensor x, const int64_t dim[4], const int64_t stride[4], int64_t axis) {
    Tensor i = graph_virtual(g, CUDNN_DATA_INT32, dim, stride);
    graph_pointwise(g, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_INT32, axis, x, NULL, NULL, i);
    return i;
}

// Scores outside [0, len_q) x [0, len_kv) -> -inf.
static Tensor padding_mask(Graph *g, Tensor x, const MaskInputs *m, const int64_t dim[4], const int64_t stride[4]) {
    Tensor row = gen_index(g, x, dim, stride, 2), col = gen_index(g, x, dim, stride, 3);
    Tensor row_ok = graph_virtual(g, CUDNN_DATA_BOOLEAN, dim, stride);
    graph_pointwise(g, CUDNN_POINTWISE_CMP_LT, CUDNN_DATA_BOOLEAN, -1, row, m->len_q, NULL, row_ok);
    Tensor col_ok = graph_virtual(g, CUDNN_DATA_BOOLEAN, dim, stride);
    graph_pointwise(g, CUDNN_POINTWISE_CMP_LT, CUDNN_DATA_BOOLEAN, -1, col, m->len_kv, NULL, col_ok);
    Tensor ok = graph_virtual(g, CUDNN_DATA_BOOLEAN, dim, stride);
    graph_pointwise(g, CUDNN_POINTWISE_LOGICAL_AND, CUDNN_DATA_BOOLEAN, -1, row_ok, col_ok, NULL, ok);
    Tensor y = graph_virtual(g, CUDNN_DATA_FLOAT, dim, stride);
    graph_pointwise(g, CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, -1, x, m->neg_inf, ok, y);
    return y;
}

/* Causal: keep col <= row (top-left) or col <= row + len_kv - len_q (bottom-right). */
static Tensor causal_mask(Graph *g, CausalKind kind, Tensor x, const MaskInputs *m, const int64_t dim[4],
                          const int64_t stride[4]) {
    Tensor row = gen_index(g, x, dim, stride, 2), col = gen_index(g, x, dim, stride, 3);
    if (kind == CAUSAL_BOTTOM_RIGHT) {
        Tensor r1 = graph_virtual(g, CUDNN_DATA_INT32, dim, stride);
        graph_pointwise(g, CUDNN_POINTWISE_ADD, CUDNN_DATA_INT32, -1, row, m->len_kv, NULL, r1);
        Tensor r2 = graph_virtual(g, CUDNN_DATA_INT32, dim, stride);
        graph_pointwise(g, CUDNN_POINTWISE_SUB, CUDNN_DATA_INT32, -1, r1, m->len_q, NULL, r2);
        row = r2;
    }
    Tensor keep = graph_virtual(g, CUDNN_DATA_BOOLEAN, dim, stride);
    graph_pointwise(g, CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, -1, row, col, NULL, keep);
    Tensor y = graph_virtual(g, CUDNN_DATA_FLOAT, dim, stride);
    graph_pointwise(g, CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, -1, x, m->neg_inf, keep, y);
    return y;
}

typedef struct CallTensors {
    Tensor off_q, off_kv, off_s;
    MaskInputs mask;
    Tensor scale;
} CallTensors;

static void call_common_tensors(Graph *g, const SdpaCall *c, int with_lengths, CallTensors *t) {
    memset(t, 0, sizeof *t);
    if (c->ragged) {
        t->off_q = graph_per_seq(g, UID_OFF_Q, CUDNN_DATA_INT64, c->b + 1);
        t->off_kv = graph_per_seq(g, UID_OFF_KV, CUDNN_DATA_INT64, c->b + 1);
        t->off_s = graph_per_seq(g, UID_OFF_S, CUDNN_DATA_INT64, c->b + 1);
    }
    t->scale = graph_scalar(g, UID_SCALE, CUDNN_DATA_FLOAT);
    t->mask.neg_inf = graph_scalar(g, UID_NEG_INF, CUDNN_DATA_FLOAT);
    if (with_lengths) {
        t->mask.len_q = graph_per_seq(g, UID_LEN_Q, CUDNN_DATA_INT32, c->b);
        t->mask.len_kv = graph_per_seq(g, UID_LEN_KV, CUDNN_DATA_INT32, c->b);
    }
}

/* call_build_forward / call_build_backward: 0; -1 (no plan; err set); -2 (out of host or device
 * memory, cuDNN's or ours; err set). */
static int call_build_forward(const AttnShape *sh, cudnnHandle_t handle, SdpaCall *c, char *err, size_t errlen) {
    Graph *gp = calloc(1, sizeof *gp);
    if (!gp) {
        snprintf(err, errlen, "cudnn attention: out of host memory");
        return -2;
    }
    c->fwd_graph = gp;
    Graph g = {.next_uid = UID_VIRTUAL, .err = err, .errlen = errlen};
    const int64_t b = c->b, sq = c->sq, skv = c->skv, hq = sh->n_head, hkv = sh->n_kv_head, d = sh->head_dim;
    CallTensors t;
    call_common_tensors(&g, c, !c->full, &t);
    Tensor q = token_tensor(&g, UID_Q, CUDNN_DATA_BFLOAT16, b, hq, sq, d, c->q_batch_stride, 0, t.off_q);
    Tensor kt = token_tensor(&g, UID_K, CUDNN_DATA_BFLOAT16, b, hkv, skv, d, c->kv_batch_stride, 1, t.off_kv);
    Tensor v = token_tensor(&g, UID_V, CUDNN_DATA_BFLOAT16, b, hkv, skv, d, c->kv_batch_stride, 0, t.off_kv);
    Tensor o = token_tensor(&g, UID_O, CUDNN_DATA_BFLOAT16, b, hq, sq, d, c->q_batch_stride, 0, t.off_q);
    Tensor stats = row_tensor(&g, UID_STATS, b, hq, sq, c->q_batch_stride, t.off_s);
    const int64_t sdim[4] = {b, hq, sq, skv}, sstr[4] = {hq * sq * skv, sq * skv, skv, 1};
    const int64_t rdim[4] = {b, hq, sq, 1}, rstr[4] = {hq * sq, sq, 1, 1};

    Tensor s = graph_virtual(&g, CUDNN_DATA_FLOAT, sdim, sstr);
    graph_matmul(&g, q, kt, s, t.mask.len_q, t.mask.len_kv, NULL);
    Tensor s1 = graph_virtual(&g, CUDNN_DATA_FLOAT, sdim, sstr);
    graph_pointwise(&g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, -1, s, t.scale, NULL, s1);
    Tensor s2 = c->full ? s1 : padding_mask(&g, s1, &t.mask, sdim, sstr);
    Tensor s3 = causal_mask(&g, c->causal, s2, &t.mask, sdim, sstr);
    // softmax with statistics: lse = max + log(sum exp(s - max))
    Tensor mx = graph_virtual(&g, CUDNN_DATA_FLOAT, rdim, rstr);
    graph_reduction(&g, CUDNN_REDUCE_TENSOR_MAX, s3, mx);
    Tensor z = graph_virtual(&g, CUDNN_DATA_FLOAT, sdim, sstr);
    graph_pointwise(&g, CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, -1, s3, mx, NULL, z);
    Tensor e = graph_virtual(&g, CUDNN_DATA_FLOAT, sdim, sstr);
    graph_pointwise(&g, CUDNN_POINTWISE_EXP, CUDNN_DATA_FLOAT, -1, z, NULL, NULL, e);
    Tensor sum = graph_virtual(&g, CUDNN_DATA_FLOAT, rdim, rstr);
    graph_reduction(&g, CUDNN_REDUCE_TENSOR_ADD, e, sum);
    Tensor lg = graph_virtual(&g, CUDNN_DATA_FLOAT, rdim, rstr);
    graph_pointwise(&g, CUDNN_POINTWISE_LOG, CUDNN_DATA_FLOAT, -1, sum, NULL, NULL, lg);
    graph_pointwise(&g, CUDNN_POINTWISE_ADD, CUDNN_DATA_FLOAT, -1, lg, mx, NULL, stats);
    Tensor p = graph_virtual(&g, CUDNN_DATA_BFLOAT16, sdim, sstr); // must be bf16
    graph_pointwise(&g, CUDNN_POINTWISE_DIV, CUDNN_DATA_FLOAT, -1, e, sum, NULL, p);
    graph_matmul(&g, p, v, o, t.mask.len_q, NULL, t.mask.len_kv);

    c->fwd = graph_plan(&g, handle, &c->fwd_ws);
    *gp = g;
    return c->fwd ? 0 : g.out_of_memory ? -2 : -1;
}

// dX = A^T B for X = K or V (A: [b, hq, skv, sq] bf16, B: [b, hq, sq, d]). With GQA the product
// goes to a per-query-head tensor (ragged: the caller's buffer full_uid, else virtual), summed
// over each K/V head's query heads into dx.
static void graph_kv_grad(Graph *g, const SdpaCall *c, const CallTensors *t, const AttnShape *sh, int64_t full_uid,
                          Tensor a, Tensor bm, Tensor dx) {
    const int64_t b = c->b, skv = c->skv, hq = sh->n_head, d = sh->head_dim;
    if (hq == sh->n_kv_head) {
        graph_matmul(g, a, bm, dx, t->mask.len_kv, NULL, t->mask.len_q);
        return;
    }
    const int64_t fdim[4] = {b, hq, skv, d}, fstr[4] = {hq * skv * d, skv * d, d, 1};
    const int64_t rfstr[4] = {c->kv_batch_stride * hq * d, d, hq * d, 1}; // ragged: dK strides x (hq / hkv)
    Tensor full = c->ragged ? graph_tensor(g, full_uid, CUDNN_DATA_BFLOAT16, fdim, rfstr, false, t->off_kv)
                            : graph_virtual(g, CUDNN_DATA_BFLOAT16, fdim, fstr);
    graph_matmul(g, a, bm, full, t->mask.len_kv, NULL, t->mask.len_q);
    graph_reduction(g, CUDNN_REDUCE_TENSOR_ADD, full, dx);
}

static int call_build_backward(const AttnShape *sh, cudnnHandle_t handle, SdpaCall *c, char *err, size_t errlen) {
    Graph *gp = calloc(1, sizeof *gp);
    if (!gp) {
        snprintf(err, errlen, "cudnn attention: out of host memory");
        return -2;
    }
    c->bwd_graph = gp;
    Graph g = {.next_uid = UID_VIRTUAL, .err = err, .errlen = errlen};
    const int64_t b = c->b, sq = c->sq, skv = c->skv, hq = sh->n_head, hkv = sh->n_kv_head, d = sh->head_dim;
    const int64_t qbs = c->q_batch_stride, kvbs = c->kv_batch_stride;
    CallTensors t;
    call_common_tensors(&g, c, 1, &t); // cuDNN 9.14 backward needs the lengths (bug fixed in 9.15.1)
    Tensor one = graph_scalar(&g, UID_ONE, CUDNN_DATA_FLOAT);
    Tensor q = token_tensor(&g, UID_Q, CUDNN_DATA_BFLOAT16, b, hq, sq, d, qbs, 0, t.off_q);
    Tensor kt = token_tensor(&g, UID_K, CUDNN_DATA_BFLOAT16, b, hkv, skv, d, kvbs, 1, t.off_kv);
    Tensor vt = token_tensor(&g, UID_V, CUDNN_DATA_BFLOAT16, b, hkv, skv, d, kvbs, 1, t.off_kv);
    Tensor o = token_tensor(&g, UID_O, CUDNN_DATA_BFLOAT16, b, hq, sq, d, qbs, 0, t.off_q);
    Tensor dout = token_tensor(&g, UID_DO, CUDNN_DATA_BFLOAT16, b, hq, sq, d, qbs, 0, t.off_q);
    Tensor dq = token_tensor(&g, UID_DQ, CUDNN_DATA_BFLOAT16, b, hq, sq, d, qbs, 0, t.off_q);
    Tensor dk = token_tensor(&g, UID_DK, CUDNN_DATA_BFLOAT16, b, hkv, skv, d, kvbs, 0, t.off_kv);
    Tensor dv = token_tensor(&g, UID_DV, CUDNN_DATA_BFLOAT16, b, hkv, skv, d, kvbs, 0, t.off_kv);
    Tensor stats = row_tensor(&g, UID_STATS, b, hq, sq, qbs, t.off_s);
    const int64_t sdim[4] = {b, hq, sq, skv}, sstr[4] = {hq * sq * skv, sq * skv, skv, 1};
    const int64_t tdim[4] = {b, hq, skv, sq}, tstr[4] = {hq * sq * skv, sq * skv, 1, skv};
    const int64_t rdim[4] = {b, hq, sq, 1}, rstr[4] = {hq * sq, sq, 1, 1};
    const int64_t odim[4] = {b, hq, sq, d}, ostr[4] = {hq * sq * d, sq * d, d, 1};

    // softmax_sum = rowsum(dO * O), into our fp32 buffer
    Tensor dot = graph_virtual(&g, CUDNN_DATA_FLOAT, odim, ostr);
    graph_pointwise(&g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, -1, dout, o, NULL, dot);
    Tensor rs = graph_virtual(&g, CUDNN_DATA_FLOAT, rdim, rstr);
    graph_reduction(&g, CUDNN_REDUCE_TENSOR_ADD, dot, rs);
    Tensor ssum = c->ragged ? row_tensor(&g, UID_SUM, b, hq, sq, qbs, t.off_s)
                            : graph_tensor(&g, UID_SUM, CUDNN_DATA_FLOAT, rdim, rstr, false, NULL);
    graph_pointwise(&g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, -1, rs, one, NULL, ssum);

    // P recomputed from the statistics
    Tensor s = graph_virtual(&g, CUDNN_DATA_FLOAT, sdim, sstr);
    graph_matmul(&g, q, kt, s, t.mask.len_q, t.mask.len_kv, NULL);
    Tensor s1 = graph_virtual(&g, CUDNN_DATA_FLOAT, sdim, sstr);
    graph_pointwise(&g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, -1, s, t.scale, NULL, s1);
    Tensor s2 = padding_mask(&g, s1, &t.mask, sdim, sstr);
    Tensor z = graph_virtual(&g, CUDNN_DATA_FLOAT, sdim, sstr);
    graph_pointwise(&g, CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, -1, s2, stats, NULL, z);
    Tensor z2 = causal_mask(&g, c->causal, z, &t.mask, sdim, sstr);
    Tensor p = graph_virtual(&g, CUDNN_DATA_FLOAT, sdim, sstr);
    graph_pointwise(&g, CUDNN_POINTWISE_EXP, CUDNN_DATA_FLOAT, -1, z2, NULL, NULL, p);

    // dV = P^T dO (summed over the query heads of each K/V head)
    Tensor pt = graph_virtual(&g, CUDNN_DATA_BFLOAT16, tdim, tstr);
    graph_reshape(&g, p, pt);
    graph_kv_grad(&g, c, &t, sh, UID_DV_FULL, pt, dout, dv);

    // dS = P * (dO V^T - softmax_sum) * scale
    Tensor dp = graph_virtual(&g, CUDNN_DATA_FLOAT, sdim, sstr);
    graph_matmul(&g, dout, vt, dp, t.mask.len_q, t.mask.len_kv, NULL);
    Tensor d1 = graph_virtual(&g, CUDNN_DATA_FLOAT, sdim, sstr);
    graph_pointwise(&g, CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, -1, dp, ssum, NULL, d1);
    Tensor d2 = graph_virtual(&g, CUDNN_DATA_FLOAT, sdim, sstr);
    graph_pointwise(&g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, -1, d1, p, NULL, d2);
    Tensor ds = graph_virtual(&g, CUDNN_DATA_FLOAT, sdim, sstr);
    graph_pointwise(&g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, -1, d2, t.scale, NULL, ds);

    // dK = dS^T Q
    Tensor dst = graph_virtual(&g, CUDNN_DATA_BFLOAT16, tdim, tstr);
    graph_reshape(&g, ds, dst);
    graph_kv_grad(&g, c, &t, sh, UID_DK_FULL, dst, q, dk);

    // dQ = dS K, accumulated in fp32, then converted
    const int64_t kdim[4] = {b, hkv, skv, d}, kstr[4] = {kvbs * hkv * d, d, hkv * d, 1};
    Tensor k = graph_tensor(&g, 0, CUDNN_DATA_BFLOAT16, kdim, kstr, false, t.off_kv);
    graph_reshape(&g, kt, k);
    Tensor dq_acc;
    if (c->ragged) {
        const int64_t astr[4] = {qbs * hq * d, d, hq * d, 1};
        dq_acc = graph_tensor(&g, UID_DQ_ACC, CUDNN_DATA_FLOAT, odim, astr, false, t.off_q);
    } else {
        dq_acc = graph_tensor(&g, UID_DQ_ACC, CUDNN_DATA_FLOAT, odim, ostr, false, NULL);
    }
    graph_matmul(&g, ds, k, dq_acc, t.mask.len_q, NULL, t.mask.len_kv);
    graph_pointwise(&g, CUDNN_POINTWISE_IDENTITY, CUDNN_DATA_FLOAT, -1, dq_acc, NULL, NULL, dq);

    c->bwd = graph_plan(&g, handle, &c->bwd_ws);
    *gp = g;
    return c->bwd ? 0 : g.out_of_memory ? -2 : -1;
}

// ---- execution --------------------------------------------------------------------------------

// pt: a part's lengths and offsets (NULL: the call's own).
static void pack_common(const SdpaCall *c, const SdpaPart *pt, int with_lengths, VariantPack *p, const float *scale) {
    variant_pack_add(p, UID_SCALE, scale);
    variant_pack_add(p, UID_NEG_INF, &k_neg_inf);
    if (with_lengths) {
        variant_pack_add(p, UID_LEN_Q, pt ? pt->len_q : c->len_q);
        variant_pack_add(p, UID_LEN_KV, pt ? pt->len_kv : c->len_kv);
    }
    if (c->ragged) {
        variant_pack_add(p, UID_OFF_Q, pt ? pt->off_q : c->off_q);
        variant_pack_add(p, UID_OFF_KV, pt ? pt->off_kv : c->off_kv);
        variant_pack_add(p, UID_OFF_S, pt ? pt->off_s : c->off_s);
    }
}

PbStatus sdpa_forward_part(cudnnHandle_t handle, const AttnShape *sh, const SdpaCall *c, const SdpaPart *pt,
                           const SdpaScratch *scr, const void *q, const void *k, const void *v, void *o, float *lse,
                           cudaStream_t stream, char *err, size_t errlen) {
    const float scale = 1.0f / sqrtf((float)sh->head_dim);
    VariantPack p = {.n = 0};
    pack_common(c, pt, !c->full, &p, &scale);
    variant_pack_add(&p, UID_Q, q);
    variant_pack_add(&p, UID_K, k);
    variant_pack_add(&p, UID_V, v);
    variant_pack_add(&p, UID_O, o);
    variant_pack_add(&p, UID_STATS, lse);
    return variant_pack_execute(handle, c->fwd, &p, scr->workspace, stream, err, errlen);
}

PbStatus sdpa_backward_part(cudnnHandle_t handle, const AttnShape *sh, const SdpaCall *c, const SdpaPart *pt,
                            const SdpaScratch *scr, const void *q, const void *k, const void *v, const void *o,
                            const void *dout, const float *lse, void *dq, void *dk, void *dv, cudaStream_t stream,
                            char *err, size_t errlen) {
    const float scale = 1.0f / sqrtf((float)sh->head_dim);
    VariantPack p = {.n = 0};
    pack_common(c, pt, 1, &p, &scale);
    variant_pack_add(&p, UID_ONE, &k_one);
    variant_pack_add(&p, UID_Q, q);
    variant_pack_add(&p, UID_K, k);
    variant_pack_add(&p, UID_V, v);
    variant_pack_add(&p, UID_O, o);
    variant_pack_add(&p, UID_DO, dout);
    variant_pack_add(&p, UID_STATS, lse);
    variant_pack_add(&p, UID_DQ, dq);
    variant_pack_add(&p, UID_DK, dk);
    variant_pack_add(&p, UID_DV, dv);
    variant_pack_add(&p, UID_SUM, scr->sum);
    variant_pack_add(&p, UID_DQ_ACC, scr->dq_acc);
    if (c->ragged && sh->n_head != sh->n_kv_head) {
        variant_pack_add(&p, UID_DK_FULL, scr->dk_full);
        variant_pack_add(&p, UID_DV_FULL, scr->dv_full);
    }
    return variant_pack_execute(handle, c->bwd, &p, scr->workspace, stream, err, errlen);
}

// ---- setup: lengths, offsets and plans of one call -------------------------------------------

PbStatus sdpa_dev_alloc(void **p, size_t bytes, size_t *device_bytes, char *err, size_t errlen) {
    *p = NULL;
    if (bytes == 0) return PB_OK;
    if (cudaMalloc(p, bytes) != cudaSuccess) {
        cudaGetLastError();
        *p = NULL;
        snprintf(err, errlen, "cudnn attention: out of device memory (%zu bytes)", bytes);
        return PB_NO_MEMORY;
    }
    *device_bytes += bytes;
    return PB_OK;
}

static PbStatus dev_upload(void **p, const void *host, size_t bytes, size_t *device_bytes, char *err,
                           size_t errlen) {
    PbStatus rc = sdpa_dev_alloc(p, bytes, device_bytes, err, errlen);
    if (rc != PB_OK) return rc;
    cudaCheck(cudaMemcpy(*p, host, bytes, cudaMemcpyHostToDevice));
    return PB_OK;
}

PbStatus sdpa_upload_seqs(const AttnShape *sh, const CallSpec *sp, int ragged, int32_t **len_q, int32_t **len_kv,
                          int64_t **off_q, int64_t **off_kv, int64_t **off_s, size_t *device_bytes, char *err,
                          size_t errlen) {
    const int64_t hq = sh->n_head, hkv = sh->n_kv_head, d = sh->head_dim;
    PbStatus rc = dev_upload((void **)len_q, sp->len_q, (size_t)sp->b * sizeof(int32_t), device_bytes, err, errlen);
    if (!rc) rc = dev_upload((void **)len_kv, sp->len_kv, (size_t)sp->b * sizeof(int32_t), device_bytes, err, errlen);
    if (rc || !ragged) return rc;
    int64_t *oq = malloc((size_t)(sp->b + 1) * 3 * sizeof(int64_t));
    if (!oq) {
        snprintf(err, errlen, "cudnn attention: out of host memory");
        return PB_NO_MEMORY;
    }
    int64_t *okv = oq + sp->b + 1, *os = okv + sp->b + 1;
    for (int64_t i = 0; i < sp->b; i++) {
        oq[i] = sp->start_q[i] * hq * d;
        okv[i] = sp->start_kv[i] * hkv * d;
        os[i] = sp->start_q[i] * hq;
    }
    // the last entry: the end of the last sequence
    oq[sp->b] = (sp->start_q[sp->b - 1] + sp->len_q[sp->b - 1]) * hq * d;
    okv[sp->b] = (sp->start_kv[sp->b - 1] + sp->len_kv[sp->b - 1]) * hkv * d;
    os[sp->b] = (sp->start_q[sp->b - 1] + sp->len_q[sp->b - 1]) * hq;
    size_t bytes = (size_t)(sp->b + 1) * sizeof(int64_t);
    rc = dev_upload((void **)off_q, oq, bytes, device_bytes, err, errlen);
    if (!rc) rc = dev_upload((void **)off_kv, okv, bytes, device_bytes, err, errlen);
    if (!rc) rc = dev_upload((void **)off_s, os, bytes, device_bytes, err, errlen);
    free(oq);
    return rc;
}

PbStatus sdpa_call_setup(SdpaCall *c, const AttnShape *sh, cudnnHandle_t handle, const CallSpec *sp, int ragged,
                    CausalKind causal, int64_t batch_tokens, int build, size_t *device_bytes, char *err,
                    size_t errlen) {
    memset(c, 0, sizeof *c);
    if (sp->b <= 0) {
        snprintf(err, errlen, "cudnn attention: a call over no sequences");
        return PB_ERROR;
    }
    c->b = sp->b;
    c->ragged = ragged;
    c->causal = causal;
    c->q_batch_stride = c->kv_batch_stride = batch_tokens;
    for (int64_t i = 0; i < sp->b; i++) {
        if (sp->len_q[i] > c->sq) c->sq = sp->len_q[i];
        if (sp->len_kv[i] > c->skv) c->skv = sp->len_kv[i];
    }
    if (sp->max_q > c->sq) c->sq = sp->max_q;
    if (sp->max_kv > c->skv) c->skv = sp->max_kv;
    if (!ragged) {
        c->sq = c->skv = batch_tokens;
        c->full = causal == CAUSAL_TOP_LEFT;
        for (int64_t i = 0; i < sp->b; i++) c->full &= sp->len_q[i] == batch_tokens && sp->len_kv[i] == batch_tokens;
    }
    PbStatus rc = sdpa_upload_seqs(sh, sp, ragged, &c->len_q, &c->len_kv, &c->off_q, &c->off_kv, &c->off_s, device_bytes,
                                   err, errlen);
    if (rc) return rc;
    int built = build & SDPA_BUILD_FWD ? call_build_forward(sh, handle, c, err, errlen) : 0;
    if (!built && (build & SDPA_BUILD_BWD)) built = call_build_backward(sh, handle, c, err, errlen);
    if (built == -2) {
        cudaGetLastError(); // a failed allocation inside cuDNN leaves its error for the next check
        return PB_NO_MEMORY;
    }
    return built ? PB_ERROR : PB_OK;
}

void sdpa_call_free(SdpaCall *c) {
    if (c->fwd) cudnnBackendDestroyDescriptor(c->fwd);
    if (c->bwd) cudnnBackendDestroyDescriptor(c->bwd);
    Graph *gs[2] = {c->fwd_graph, c->bwd_graph};
    for (int i = 0; i < 2; i++) {
        if (gs[i]) graph_free(gs[i]);
        free(gs[i]);
    }
    cudaFree(c->len_q);
    cudaFree(c->len_kv);
    cudaFree(c->off_q);
    cudaFree(c->off_kv);
    cudaFree(c->off_s);
    for (int i = 1; i < c->n_parts; i++) { // part 0's arrays are the call's
        SdpaPart *pt = &c->parts[i];
        cudaFree(pt->len_q), cudaFree(pt->len_kv), cudaFree(pt->off_q), cudaFree(pt->off_kv), cudaFree(pt->off_s);
    }
    free(c->parts);
    free(c->runs);
    memset(c, 0, sizeof *c);
}

void spec_free(CallSpec *sp) {
    free(sp->len_q);
    free(sp->len_kv);
    free(sp->start_q);
    free(sp->start_kv);
    memset(sp, 0, sizeof *sp);
}

int spec_alloc(CallSpec *sp, int64_t b) {
    memset(sp, 0, sizeof *sp);
    sp->b = b;
    sp->len_q = calloc((size_t)b, sizeof(int32_t));
    sp->len_kv = calloc((size_t)b, sizeof(int32_t));
    sp->start_q = calloc((size_t)b, sizeof(int64_t));
    sp->start_kv = calloc((size_t)b, sizeof(int64_t));
    return sp->len_q && sp->len_kv && sp->start_q && sp->start_kv ? 0 : -1;
}
