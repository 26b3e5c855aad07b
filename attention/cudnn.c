/*
 * cudnn.c: the "cudnn" attention backend: cuDNN fused flash attention from plain C, through
 * cudnnBackend* descriptors (DESIGN.md section 6; the graphs are those cudnn-frontend's
 * composite SDPA nodes emit, rebuilt here by hand).
 *
 * One "call" is one fused SDPA over a batch of sequences with per-sequence lengths:
 *   padded  one call, B = n_rows, S = row_len, BSHD strides, per-row lengths (padding mask).
 *   packed  one call, THD ragged offsets over the documents (no attention across documents).
 *   prefix  forward as method (a): call P over the prompts (THD, causal), call C over the
 *           completions (THD) against [their prompt's K/V, their own K/V], bottom-right causal.
 *           The K/V of [P, c_k] is gathered into kcat/vcat (cudaMemcpyAsync); in backward the
 *           completion part of dkcat/dvcat is copied back and the K prompt copies are added onto
 *           the prompt's dK/dV from call P (add_inplace, kernels/elementwise.cu: fp32 add, bf16
 *           result, so K roundings; a cuBLASLt GEMV did the fp32 sum at once but took 0.8 ms each).
 *           Method (b) (PB_CUDNN_PREFIX=b): one THD call over the groups with the exact prefix
 *           mask: key col allowed iff col < p or col >= seg_lo[row] (int MAX/SUB/NEG + CMP_GE).
 *           Method (c) (PB_CUDNN_PREFIX=c, the default): the forward of (a), the backward split by
 *           keys (prefix_split_setup), which needs no copies and visits no masked tile.
 * Plans are built in prepare() (heuristics mode A, then fallback; the first config whose plan
 * finalizes) and reused. Statistics: cuDNN's stats are max + log(sum exp(s - max)) of the scaled
 * scores, i.e. the contract's lse; written token-major (n_slots, Hq) directly. Padding slots get
 * o = 0, lse = 0 (cuDNN leaves them untouched) and dq = dk = dv = 0 by cudaMemsetAsync.
 * cuDNN >= 9.6 zero-initialises the dQ fp32 accumulator itself.
 */
#define PB_WANT_CUDNN
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cudnn.h>

#include "../kernels/check.h"
#include "../kernels/kernels.h"
#include "attention.h"

// ---- UIDs of the tensors that live in memory (variant pack) ---------------------------------
enum {
    UID_Q = 1, UID_K, UID_V, UID_O, UID_STATS, UID_DO, UID_DQ, UID_DK, UID_DV,
    UID_SCALE, UID_NEG_INF, UID_ONE, UID_LEN_Q, UID_LEN_KV, UID_OFF_Q, UID_OFF_KV, UID_OFF_S,
    UID_SUM, UID_DQ_ACC, UID_DK_FULL, UID_DV_FULL, UID_ZERO, UID_SEG_LO, UID_PROMPT_LAST,
    UID_VIRTUAL = 1000,
};

#define MAX_OPS 96
#define MAX_TENSORS 192

// ---- a graph under construction: owns its descriptors, remembers the first error ------------
typedef struct Graph {
    cudnnBackendDescriptor_t ops[MAX_OPS];
    int n_ops;
    cudnnBackendDescriptor_t owned[MAX_TENSORS + MAX_OPS];
    int n_owned;
    int64_t next_uid;
    char *err;
    size_t errlen;
    int failed;
} Graph;

static int graph_check(Graph *g, cudnnStatus_t s, const char *what) {
    if (s == CUDNN_STATUS_SUCCESS || g->failed) return s == CUDNN_STATUS_SUCCESS;
    char msg[256] = {0};
    cudnnGetLastErrorString(msg, sizeof msg);
    snprintf(g->err, g->errlen, "cudnn: %s: %s %s", what, cudnnGetErrorString(s), msg);
    g->failed = 1;
    return 0;
}

static cudnnBackendDescriptor_t graph_new(Graph *g, cudnnBackendDescriptorType_t type, const char *what) {
    cudnnBackendDescriptor_t d = NULL;
    if (g->n_owned >= MAX_TENSORS + MAX_OPS) {
        if (!g->failed) snprintf(g->err, g->errlen, "cudnn: graph too large");
        g->failed = 1;
        return NULL;
    }
    if (!graph_check(g, cudnnBackendCreateDescriptor(type, &d), what)) return NULL;
    g->owned[g->n_owned++] = d;
    return d;
}

static void graph_set(Graph *g, cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
                      cudnnBackendAttributeType_t type, int64_t count, const void *value, const char *what) {
    if (g->failed || !d) return;
    graph_check(g, cudnnBackendSetAttribute(d, name, type, count, value), what);
}

static void graph_finalize(Graph *g, cudnnBackendDescriptor_t d, const char *what) {
    if (g->failed || !d) return;
    graph_check(g, cudnnBackendFinalize(d), what);
}

static void graph_free(Graph *g) {
    for (int i = g->n_owned - 1; i >= 0; i--) cudnnBackendDestroyDescriptor(g->owned[i]);
    g->n_owned = g->n_ops = 0;
}

typedef cudnnBackendDescriptor_t Tensor;

/* A 4-D tensor. uid 0: virtual (intermediate). by_value: a host scalar. */
static Tensor graph_tensor(Graph *g, int64_t uid, cudnnDataType_t dtype, const int64_t dim[4],
                           const int64_t stride[4], bool by_value, Tensor ragged) {
    Tensor t = graph_new(g, CUDNN_BACKEND_TENSOR_DESCRIPTOR, "tensor");
    bool is_virtual = uid == 0;
    if (is_virtual) uid = g->next_uid++;
    int64_t align = 16;
    graph_set(g, t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dtype, "tensor dtype");
    graph_set(g, t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dim, "tensor dims");
    graph_set(g, t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, stride, "tensor strides");
    graph_set(g, t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid, "tensor uid");
    graph_set(g, t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align, "tensor alignment");
    graph_set(g, t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual, "tensor virtual");
    if (by_value) graph_set(g, t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &by_value, "tensor by value");
    if (ragged) graph_set(g, t, CUDNN_ATTR_TENSOR_RAGGED_OFFSET_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &ragged,
                          "tensor ragged offset");
    graph_finalize(g, t, "tensor finalize");
    return t;
}

static Tensor graph_scalar(Graph *g, int64_t uid, cudnnDataType_t dtype) {
    const int64_t one[4] = {1, 1, 1, 1};
    return graph_tensor(g, uid, dtype, one, one, true, NULL);
}

// A per-sequence int tensor [b,1,1,1] (lengths) or int64 [b+1,1,1,1] (ragged offsets).
static Tensor graph_per_seq(Graph *g, int64_t uid, cudnnDataType_t dtype, int64_t n) {
    const int64_t dim[4] = {n, 1, 1, 1}, stride[4] = {1, 1, 1, 1};
    return graph_tensor(g, uid, dtype, dim, stride, false, NULL);
}

static Tensor graph_virtual(Graph *g, cudnnDataType_t dtype, const int64_t dim[4], const int64_t stride[4]) {
    return graph_tensor(g, 0, dtype, dim, stride, false, NULL);
}

static void graph_add_op(Graph *g, cudnnBackendDescriptor_t op) {
    if (g->failed || !op) return;
    if (g->n_ops >= MAX_OPS) {
        snprintf(g->err, g->errlen, "cudnn: too many ops");
        g->failed = 1;
        return;
    }
    g->ops[g->n_ops++] = op;
}

/* y = mode(x, b, t); b and t may be NULL. axis >= 0 for GEN_INDEX. */
static void graph_pointwise(Graph *g, cudnnPointwiseMode_t mode, cudnnDataType_t prec, int64_t axis, Tensor x,
                            Tensor b, Tensor t, Tensor y) {
    cudnnBackendDescriptor_t pw = graph_new(g, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, "pointwise");
    graph_set(g, pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode, "pointwise mode");
    graph_set(g, pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec, "pointwise prec");
    if (axis >= 0) graph_set(g, pw, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, &axis, "pointwise axis");
    graph_finalize(g, pw, "pointwise finalize");
    cudnnBackendDescriptor_t op = graph_new(g, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, "pointwise op");
    graph_set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw, "pw desc");
    graph_set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x, "pw x");
    if (b) graph_set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b, "pw b");
    if (t) graph_set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t, "pw t");
    graph_set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "pw y");
    graph_finalize(g, op, "pointwise op finalize");
    graph_add_op(g, op);
}

static void graph_reduction(Graph *g, cudnnReduceTensorOp_t mode, Tensor x, Tensor y) {
    cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    cudnnBackendDescriptor_t r = graph_new(g, CUDNN_BACKEND_REDUCTION_DESCRIPTOR, "reduction");
    graph_set(g, r, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &mode, "reduction mode");
    graph_set(g, r, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &prec, "reduction prec");
    graph_finalize(g, r, "reduction finalize");
    cudnnBackendDescriptor_t op = graph_new(g, CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR, "reduction op");
    graph_set(g, op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &r, "red desc");
    graph_set(g, op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x, "red x");
    graph_set(g, op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "red y");
    graph_finalize(g, op, "reduction op finalize");
    graph_add_op(g, op);
}

/* c = a x b (fp32 compute), with optional per-batch M / N / K overrides. */
static void graph_matmul(Graph *g, Tensor a, Tensor b, Tensor c, Tensor m, Tensor n, Tensor k) {
    cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    cudnnBackendDescriptor_t mm = graph_new(g, CUDNN_BACKEND_MATMUL_DESCRIPTOR, "matmul");
    graph_set(g, mm, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &prec, "matmul prec");
    graph_finalize(g, mm, "matmul finalize");
    cudnnBackendDescriptor_t op = graph_new(g, CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR, "matmul op");
    graph_set(g, op, CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &mm, "mm desc");
    graph_set(g, op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a, "mm a");
    graph_set(g, op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b, "mm b");
    graph_set(g, op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &c, "mm c");
    if (m) graph_set(g, op, CUDNN_ATTR_OPERATION_MATMUL_GEMM_M_OVERRIDE_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &m, "mm m");
    if (n) graph_set(g, op, CUDNN_ATTR_OPERATION_MATMUL_GEMM_N_OVERRIDE_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, "mm n");
    if (k) graph_set(g, op, CUDNN_ATTR_OPERATION_MATMUL_GEMM_K_OVERRIDE_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &k, "mm k");
    graph_finalize(g, op, "matmul op finalize");
    graph_add_op(g, op);
}

static void graph_reshape(Graph *g, Tensor x, Tensor y) {
    cudnnBackendDescriptor_t op = graph_new(g, CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR, "reshape op");
    graph_set(g, op, CUDNN_ATTR_OPERATION_RESHAPE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x, "reshape x");
    graph_set(g, op, CUDNN_ATTR_OPERATION_RESHAPE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "reshape y");
    graph_finalize(g, op, "reshape finalize");
    graph_add_op(g, op);
}

/* Operation graph -> heuristics (mode A, then fallback) -> first plan that finalizes. The plan
 * is not owned by g (it outlives it). */
static cudnnBackendDescriptor_t graph_plan(Graph *g, cudnnHandle_t handle, int64_t *workspace) {
    if (g->failed) return NULL;
    cudnnBackendDescriptor_t opg = graph_new(g, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "op graph");
    graph_set(g, opg, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, g->n_ops, g->ops, "graph ops");
    graph_set(g, opg, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "graph handle");
    graph_finalize(g, opg, "op graph finalize");
    if (g->failed) return NULL;
    const cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
    char first_err[512] = {0};
    for (int mi = 0; mi < 2; mi++) {
        cudnnBackendDescriptor_t heur = graph_new(g, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, "heuristics");
        graph_set(g, heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &opg, "heur graph");
        graph_set(g, heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &modes[mi], "heur mode");
        graph_finalize(g, heur, "heuristics finalize");
        if (g->failed) return NULL;
        int64_t n = 0;
        if (cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &n, NULL)
            != CUDNN_STATUS_SUCCESS) n = 0;
        if (n > 16) n = 16;
        cudnnBackendDescriptor_t cfg[16];
        int64_t got = 0;
        for (int64_t i = 0; i < n; i++) cfg[i] = graph_new(g, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, "engine cfg");
        if (g->failed) return NULL;
        if (n > 0 && cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, n,
                                              &got, cfg) != CUDNN_STATUS_SUCCESS) got = 0;
        for (int64_t i = 0; i < got; i++) {
            cudnnBackendDescriptor_t plan = NULL;
            if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan) != CUDNN_STATUS_SUCCESS)
                continue;
            cudnnStatus_t s = cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
            if (s == CUDNN_STATUS_SUCCESS)
                s = cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                             1, &cfg[i]);
            if (s == CUDNN_STATUS_SUCCESS) s = cudnnBackendFinalize(plan);
            if (s == CUDNN_STATUS_SUCCESS) {
                int64_t ws = 0, cnt = 0;
                s = cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &cnt, &ws);
                if (s == CUDNN_STATUS_SUCCESS) {
                    *workspace = ws;
                    return plan;
                }
            }
            if (!first_err[0]) {
                char msg[256] = {0};
                cudnnGetLastErrorString(msg, sizeof msg);
                snprintf(first_err, sizeof first_err, "%s %s", cudnnGetErrorString(s), msg);
            }
            cudnnBackendDestroyDescriptor(plan);
        }
    }
    snprintf(g->err, g->errlen, "cudnn: no execution plan finalizes (%s)", first_err[0] ? first_err : "no engine configs");
    g->failed = 1;
    return NULL;
}

// ---- one fused SDPA call --------------------------------------------------------------------

typedef enum CausalKind { CAUSAL_TOP_LEFT, CAUSAL_BOTTOM_RIGHT, CAUSAL_PREFIX } CausalKind;

typedef struct SdpaCall {
    int64_t b, sq, skv;          // batch, max query / key length
    int ragged;                  // THD: ragged offsets on every token tensor
    int full;                    // BSHD with every length == S: the forward needs no padding mask
    CausalKind causal;
    int64_t q_batch_stride, kv_batch_stride; // in tokens (non-ragged: row_len)
    cudnnBackendDescriptor_t fwd, bwd;
    int64_t fwd_ws, bwd_ws;
    Graph *fwd_graph, *bwd_graph; // the descriptors the plans were built from, kept alive with them
    int32_t *len_q, *len_kv;     // device [b]
    int64_t *off_q, *off_kv, *off_s; // device [b+1], elements (ragged only)
    int32_t *seg_lo, *prompt_last;   // device, prefix mask only: both per row [b, 1, sq, 1]
} SdpaCall;

typedef struct SlotRun { size_t start, len; } SlotRun;

typedef struct PrefixGather { size_t src_prompt, prompt_len, src_comp, comp_len, dst; } PrefixGather;

enum { SCR_WORKSPACE, SCR_SUM, SCR_DQ_ACC, SCR_DK_FULL, SCR_DV_FULL, SCR_DQ_TMP, SCR_DKCAT, SCR_DVCAT, SCR_COUNT };

struct AttnBackend {
    AttnShape shape;
    cudnnHandle_t handle;
    int prefix_method;           // 'a', 'b' or 'c' (PB_CUDNN_PREFIX)
    // per layout (prepare)
    Strategy strategy;
    size_t n_slots;
    SdpaCall calls[4];
    int n_calls;
    int split_backward;          // prefix (c): backward by calls[2] (groups vs prompts), calls[3] (self)
    void *dq_tmp;                // prefix (c): dq of calls[3], added onto dq; bf16 (n_slots, Hq, D) [scratch]
    SlotRun *comps;               // prefix (c): each group's completion slots
    int n_comps;
    void *workspace;             // [scratch]
    size_t workspace_bytes;
    float *sum_buf, *dq_acc;     // fp32 softmax-sum (n_slots, Hq), dQ accumulator (n_slots, Hq, D) [scratch]
    void *dk_full, *dv_full;     // ragged GQA: per-query-head dK / dV, bf16 [scratch]
    SlotRun *pads;
    int n_pads;
    // prefix (a)
    void *kcat, *vcat, *dkcat, *dvcat; // [cat_tokens, Hkv, D]; kcat/vcat live from forward to backward,
                                       // dkcat/dvcat [scratch]
    size_t cat_tokens;
    PrefixGather *gathers;       // one per completion
    int n_gathers;
    size_t device_bytes;         // what prepare allocated (kept until release)
    // buffers marked [scratch] live only inside one forward/backward call: prepare lays them out
    // in scratch_bytes, set_scratch points them into the caller's memory
    size_t scr_off[SCR_COUNT];
    size_t scratch_bytes;
    char *scratch;
    int prepared;
    // PB_CUDNN_PHASES=1 (development): time the prefix (a) backward phases, print at destroy
    int phases, phase_n;
    cudaEvent_t phase_ev[5];
    double phase_ms[4];
};

static const float k_neg_inf = -INFINITY;
static const float k_one = 1.0f;
static const int32_t k_zero_i = 0;

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

typedef struct MaskInputs { Tensor len_q, len_kv, neg_inf, zero, seg_lo, prompt_last; } MaskInputs;

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

/* Causal: keep col <= row (top-left) or col <= row + len_kv - len_q (bottom-right). The prefix
 * mask additionally keeps col only if col <= prompt_last or col >= seg_lo[row], written as
 * max(col - seg_lo, prompt_last - col) >= 0 (int ops: LOGICAL_OR of our tensors is unsupported). */
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
    if (kind != CAUSAL_PREFIX) return y;
    Tensor u = graph_virtual(g, CUDNN_DATA_INT32, dim, stride);
    graph_pointwise(g, CUDNN_POINTWISE_SUB, CUDNN_DATA_INT32, -1, col, m->seg_lo, NULL, u);
    Tensor ncol = graph_virtual(g, CUDNN_DATA_INT32, dim, stride);
    graph_pointwise(g, CUDNN_POINTWISE_NEG, CUDNN_DATA_INT32, -1, col, NULL, NULL, ncol);
    Tensor w = graph_virtual(g, CUDNN_DATA_INT32, dim, stride);
    graph_pointwise(g, CUDNN_POINTWISE_ADD, CUDNN_DATA_INT32, -1, ncol, m->prompt_last, NULL, w);
    Tensor mx = graph_virtual(g, CUDNN_DATA_INT32, dim, stride);
    graph_pointwise(g, CUDNN_POINTWISE_MAX, CUDNN_DATA_INT32, -1, u, w, NULL, mx);
    Tensor keep2 = graph_virtual(g, CUDNN_DATA_BOOLEAN, dim, stride);
    graph_pointwise(g, CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, -1, mx, m->zero, NULL, keep2);
    Tensor y2 = graph_virtual(g, CUDNN_DATA_FLOAT, dim, stride);
    graph_pointwise(g, CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, -1, y, m->neg_inf, keep2, y2);
    return y2;
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
    if (c->causal == CAUSAL_PREFIX) {
        const int64_t dim[4] = {c->b, 1, c->sq, 1}, stride[4] = {c->sq, c->sq, 1, 1};
        t->mask.zero = graph_scalar(g, UID_ZERO, CUDNN_DATA_INT32);
        t->mask.seg_lo = graph_tensor(g, UID_SEG_LO, CUDNN_DATA_INT32, dim, stride, false, NULL);
        // per row, not per sequence: a per-sequence int tensor gave wrong masks for b > 1
        t->mask.prompt_last = graph_tensor(g, UID_PROMPT_LAST, CUDNN_DATA_INT32, dim, stride, false, NULL);
    }
}

static int call_build_forward(const AttnShape *sh, cudnnHandle_t handle, SdpaCall *c, char *err, size_t errlen) {
    Graph *gp = calloc(1, sizeof *gp);
    if (!gp) return -1;
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
    return c->fwd ? 0 : -1;
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
    if (!gp) return -1;
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
    return c->bwd ? 0 : -1;
}

// ---- execution --------------------------------------------------------------------------------

typedef struct Pack { int64_t uid[32]; void *ptr[32]; int n; } Pack;

static void pack_add(Pack *p, int64_t uid, const void *ptr) {
    p->uid[p->n] = uid;
    p->ptr[p->n] = (void *)ptr;
    p->n++;
}

static void pack_common(AttnBackend *ab, const SdpaCall *c, int with_lengths, Pack *p, const float *scale) {
    pack_add(p, UID_SCALE, scale);
    pack_add(p, UID_NEG_INF, &k_neg_inf);
    if (with_lengths) {
        pack_add(p, UID_LEN_Q, c->len_q);
        pack_add(p, UID_LEN_KV, c->len_kv);
    }
    if (c->ragged) {
        pack_add(p, UID_OFF_Q, c->off_q);
        pack_add(p, UID_OFF_KV, c->off_kv);
        pack_add(p, UID_OFF_S, c->off_s);
    }
    if (c->causal == CAUSAL_PREFIX) {
        pack_add(p, UID_ZERO, &k_zero_i);
        pack_add(p, UID_SEG_LO, c->seg_lo);
        pack_add(p, UID_PROMPT_LAST, c->prompt_last);
    }
    (void)ab;
}

static int pack_execute(AttnBackend *ab, cudnnBackendDescriptor_t plan, const Pack *p, cudaStream_t stream,
                        char *err, size_t errlen) {
    Graph g = {.err = err, .errlen = errlen};
    if (!graph_check(&g, cudnnSetStream(ab->handle, stream), "set stream")) return -1;
    cudnnBackendDescriptor_t vp = graph_new(&g, CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, "variant pack");
    graph_set(&g, vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, p->n, p->uid, "pack uids");
    graph_set(&g, vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, p->n, p->ptr, "pack pointers");
    graph_set(&g, vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ab->workspace, "pack workspace");
    graph_finalize(&g, vp, "variant pack finalize");
    if (!g.failed) graph_check(&g, cudnnBackendExecute(ab->handle, plan, vp), "execute");
    graph_free(&g);
    return g.failed ? -1 : 0;
}

static int call_forward(AttnBackend *ab, const SdpaCall *c, const void *q, const void *k, const void *v, void *o,
                        float *lse, cudaStream_t stream, char *err, size_t errlen) {
    const float scale = 1.0f / sqrtf((float)ab->shape.head_dim);
    Pack p = {.n = 0};
    pack_common(ab, c, !c->full, &p, &scale);
    pack_add(&p, UID_Q, q);
    pack_add(&p, UID_K, k);
    pack_add(&p, UID_V, v);
    pack_add(&p, UID_O, o);
    pack_add(&p, UID_STATS, lse);
    return pack_execute(ab, c->fwd, &p, stream, err, errlen);
}

static int call_backward(AttnBackend *ab, const SdpaCall *c, const void *q, const void *k, const void *v,
                         const void *o, const void *dout, const float *lse, void *dq, void *dk, void *dv,
                         cudaStream_t stream, char *err, size_t errlen) {
    const float scale = 1.0f / sqrtf((float)ab->shape.head_dim);
    Pack p = {.n = 0};
    pack_common(ab, c, 1, &p, &scale);
    pack_add(&p, UID_ONE, &k_one);
    pack_add(&p, UID_Q, q);
    pack_add(&p, UID_K, k);
    pack_add(&p, UID_V, v);
    pack_add(&p, UID_O, o);
    pack_add(&p, UID_DO, dout);
    pack_add(&p, UID_STATS, lse);
    pack_add(&p, UID_DQ, dq);
    pack_add(&p, UID_DK, dk);
    pack_add(&p, UID_DV, dv);
    pack_add(&p, UID_SUM, ab->sum_buf);
    pack_add(&p, UID_DQ_ACC, ab->dq_acc);
    if (c->ragged && ab->shape.n_head != ab->shape.n_kv_head) {
        pack_add(&p, UID_DK_FULL, ab->dk_full);
        pack_add(&p, UID_DV_FULL, ab->dv_full);
    }
    return pack_execute(ab, c->bwd, &p, stream, err, errlen);
}

// ---- prepare: calls, plans and buffers for one layout ----------------------------------------

static int dev_alloc(AttnBackend *ab, void **p, size_t bytes, char *err, size_t errlen) {
    *p = NULL;
    if (bytes == 0) return 0;
    if (cudaMalloc(p, bytes) != cudaSuccess) {
        cudaGetLastError();
        *p = NULL;
        snprintf(err, errlen, "cudnn attention: out of device memory (%zu bytes)", bytes);
        return -2;
    }
    ab->device_bytes += bytes;
    return 0;
}

// A transient buffer's place in the scratch (256-byte aligned, like cudaMalloc's).
static void scratch_take(AttnBackend *ab, int which, size_t bytes) {
    ab->scr_off[which] = ab->scratch_bytes;
    ab->scratch_bytes += (bytes + 255) / 256 * 256;
}

static int dev_upload(AttnBackend *ab, void **p, const void *host, size_t bytes, char *err, size_t errlen) {
    int rc = dev_alloc(ab, p, bytes, err, errlen);
    if (rc) return rc;
    cudaCheck(cudaMemcpy(*p, host, bytes, cudaMemcpyHostToDevice));
    return 0;
}

/* Host description of one call: per-sequence q / kv starts (tokens) and lengths. */
typedef struct CallSpec {
    int64_t b;
    int32_t *len_q, *len_kv;
    int64_t *start_q, *start_kv;
    int32_t *seg_lo;      // prefix mask: [b * sq], relative to the sequence start
    int32_t *prompt_last; // prefix mask: [b * sq], the last prompt key of the row's sequence
} CallSpec;

enum { BUILD_FWD = 1, BUILD_BWD = 2 };

static int call_setup(AttnBackend *ab, SdpaCall *c, const CallSpec *sp, int ragged, CausalKind causal,
                      int64_t batch_tokens, int build, char *err, size_t errlen) {
    const int64_t hq = ab->shape.n_head, hkv = ab->shape.n_kv_head, d = ab->shape.head_dim;
    memset(c, 0, sizeof *c);
    c->b = sp->b;
    c->ragged = ragged;
    c->causal = causal;
    c->q_batch_stride = c->kv_batch_stride = batch_tokens;
    for (int64_t i = 0; i < sp->b; i++) {
        if (sp->len_q[i] > c->sq) c->sq = sp->len_q[i];
        if (sp->len_kv[i] > c->skv) c->skv = sp->len_kv[i];
    }
    if (!ragged) {
        c->sq = c->skv = batch_tokens;
        c->full = causal == CAUSAL_TOP_LEFT;
        for (int64_t i = 0; i < sp->b; i++) c->full &= sp->len_q[i] == batch_tokens && sp->len_kv[i] == batch_tokens;
    }
    int rc = dev_upload(ab, (void **)&c->len_q, sp->len_q, (size_t)sp->b * sizeof(int32_t), err, errlen);
    if (!rc) rc = dev_upload(ab, (void **)&c->len_kv, sp->len_kv, (size_t)sp->b * sizeof(int32_t), err, errlen);
    if (rc) return rc;
    if (ragged) {
        int64_t *oq = malloc((size_t)(sp->b + 1) * 3 * sizeof(int64_t));
        if (!oq) {
            snprintf(err, errlen, "cudnn attention: out of host memory");
            return -1;
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
        rc = dev_upload(ab, (void **)&c->off_q, oq, bytes, err, errlen);
        if (!rc) rc = dev_upload(ab, (void **)&c->off_kv, okv, bytes, err, errlen);
        if (!rc) rc = dev_upload(ab, (void **)&c->off_s, os, bytes, err, errlen);
        free(oq);
        if (rc) return rc;
    }
    if (causal == CAUSAL_PREFIX) {
        rc = dev_upload(ab, (void **)&c->seg_lo, sp->seg_lo, (size_t)(sp->b * c->sq) * sizeof(int32_t), err, errlen);
        if (!rc) rc = dev_upload(ab, (void **)&c->prompt_last, sp->prompt_last, (size_t)(sp->b * c->sq) * sizeof(int32_t),
                                 err, errlen);
        if (rc) return rc;
    }
    if ((build & BUILD_FWD) && call_build_forward(&ab->shape, ab->handle, c, err, errlen)) return -1;
    if ((build & BUILD_BWD) && call_build_backward(&ab->shape, ab->handle, c, err, errlen)) return -1;
    return 0;
}

static void call_free(SdpaCall *c) {
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
    cudaFree(c->seg_lo);
    cudaFree(c->prompt_last);
    memset(c, 0, sizeof *c);
}

static void spec_free(CallSpec *sp) {
    free(sp->len_q);
    free(sp->len_kv);
    free(sp->start_q);
    free(sp->start_kv);
    free(sp->seg_lo);
    free(sp->prompt_last);
    memset(sp, 0, sizeof *sp);
}

static int spec_alloc(CallSpec *sp, int64_t b) {
    memset(sp, 0, sizeof *sp);
    sp->b = b;
    sp->len_q = calloc((size_t)b, sizeof(int32_t));
    sp->len_kv = calloc((size_t)b, sizeof(int32_t));
    sp->start_q = calloc((size_t)b, sizeof(int64_t));
    sp->start_kv = calloc((size_t)b, sizeof(int64_t));
    return sp->len_q && sp->len_kv && sp->start_q && sp->start_kv ? 0 : -1;
}

// Padding slots as contiguous runs (zeroed after every call).
static int find_pad_runs(AttnBackend *ab, const Layout *l) {
    int n = 0;
    for (size_t i = 0; i < l->n_slots; i++)
        if (l->seq_id[i] < 0 && (i == 0 || l->seq_id[i - 1] >= 0)) n++;
    ab->pads = n ? calloc((size_t)n, sizeof(SlotRun)) : NULL;
    if (n && !ab->pads) return -1;
    ab->n_pads = 0;
    for (size_t i = 0; i < l->n_slots; i++) {
        if (l->seq_id[i] >= 0) continue;
        if (i == 0 || l->seq_id[i - 1] >= 0) ab->pads[ab->n_pads++] = (SlotRun){i, 0};
        ab->pads[ab->n_pads - 1].len++;
    }
    return 0;
}

// Prefix (a): where each completion's [P, c] K/V goes in kcat (one slot of p + max n per completion).
static int prefix_gathers_setup(AttnBackend *ab, const Layout *l, CallSpec *cs, char *err, size_t errlen) {
    const int64_t hkv = ab->shape.n_kv_head, d = ab->shape.head_dim;
    ab->n_gathers = l->n_segs;
    ab->gathers = calloc((size_t)l->n_segs, sizeof(PrefixGather));
    if (!ab->gathers) {
        snprintf(err, errlen, "cudnn attention: out of host memory");
        return -1;
    }
    size_t cat = 0;
    int si = 0;
    for (int gi = 0; gi < l->n_seqs; gi++) {
        const LayoutSeq *sq = &l->seqs[gi];
        int first = si, max_len = 0;
        while (si < l->n_segs && l->segs[si].seq == gi) {
            if (l->segs[si].len > max_len) max_len = l->segs[si].len;
            si++;
        }
        size_t slot = (size_t)sq->shared_len + (size_t)max_len;
        for (int j = first; j < si; j++) {
            const LayoutSeg *sg = &l->segs[j];
            ab->gathers[j] = (PrefixGather){(size_t)sq->start, (size_t)sq->shared_len, (size_t)sg->start,
                                            (size_t)sg->len, cat + (size_t)(j - first) * slot};
            cs->len_q[j] = sg->len;
            cs->len_kv[j] = sq->shared_len + sg->len;
            cs->start_q[j] = sg->start;
            cs->start_kv[j] = (int64_t)ab->gathers[j].dst;
        }
        cat += (size_t)(si - first) * slot;
    }
    ab->cat_tokens = cat;
    size_t bytes = cat * (size_t)(hkv * d) * 2;
    int rc = dev_alloc(ab, &ab->kcat, bytes, err, errlen);
    if (!rc) rc = dev_alloc(ab, &ab->vcat, bytes, err, errlen);
    if (!rc && ab->prefix_method == 'a') {
        scratch_take(ab, SCR_DKCAT, bytes);
        scratch_take(ab, SCR_DVCAT, bytes);
    }
    return rc;
}

static void attn_cudnn_release(AttnBackend *ab);

/* Prefix (c) backward, split by keys: with the final o and lse, each key subset's share of the
 * gradient is exact. calls[2]: every group's rows against its prompt keys (top-left causal:
 * prompt rows causal, completion rows see the whole prompt); calls[3]: each completion against
 * itself (causal). dK/dV of every key come from one call; dQ of completion rows is the sum of
 * both (calls[3] writes dq_tmp, added after). No K/V copies, no masked tiles visited. */
static int prefix_split_setup(AttnBackend *ab, const Layout *l, char *err, size_t errlen) {
    CallSpec sp[2];
    memset(sp, 0, sizeof sp);
    int rc = 0;
    if (spec_alloc(&sp[0], l->n_seqs) || spec_alloc(&sp[1], l->n_segs)) rc = -1;
    ab->comps = calloc((size_t)l->n_seqs, sizeof(SlotRun));
    if (!ab->comps) rc = -1;
    int32_t max_q = 0, max_c = 0;
    for (int i = 0; !rc && i < l->n_seqs; i++) {
        const LayoutSeq *sq = &l->seqs[i];
        sp[0].len_q[i] = sq->len;
        sp[0].len_kv[i] = sq->shared_len;
        sp[0].start_q[i] = sp[0].start_kv[i] = sq->start;
        if (sq->len > max_q) max_q = sq->len;
        if (sq->len > sq->shared_len)
            ab->comps[ab->n_comps++] = (SlotRun){(size_t)(sq->start + sq->shared_len), (size_t)(sq->len - sq->shared_len)};
    }
    for (int i = 0; !rc && i < l->n_segs; i++) {
        sp[1].len_q[i] = sp[1].len_kv[i] = l->segs[i].len;
        sp[1].start_q[i] = sp[1].start_kv[i] = l->segs[i].start;
        if (l->segs[i].len > max_c) max_c = l->segs[i].len;
    }
    if (rc) snprintf(err, errlen, "cudnn attention: out of host memory");
    if (!rc) rc = call_setup(ab, &ab->calls[2], &sp[0], 1, CAUSAL_TOP_LEFT, max_q, BUILD_BWD, err, errlen);
    if (!rc) rc = call_setup(ab, &ab->calls[3], &sp[1], 1, CAUSAL_TOP_LEFT, max_c, BUILD_BWD, err, errlen);
    if (!rc) scratch_take(ab, SCR_DQ_TMP, ab->n_slots * (size_t)(ab->shape.n_head * ab->shape.head_dim) * 2);
    ab->split_backward = !rc;
    spec_free(&sp[0]);
    spec_free(&sp[1]);
    return rc;
}


static PbStatus attn_cudnn_prepare(AttnBackend *ab, const AttnMask *mask, size_t *device_bytes, size_t *scratch_bytes,
                              char *err, size_t errlen) {
    attn_cudnn_release(ab);
    const Layout *l = mask->host;
    const int64_t hq = ab->shape.n_head, hkv = ab->shape.n_kv_head, d = ab->shape.head_dim;
    if (hq % hkv || d % 8 || l->n_seqs <= 0) {
        snprintf(err, errlen, "cudnn attention: unsupported shape (Hq %d, Hkv %d, D %d, %d sequences)",
                 (int)hq, (int)hkv, (int)d, l->n_seqs);
        return -1;
    }
    ab->strategy = l->strategy;
    ab->n_slots = l->n_slots;
    if (find_pad_runs(ab, l)) {
        snprintf(err, errlen, "cudnn attention: out of host memory");
        return -1;
    }
    int rc = 0;
    CallSpec sp[2];
    memset(sp, 0, sizeof sp);
    if (l->strategy == STRATEGY_PADDED) {
        // one batch entry per row; rows are sequences in slot order
        if (spec_alloc(&sp[0], l->n_rows)) rc = -1;
        for (int i = 0; !rc && i < l->n_seqs; i++) {
            int r = l->seqs[i].start / l->row_len;
            sp[0].len_q[r] = sp[0].len_kv[r] = l->seqs[i].len;
        }
        ab->n_calls = 1;
        if (!rc) rc = call_setup(ab, &ab->calls[0], &sp[0], 0, CAUSAL_TOP_LEFT, l->row_len, BUILD_FWD | BUILD_BWD,
                                 err, errlen);
    } else if (l->strategy == STRATEGY_PACKED || ab->prefix_method == 'b' || l->n_segs == 0) {
        int prefix = l->strategy == STRATEGY_PREFIX && l->n_segs > 0;
        if (spec_alloc(&sp[0], l->n_seqs)) rc = -1;
        int32_t max_len = 0;
        for (int i = 0; !rc && i < l->n_seqs; i++) {
            sp[0].len_q[i] = sp[0].len_kv[i] = l->seqs[i].len;
            sp[0].start_q[i] = sp[0].start_kv[i] = l->seqs[i].start;
            if (l->seqs[i].len > max_len) max_len = l->seqs[i].len;
        }
        if (!rc && prefix) {
            sp[0].seg_lo = calloc((size_t)l->n_seqs * (size_t)max_len, sizeof(int32_t));
            sp[0].prompt_last = calloc((size_t)l->n_seqs * (size_t)max_len, sizeof(int32_t));
            if (!sp[0].seg_lo || !sp[0].prompt_last) rc = -1;
            for (int i = 0; !rc && i < l->n_seqs; i++) {
                const LayoutSeq *s = &l->seqs[i];
                for (int r = 0; r < s->len; r++) {
                    sp[0].seg_lo[(size_t)i * max_len + r] = l->seg_lo[s->start + r] - s->start;
                    sp[0].prompt_last[(size_t)i * max_len + r] = s->shared_len - 1;
                }
            }
        }
        ab->n_calls = 1;
        if (!rc) rc = call_setup(ab, &ab->calls[0], &sp[0], 1, prefix ? CAUSAL_PREFIX : CAUSAL_TOP_LEFT, max_len,
                                 BUILD_FWD | BUILD_BWD, err, errlen);
    } else {
        // (a): call 0 over the prompts, call 1 over the completions against [prompt, completion];
        // (c): the same forward, the backward split by keys (prefix_split_setup)
        const int split = ab->prefix_method == 'c';
        const int build = split ? BUILD_FWD : BUILD_FWD | BUILD_BWD;
        if (spec_alloc(&sp[0], l->n_seqs) || spec_alloc(&sp[1], l->n_segs)) rc = -1;
        int32_t max_p = 0;
        for (int i = 0; !rc && i < l->n_seqs; i++) {
            sp[0].len_q[i] = sp[0].len_kv[i] = l->seqs[i].shared_len;
            sp[0].start_q[i] = sp[0].start_kv[i] = l->seqs[i].start;
            if (l->seqs[i].shared_len > max_p) max_p = l->seqs[i].shared_len;
        }
        if (rc) snprintf(err, errlen, "cudnn attention: out of host memory");
        if (!rc) rc = prefix_gathers_setup(ab, l, &sp[1], err, errlen);
        ab->n_calls = 2;
        if (!rc) rc = call_setup(ab, &ab->calls[0], &sp[0], 1, CAUSAL_TOP_LEFT, max_p, build, err, errlen);
        int32_t max_kv = 0;
        for (int i = 0; !rc && i < l->n_segs; i++)
            if (sp[1].len_kv[i] > max_kv) max_kv = sp[1].len_kv[i];
        if (!rc) rc = call_setup(ab, &ab->calls[1], &sp[1], 1, CAUSAL_BOTTOM_RIGHT, max_kv, build, err, errlen);
        if (!rc && split) rc = prefix_split_setup(ab, l, err, errlen);
    }
    if (rc == -1 && !err[0]) snprintf(err, errlen, "cudnn attention: out of host memory");
    spec_free(&sp[0]);
    spec_free(&sp[1]);
    if (!rc) {
        int64_t ws = 0;
        for (int i = 0; i < 4; i++) {
            if (ab->calls[i].fwd_ws > ws) ws = ab->calls[i].fwd_ws;
            if (ab->calls[i].bwd_ws > ws) ws = ab->calls[i].bwd_ws;
        }
        ab->workspace_bytes = (size_t)ws;
        size_t full_tokens = ab->n_slots > ab->cat_tokens ? ab->n_slots : ab->cat_tokens;
        scratch_take(ab, SCR_WORKSPACE, ab->workspace_bytes);
        scratch_take(ab, SCR_SUM, ab->n_slots * (size_t)hq * sizeof(float));
        scratch_take(ab, SCR_DQ_ACC, ab->n_slots * (size_t)(hq * d) * sizeof(float));
        if (hq != hkv && l->strategy != STRATEGY_PADDED) {
            // bf16, as the graph declares them (cudnn-frontend reserves sizeof(float) per element;
            // the tests run these layouts under compute-sanitizer)
            scratch_take(ab, SCR_DK_FULL, full_tokens * (size_t)(hq * d) * 2);
            scratch_take(ab, SCR_DV_FULL, full_tokens * (size_t)(hq * d) * 2);
        }
    }
    if (rc) {
        attn_cudnn_release(ab);
        return rc;
    }
    ab->prepared = 1;
    *device_bytes = ab->device_bytes;
    *scratch_bytes = ab->scratch_bytes;
    return 0;
}

// ---- forward / backward -------------------------------------------------------------------------

static void zero_pads(const AttnBackend *ab, void *x, size_t bytes_per_slot, cudaStream_t stream) {
    for (int i = 0; i < ab->n_pads; i++)
        cudaCheck(cudaMemsetAsync((char *)x + ab->pads[i].start * bytes_per_slot, 0, ab->pads[i].len * bytes_per_slot,
                                  stream));
}

// kcat/vcat <- [prompt, completion] K/V of every completion.
static void prefix_gather(const AttnBackend *ab, const void *k, const void *v, cudaStream_t stream) {
    const size_t tok = (size_t)(ab->shape.n_kv_head * ab->shape.head_dim) * 2;
    for (int i = 0; i < ab->n_gathers; i++) {
        const PrefixGather *gt = &ab->gathers[i];
        const void *src[2] = {k, v};
        void *dst[2] = {ab->kcat, ab->vcat};
        for (int j = 0; j < 2; j++) {
            cudaCheck(cudaMemcpyAsync((char *)dst[j] + gt->dst * tok, (const char *)src[j] + gt->src_prompt * tok,
                                      gt->prompt_len * tok, cudaMemcpyDeviceToDevice, stream));
            cudaCheck(cudaMemcpyAsync((char *)dst[j] + (gt->dst + gt->prompt_len) * tok,
                                      (const char *)src[j] + gt->src_comp * tok, gt->comp_len * tok,
                                      cudaMemcpyDeviceToDevice, stream));
        }
    }
}

// dk/dv of the completions <- dkcat/dvcat; dk/dv of each prompt += its copies' gradients.
static void prefix_scatter(const AttnBackend *ab, void *dk, void *dv, cudaStream_t stream) {
    const size_t row = (size_t)(ab->shape.n_kv_head * ab->shape.head_dim), tok = row * 2;
    void *dst[2] = {dk, dv};
    const void *cat[2] = {ab->dkcat, ab->dvcat};
    for (int j = 0; j < 2; j++) {
        for (int i = 0; i < ab->n_gathers; i++) {
            const PrefixGather *gt = &ab->gathers[i];
            cudaCheck(cudaMemcpyAsync((char *)dst[j] + gt->src_comp * tok,
                                      (const char *)cat[j] + (gt->dst + gt->prompt_len) * tok, gt->comp_len * tok,
                                      cudaMemcpyDeviceToDevice, stream));
            bf16_t *prompt = (bf16_t *)((char *)dst[j] + gt->src_prompt * tok);
            add_inplace(prompt, (const bf16_t *)((const char *)cat[j] + gt->dst * tok), gt->prompt_len * row, stream);
        }
    }
}

static PbStatus attn_cudnn_forward(AttnBackend *ab, const void *q, const void *k, const void *v, void *o, float *lse,
                              cudaStream_t stream, char *err, size_t errlen) {
    if (!ab->prepared) {
        snprintf(err, errlen, "cudnn attention: forward before prepare");
        return -1;
    }
    if (ab->scratch_bytes && !ab->scratch) {
        snprintf(err, errlen, "cudnn attention: forward without scratch (set_scratch)");
        return -1;
    }
    if (ab->n_calls == 2) {
        prefix_gather(ab, k, v, stream);
        if (call_forward(ab, &ab->calls[0], q, k, v, o, lse, stream, err, errlen)) return -1;
        if (call_forward(ab, &ab->calls[1], q, ab->kcat, ab->vcat, o, lse, stream, err, errlen)) return -1;
    } else if (call_forward(ab, &ab->calls[0], q, k, v, o, lse, stream, err, errlen)) {
        return -1;
    }
    zero_pads(ab, o, (size_t)(ab->shape.n_head * ab->shape.head_dim) * 2, stream);
    zero_pads(ab, lse, (size_t)ab->shape.n_head * sizeof(float), stream);
    return 0;
}

static PbStatus attn_cudnn_backward(AttnBackend *ab, const void *q, const void *k, const void *v, const void *o,
                               const void *dout, const float *lse, void *dq, void *dk, void *dv, cudaStream_t stream,
                               char *err, size_t errlen) {
    if (!ab->prepared) {
        snprintf(err, errlen, "cudnn attention: backward before prepare");
        return -1;
    }
    if (ab->scratch_bytes && !ab->scratch) {
        snprintf(err, errlen, "cudnn attention: backward without scratch (set_scratch)");
        return -1;
    }
    if (ab->split_backward) {
        const size_t row = (size_t)(ab->shape.n_head * ab->shape.head_dim);
        if (ab->phases) cudaCheck(cudaEventRecord(ab->phase_ev[0], stream));
        if (ab->phases) cudaCheck(cudaEventRecord(ab->phase_ev[1], stream));
        if (call_backward(ab, &ab->calls[2], q, k, v, o, dout, lse, dq, dk, dv, stream, err, errlen)) return -1;
        if (ab->phases) cudaCheck(cudaEventRecord(ab->phase_ev[2], stream));
        if (call_backward(ab, &ab->calls[3], q, k, v, o, dout, lse, ab->dq_tmp, dk, dv, stream, err, errlen)) return -1;
        if (ab->phases) cudaCheck(cudaEventRecord(ab->phase_ev[3], stream));
        for (int i = 0; i < ab->n_comps; i++)
            add_inplace((bf16_t *)dq + ab->comps[i].start * row, (const bf16_t *)ab->dq_tmp + ab->comps[i].start * row,
                        ab->comps[i].len * row, stream);
    } else if (ab->n_calls == 2) {
        if (ab->phases) cudaCheck(cudaEventRecord(ab->phase_ev[0], stream));
        prefix_gather(ab, k, v, stream);
        if (ab->phases) cudaCheck(cudaEventRecord(ab->phase_ev[1], stream));
        if (call_backward(ab, &ab->calls[0], q, k, v, o, dout, lse, dq, dk, dv, stream, err, errlen)) return -1;
        if (ab->phases) cudaCheck(cudaEventRecord(ab->phase_ev[2], stream));
        if (call_backward(ab, &ab->calls[1], q, ab->kcat, ab->vcat, o, dout, lse, dq, ab->dkcat, ab->dvcat, stream,
                          err, errlen)) return -1;
        if (ab->phases) cudaCheck(cudaEventRecord(ab->phase_ev[3], stream));
        prefix_scatter(ab, dk, dv, stream);
    } else if (call_backward(ab, &ab->calls[0], q, k, v, o, dout, lse, dq, dk, dv, stream, err, errlen)) {
        return -1;
    }
    if (ab->n_calls == 2 && ab->phases) {
        cudaCheck(cudaEventRecord(ab->phase_ev[4], stream));
        cudaCheck(cudaEventSynchronize(ab->phase_ev[4]));
        for (int i = 0; i < 4; i++) {
            float ms = 0.0f;
            cudaCheck(cudaEventElapsedTime(&ms, ab->phase_ev[i], ab->phase_ev[i + 1]));
            ab->phase_ms[i] += ms;
        }
        ab->phase_n++;
    }
    zero_pads(ab, dq, (size_t)(ab->shape.n_head * ab->shape.head_dim) * 2, stream);
    zero_pads(ab, dk, (size_t)(ab->shape.n_kv_head * ab->shape.head_dim) * 2, stream);
    zero_pads(ab, dv, (size_t)(ab->shape.n_kv_head * ab->shape.head_dim) * 2, stream);
    return 0;
}

// ---- lifetime ---------------------------------------------------------------------------------

static AttnBackend *attn_cudnn_create(const AttnShape *shape, char *err, size_t errlen) {
    // Older cuDNN leaves the dQ accumulator to the caller to zero; this backend relies on 9.6+.
    size_t version = cudnnGetVersion();
    if (version < 90600) {
        snprintf(err, errlen, "cudnn attention: cuDNN %zu.%zu found, 9.6 or newer needed", version / 10000,
                 version / 100 % 100);
        return NULL;
    }
    AttnBackend *ab = calloc(1, sizeof *ab);
    if (!ab) {
        snprintf(err, errlen, "cudnn attention: out of host memory");
        return NULL;
    }
    ab->shape = *shape;
    cudnnStatus_t s = cudnnCreate(&ab->handle);
    if (s != CUDNN_STATUS_SUCCESS) {
        snprintf(err, errlen, "cudnnCreate: %s", cudnnGetErrorString(s));
        free(ab);
        return NULL;
    }
    // Prefix method: (c) split backward (default), (a) prompt K/V copied per completion, (b) one
    // call with the exact mask; dev/NOTES.md compares them.
    const char *m = getenv("PB_CUDNN_PREFIX");
    ab->prefix_method = m && (m[0] == 'a' || m[0] == 'b') ? m[0] : 'c';
    const char *ph = getenv("PB_CUDNN_PHASES");
    ab->phases = ph && ph[0] == '1';
    for (int i = 0; ab->phases && i < 5; i++) cudaCheck(cudaEventCreate(&ab->phase_ev[i]));
    return ab;
}

static void attn_cudnn_release(AttnBackend *ab) {
    for (int i = 0; i < 4; i++) call_free(&ab->calls[i]);
    free(ab->comps);
    cudaFree(ab->kcat); // the [scratch] buffers are the caller's
    cudaFree(ab->vcat);
    free(ab->gathers);
    free(ab->pads);
    AttnShape shape = ab->shape;
    cudnnHandle_t h = ab->handle;
    int method = ab->prefix_method, phases = ab->phases, phase_n = ab->phase_n;
    cudaEvent_t ev[5];
    double phase_ms[4];
    memcpy(ev, ab->phase_ev, sizeof ev);
    memcpy(phase_ms, ab->phase_ms, sizeof phase_ms);
    memset(ab, 0, sizeof *ab);
    ab->shape = shape, ab->handle = h, ab->prefix_method = method;
    ab->phases = phases, ab->phase_n = phase_n;
    memcpy(ab->phase_ev, ev, sizeof ev);
    memcpy(ab->phase_ms, phase_ms, sizeof phase_ms);
}

static void attn_cudnn_set_scratch(AttnBackend *ab, void *scratch) {
    ab->scratch = (char *)scratch;
    void **const p[SCR_COUNT] = {&ab->workspace, (void **)&ab->sum_buf, (void **)&ab->dq_acc, &ab->dk_full,
                                 &ab->dv_full, &ab->dq_tmp, &ab->dkcat, &ab->dvcat};
    for (int i = 0; i < SCR_COUNT; i++) *p[i] = scratch ? ab->scratch + ab->scr_off[i] : NULL;
}

static void attn_cudnn_destroy(AttnBackend *ab) {
    if (!ab) return;
    attn_cudnn_release(ab);
    if (ab->phases && ab->phase_n)
        fprintf(stderr, "cudnn prefix (%c) backward phases, mean of %d (ms): gather %.3f, call 1 %.3f, call 2 %.3f, "
                "sums %.3f\n", ab->prefix_method, ab->phase_n, ab->phase_ms[0] / ab->phase_n, ab->phase_ms[1] / ab->phase_n,
                ab->phase_ms[2] / ab->phase_n, ab->phase_ms[3] / ab->phase_n);
    for (int i = 0; ab->phases && i < 5; i++) cudaEventDestroy(ab->phase_ev[i]);
    cudnnDestroy(ab->handle);
    free(ab);
}

const AttnOps attn_cudnn_ops = {
    .name = "cudnn",
    .create = attn_cudnn_create,
    .prepare = attn_cudnn_prepare,
    .set_scratch = attn_cudnn_set_scratch,
    .forward = attn_cudnn_forward,
    .backward = attn_cudnn_backward,
    .release = attn_cudnn_release,
    .destroy = attn_cudnn_destroy,
};
