/*
 * check.h: every CUDA, cuBLAS and cuDNN call is wrapped (llm.c style); a failure is a device
 * error with file:line and the library's own message.
 *
 * What a failure does depends on whether the caller armed a CheckTrap:
 *   armed    (every entry point of the GPU step, through check_call): the message
 *            goes into the trap and control returns to the setjmp of check_trap_arm's caller,
 *            which reports PB_DEVICE_ERROR; the sweep records the cell as `error` with the
 *            message and stops with exit code 3 (PB_EXIT_DEVICE), because a CUDA context that
 *            saw an error (an illegal address, say) cannot be trusted for the next cell.
 *   unarmed  (tests, tools): the message goes to stderr and the process exits with code 3.
 * Only frames of plain C data lie between a trap and its checks (no destructors to skip), so
 * the longjmp is well defined in the .cu files too. Recoverable conditions (a cell that does not
 * fit) are handled before these are reached, by the callers that allocate.
 */
#ifndef PB_CHECK_H
#define PB_CHECK_H

#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>

#include <cuda_runtime.h>

#include "../core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CheckTrap {
    jmp_buf env;
    char message[512];       // the failure, one line
    struct CheckTrap *outer; // the trap armed before this one (restored by disarm)
} CheckTrap;

// Arms trap; a later check failure longjmps to trap->env with value 1. Use as
//   CheckTrap trap; if (setjmp(trap.env)) { ...trap.message...; } check_trap_arm(&trap); ...
//   check_trap_disarm(&trap);   (on every return path after the arm)
void check_trap_arm(CheckTrap *trap);
void check_trap_disarm(CheckTrap *trap);

// body(arg) with a trap armed: its status, or PB_DEVICE_ERROR (a PbStatus, core/status.h) with
// the failed check's message in err. The usual way to arm one around a layer's entry point.
typedef PbStatus (*CheckBody)(void *arg, char *err, size_t errlen);
PbStatus check_call(CheckBody body, void *arg, char *err, size_t errlen);

// A failed check: formats "LIB error at FILE:LINE (WHAT): DETAIL", then longjmps to the armed
// trap, or prints it and exits with code 3 when none is armed. Does not return.
#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 4, 5)))
#endif
void check_fail(const char *lib, const char *file, int line, const char *fmt, ...);

#ifdef __cplusplus
}
#endif

static inline void cuda_check_(cudaError_t e, const char *what, const char *file, int line) {
    if (e != cudaSuccess) check_fail("CUDA", file, line, "(%s): %s", what, cudaGetErrorString(e));
}
#define cudaCheck(x) cuda_check_((x), #x, __FILE__, __LINE__)
// After every kernel launch.
#define cudaCheckLaunch() cuda_check_(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
// A launcher's argument that its kernel cannot handle (a bug of the caller, as fatal as a CUDA error).
#define checkFail(...) check_fail("packbench", __FILE__, __LINE__, __VA_ARGS__)

#ifdef PB_WANT_CUBLAS
#include <cublasLt.h>
static inline void cublas_check_(cublasStatus_t s, const char *what, const char *file, int line) {
    if (s != CUBLAS_STATUS_SUCCESS) check_fail("cuBLAS", file, line, "(%s): %s", what, cublasGetStatusString(s));
}
#define cublasCheck(x) cublas_check_((x), #x, __FILE__, __LINE__)
#endif

#ifdef PB_WANT_CUDNN
#include <cudnn.h>
static inline void cudnn_check_(cudnnStatus_t s, const char *what, const char *file, int line) {
    if (s != CUDNN_STATUS_SUCCESS) {
        char msg[256];
        cudnnGetLastErrorString(msg, sizeof msg);
        check_fail("cuDNN", file, line, "(%s): %s %s", what, cudnnGetErrorString(s), msg);
    }
}
#define cudnnCheck(x) cudnn_check_((x), #x, __FILE__, __LINE__)
#endif

#endif
