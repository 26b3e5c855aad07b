/*
 * check.h: every CUDA, cuBLAS and cuDNN call is wrapped; a failure prints file:line and the
 * library's own error string, then exits (llm.c style). Recoverable conditions (a cell that does
 * not fit) are handled before these are reached, by the callers that allocate.
 */
#ifndef PB_CHECK_H
#define PB_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include <cuda_runtime.h>

static inline void cuda_check_(cudaError_t e, const char *what, const char *file, int line) {
    if (e != cudaSuccess) {
        fprintf(stderr, "packbench: CUDA error at %s:%d (%s): %s\n", file, line, what, cudaGetErrorString(e));
        exit(3);
    }
}
#define cudaCheck(x) cuda_check_((x), #x, __FILE__, __LINE__)
// After every kernel launch.
#define cudaCheckLaunch() cuda_check_(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

#ifdef PB_WANT_CUBLAS
#include <cublasLt.h>
static inline void cublas_check_(cublasStatus_t s, const char *what, const char *file, int line) {
    if (s != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "packbench: cuBLAS error at %s:%d (%s): %s\n", file, line, what, cublasGetStatusString(s));
        exit(3);
    }
}
#define cublasCheck(x) cublas_check_((x), #x, __FILE__, __LINE__)
#endif

#ifdef PB_WANT_CUDNN
#include <cudnn.h>
static inline void cudnn_check_(cudnnStatus_t s, const char *what, const char *file, int line) {
    if (s != CUDNN_STATUS_SUCCESS) {
        char msg[512];
        cudnnGetLastErrorString(msg, sizeof msg);
        fprintf(stderr, "packbench: cuDNN error at %s:%d (%s): %s %s\n", file, line, what, cudnnGetErrorString(s), msg);
        exit(3);
    }
}
#define cudnnCheck(x) cudnn_check_((x), #x, __FILE__, __LINE__)
#endif

#endif
