/*
 * cudnn_graph.h: cuDNN backend-API graphs from plain C (DESIGN.md section 6). A Graph owns the
 * descriptors it creates and remembers the first error, so a builder is a straight list of
 * calls with one check at the end; graph_plan turns it into an execution plan, and a
 * VariantPack binds device pointers to the graph's tensor UIDs for one execution.
 */
#ifndef PB_CUDNN_GRAPH_H
#define PB_CUDNN_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>
#include <cudnn.h>

#include "../core/status.h"

#define GRAPH_MAX_OPS 96
#define GRAPH_MAX_OWNED 288 // tensors and ops

typedef struct Graph {
    cudnnBackendDescriptor_t ops[GRAPH_MAX_OPS];
    int n_ops;
    cudnnBackendDescriptor_t owned[GRAPH_MAX_OWNED];
    int n_owned;
    int64_t next_uid;  // the next UID for a virtual tensor
    char *err;
    size_t errlen;
    int failed;
    int out_of_memory; // a failure (the first one, or every engine config's plan) was an allocation
} Graph;

// 1 for the statuses cuDNN returns when it cannot allocate (device or host memory).
int graph_status_is_alloc(cudnnStatus_t s);

typedef cudnnBackendDescriptor_t Tensor;

// 1 if s is success; else records the first error (with cuDNN's last message) and returns 0.
int graph_check(Graph *g, cudnnStatus_t s, const char *what);
cudnnBackendDescriptor_t graph_new(Graph *g, cudnnBackendDescriptorType_t type, const char *what);
void graph_set(Graph *g, cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
               cudnnBackendAttributeType_t type, int64_t count, const void *value, const char *what);
void graph_finalize(Graph *g, cudnnBackendDescriptor_t d, const char *what);
void graph_free(Graph *g); // destroys every owned descriptor

/* A 4-D tensor (16-byte aligned). uid 0: virtual (intermediate). by_value: a host scalar.
 * ragged: a ragged-offset tensor (THD) or NULL. */
Tensor graph_tensor(Graph *g, int64_t uid, cudnnDataType_t dtype, const int64_t dim[4], const int64_t stride[4],
                    bool by_value, Tensor ragged);
Tensor graph_scalar(Graph *g, int64_t uid, cudnnDataType_t dtype);
// A per-sequence tensor [n,1,1,1]: int32 lengths, or int64 ragged offsets (n = sequences + 1).
Tensor graph_per_seq(Graph *g, int64_t uid, cudnnDataType_t dtype, int64_t n);
Tensor graph_virtual(Graph *g, cudnnDataType_t dtype, const int64_t dim[4], const int64_t stride[4]);

/* y = mode(x, b, t); b and t may be NULL; axis >= 0 for GEN_INDEX. */
void graph_pointwise(Graph *g, cudnnPointwiseMode_t mode, cudnnDataType_t prec, int64_t axis, Tensor x, Tensor b,
                     Tensor t, Tensor y);
void graph_reduction(Graph *g, cudnnReduceTensorOp_t mode, Tensor x, Tensor y); // fp32
/* c = a x b (fp32 compute), with optional per-batch M / N / K overrides (NULL: none). */
void graph_matmul(Graph *g, Tensor a, Tensor b, Tensor c, Tensor m, Tensor n, Tensor k);
void graph_reshape(Graph *g, Tensor x, Tensor y);

/* Operation graph -> heuristics (mode A, then fallback) -> the first engine config whose plan
 * finalizes; *workspace: its workspace bytes. The plan is not owned by g but needs g's
 * descriptors alive while it is used. NULL with g->err set (and g->out_of_memory where a failure
 * was an allocation: the plan needs more memory than is free). */
cudnnBackendDescriptor_t graph_plan(Graph *g, cudnnHandle_t handle, int64_t *workspace);

// ---- execution ---------------------------------------------------------------------------

#define VARIANT_PACK_MAX 32

typedef struct VariantPack {
    int64_t uid[VARIANT_PACK_MAX];
    void *ptr[VARIANT_PACK_MAX];
    int n;
    int overflow;      // an add beyond VARIANT_PACK_MAX was refused; execute fails
} VariantPack;

void variant_pack_add(VariantPack *p, int64_t uid, const void *ptr);
// Executes plan with p's pointers and the workspace on stream. PB_OK; PB_ERROR (an overfull pack)
// or PB_DEVICE_ERROR (cuDNN refused to execute: the context is suspect) with err set.
PbStatus variant_pack_execute(cudnnHandle_t handle, cudnnBackendDescriptor_t plan, const VariantPack *p, void *workspace,
                         cudaStream_t stream, char *err, size_t errlen);

#endif
