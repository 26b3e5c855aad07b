// cudnn_graph.c: cuDNN backend-API graph building, plans and execution (see cudnn_graph.h).
#include "cudnn_graph.h"

#include <stdio.h>
#include <string.h>

int graph_status_is_alloc(cudnnStatus_t s) {
    return s == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED || s == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
}

int graph_check(Graph *g, cudnnStatus_t s, const char *what) {
    if (s == CUDNN_STATUS_SUCCESS || g->failed) return s == CUDNN_STATUS_SUCCESS;
    char msg[256] = {0};
    cudnnGetLastErrorString(msg, sizeof msg);
    snprintf(g->err, g->errlen, "cudnn: %s: %s %s", what, cudnnGetErrorString(s), msg);
    g->failed = 1;
    g->out_of_memory = graph_status_is_alloc(s);
    return 0;
}

cudnnBackendDescriptor_t graph_new(Graph *g, cudnnBackendDescriptorType_t type, const char *what) {
    cudnnBackendDescriptor_t d = NULL;
    if (g->n_owned >= GRAPH_MAX_OWNED) {
        if (!g->failed) snprintf(g->err, g->errlen, "cudnn: graph too large");
        g->failed = 1;
        return NULL;
    }
    if (!graph_check(g, cudnnBackendCreateDescriptor(type, &d), what)) return NULL;
    g->owned[g->n_owned++] = d;
    return d;
}

void graph_set(Graph *g, cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
                      cudnnBackendAttributeType_t type, int64_t count, const void *value, const char *what) {
    if (g->failed || !d) return;
    graph_check(g, cudnnBackendSetAttribute(d, name, type, count, value), what);
}

void graph_finalize(Graph *g, cudnnBackendDescriptor_t d, const char *what) {
    if (g->failed || !d) return;
    graph_check(g, cudnnBackendFinalize(d), what);
}

void graph_free(Graph *g) {
    for (int i = g->n_owned - 1; i >= 0; i--) cudnnBackendDestroyDescriptor(g->owned[i]);
    g->n_owned = g->n_ops = 0;
}


/* A 4-D tensor. uid 0: virtual (intermediate). by_value: a host scalar. */
Tensor graph_tensor(Graph *g, int64_t uid, cudnnDataType_t dtype, const int64_t dim[4],
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

Tensor graph_scalar(Graph *g, int64_t uid, cudnnDataType_t dtype) {
    const int64_t one[4] = {1, 1, 1, 1};
    return graph_tensor(g, uid, dtype, one, one, true, NULL);
}

// A per-sequence int tensor [b,1,1,1] (lengths) or int64 [b+1,1,1,1] (ragged offsets).
Tensor graph_per_seq(Graph *g, int64_t uid, cudnnDataType_t dtype, int64_t n) {
    const int64_t dim[4] = {n, 1, 1, 1}, stride[4] = {1, 1, 1, 1};
    return graph_tensor(g, uid, dtype, dim, stride, false, NULL);
}

Tensor graph_virtual(Graph *g, cudnnDataType_t dtype, const int64_t dim[4], const int64_t stride[4]) {
    return graph_tensor(g, 0, dtype, dim, stride, false, NULL);
}

static void graph_add_op(Graph *g, cudnnBackendDescriptor_t op) {
    if (g->failed || !op) return;
    if (g->n_ops >= GRAPH_MAX_OPS) {
        snprintf(g->err, g->errlen, "cudnn: too many ops");
        g->failed = 1;
        return;
    }
    g->ops[g->n_ops++] = op;
}

/* y = mode(x, b, t); b and t may be NULL. axis >= 0 for GEN_INDEX. */
void graph_pointwise(Graph *g, cudnnPointwiseMode_t mode, cudnnDataType_t prec, int64_t axis, Tensor x,
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

void graph_reduction(Graph *g, cudnnReduceTensorOp_t mode, Tensor x, Tensor y) {
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
void graph_matmul(Graph *g, Tensor a, Tensor b, Tensor c, Tensor m, Tensor n, Tensor k) {
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

void graph_reshape(Graph *g, Tensor x, Tensor y) {
    cudnnBackendDescriptor_t op = graph_new(g, CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR, "reshape op");
    graph_set(g, op, CUDNN_ATTR_OPERATION_RESHAPE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x, "reshape x");
    graph_set(g, op, CUDNN_ATTR_OPERATION_RESHAPE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "reshape y");
    graph_finalize(g, op, "reshape finalize");
    graph_add_op(g, op);
}

/* Operation graph -> heuristics (mode A, then fallback) -> first plan that finalizes. The plan
 * is not owned by g (it outlives it). */
cudnnBackendDescriptor_t graph_plan(Graph *g, cudnnHandle_t handle, int64_t *workspace) {
    if (g->failed) return NULL;
    cudnnBackendDescriptor_t opg = graph_new(g, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "op graph");
    graph_set(g, opg, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, g->n_ops, g->ops, "graph ops");
    graph_set(g, opg, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "graph handle");
    graph_finalize(g, opg, "op graph finalize");
    if (g->failed) return NULL;
    const cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
    char first_err[512] = {0};
    int alloc_failed = 0; // engine configs whose plan did not finalize for lack of memory
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
            alloc_failed += graph_status_is_alloc(s);
            if (!first_err[0]) {
                char msg[256] = {0};
                cudnnGetLastErrorString(msg, sizeof msg);
                snprintf(first_err, sizeof first_err, "%s %s", cudnnGetErrorString(s), msg);
            }
            cudnnBackendDestroyDescriptor(plan);
        }
    }
    // out of memory when any config failed so: with more memory that one would have finalized
    g->out_of_memory = alloc_failed > 0;
    snprintf(g->err, g->errlen, "cudnn: no execution plan finalizes%s (%s)", g->out_of_memory ? " for lack of memory" : "",
             first_err[0] ? first_err : "no engine configs");
    g->failed = 1;
    return NULL;
}

void variant_pack_add(VariantPack *p, int64_t uid, const void *ptr) {
    if (p->n >= VARIANT_PACK_MAX) {
        p->overflow = 1;
        return;
    }
    p->uid[p->n] = uid;
    p->ptr[p->n] = (void *)ptr;
    p->n++;
}

PbStatus variant_pack_execute(cudnnHandle_t handle, cudnnBackendDescriptor_t plan, const VariantPack *p, void *workspace,
                         cudaStream_t stream, char *err, size_t errlen) {
    if (p->overflow) {
        snprintf(err, errlen, "cudnn: variant pack holds at most %d tensors", VARIANT_PACK_MAX);
        return PB_ERROR;
    }
    Graph g = {.err = err, .errlen = errlen};
    if (!graph_check(&g, cudnnSetStream(handle, stream), "set stream")) return PB_DEVICE_ERROR;
    cudnnBackendDescriptor_t vp = graph_new(&g, CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, "variant pack");
    graph_set(&g, vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, p->n, p->uid, "pack uids");
    graph_set(&g, vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, p->n, p->ptr, "pack pointers");
    graph_set(&g, vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace, "pack workspace");
    graph_finalize(&g, vp, "variant pack finalize");
    if (!g.failed) graph_check(&g, cudnnBackendExecute(handle, plan, vp), "execute");
    graph_free(&g);
    return g.failed ? PB_DEVICE_ERROR : PB_OK;
}
