/*
 * profile.h: where one step's time goes, by op class (model/roofline.h: an op kind in a pass).
 *
 * The step brackets its ops with profile_begin(kind) ... profile_end (or the next begin, which
 * closes the open range: ranges do not nest); profile_pass says which pass the following ops
 * belong to (forward, recompute, backward). A GEMM inside the cross-entropy range is split out
 * as the LM head's (a matmul observer: forward GEMM -> forward pass, the others -> backward).
 *
 * NVTX ranges (nvtx3, header-only) are always on: every begin opens a range named for its class
 * and every GEMM a nested one named for its shape, so an Nsight Systems timeline of any run reads
 * like the code. Without a tool attached an NVTX call returns at once (no injection library is
 * loaded), which is nothing beside a GEMM; so no flag is needed for them.
 * CUDA events are recorded only while enabled (profile_enable, the one extra step --profile runs
 * after the timed steps): one event pair per range, summed per class by profile_collect.
 */
#ifndef PB_GPU_PROFILE_H
#define PB_GPU_PROFILE_H

#include <cuda_runtime.h>

#include "../kernels/matmul.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "../model/roofline.h"
#include "../step/step.h"

typedef struct Profile Profile;

// Installs itself as mm's observer. A failed CUDA call is a failed check (kernels/check.h).
Profile *profile_create(Matmul *mm);
void profile_destroy(Profile *p);
// 1: record events from now on (the pool is reset); 0: NVTX ranges only.
void profile_enable(Profile *p, int on);
void profile_pass(Profile *p, OpPass pass);
void profile_begin(Profile *p, OpKind kind, cudaStream_t s);
void profile_end(Profile *p, cudaStream_t s);
// Closes the open range, waits for the events and sums them per class into out (step_ms is
// left to the caller). Call after the step.
void profile_collect(Profile *p, cudaStream_t s, StepProfile *out);

#ifdef __cplusplus
}
#endif

#endif
