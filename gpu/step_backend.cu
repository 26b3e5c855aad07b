/*
 * step_backend.cu: the GPU step's StepBackend (step/step.h): every entry point runs under a
 * CheckTrap (kernels/check.h, check_call), so a failed CUDA / cuBLAS / cuDNN call anywhere in
 * the step comes back as PB_DEVICE_ERROR with its message and the Step is marked lost; then
 * the accounting, parameter copies, environment strings and clocks. The step itself: step.cu.
 */
#include "pb_config.h"

#include <cuda_runtime.h>
#include <cublasLt.h>
#if PB_HAVE_CUDNN
#include <cudnn.h>
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/check.h"
#include "step_internal.h"

// accounting, copies, environment

static void memory_of(Step *s, StepMemory *out) {
    out->predicted = s->plan.peak;
    out->predicted_accum = s->plan_accum.peak;
    // what was allocated: the weights, cuBLASLt's workspace, the attention backend's own buffers
    // (in the plan rounded to 256 bytes, as cudaMalloc rounds each of them at least), the arena
    size_t held = (s->attn_mem.held + GPU_PLAN_ALIGN - 1) / GPU_PLAN_ALIGN * GPU_PLAN_ALIGN;
    out->allocated = s->weight_bytes + matmul_workspace_bytes(s->mm) + (s->arena ? held + s->plan.arena : 0);
    size_t used = gpu_device_used();
    out->driver_used = used > s->baseline_used ? used - s->baseline_used : 0;
}

static PbStatus copy_out(Step *s, const bf16_t *dev, size_t n, float *out) {
    bf16_t *h = (bf16_t *)malloc(n * sizeof *h);
    if (!h) return PB_NO_MEMORY;
    cudaCheck(cudaStreamSynchronize(s->stream));
    cudaCheck(cudaMemcpy(h, dev, n * sizeof *h, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n; i++) out[i] = bf16_to_float(h[i]);
    free(h);
    return PB_OK;
}

// The weights, from the per-layer order (weight_layout.h) into model.h table order.
static PbStatus gpu_params(Step *s, float *out) {
    if (s->device_lost) return PB_DEVICE_ERROR;
    size_t offsets[P_COUNT], sizes[P_COUNT];
    model_param_offsets(&s->m, offsets);
    model_param_sizes(&s->m, sizes);
    for (int id = 0; id < P_COUNT; id++) {
        if (!sizes[id]) continue;
        size_t per = model_param_layer_size(&s->m, (ParamId)id);
        PbStatus rc = per ? PB_OK : copy_out(s, s->w[id], sizes[id], out + offsets[id]);
        for (int l = 0; per && rc == PB_OK && l < s->m.layers; l++)
            rc = copy_out(s, layer_w(s, (ParamId)id, l), per, out + offsets[id] + (size_t)l * per);
        if (rc != PB_OK) return rc;
    }
    return PB_OK;
}

// The gradient lines of the memory plan (per layer and fused group, or per tensor) into model.h
// table order.
static PbStatus gpu_grads(Step *s, float *out) {
    if (s->device_lost) return PB_DEVICE_ERROR;
    if (!s->arena) return PB_ERROR;
    size_t offsets[P_COUNT], sizes[P_COUNT];
    model_param_offsets(&s->m, offsets);
    model_param_sizes(&s->m, sizes);
    for (int id = 0; id < P_COUNT; id++) {
        if (!sizes[id]) continue;
        const GpuPlanLine *whole = gpu_plan_grad(&s->plan, id, -1);
        size_t per = model_param_layer_size(&s->m, (ParamId)id);
        PbStatus rc = PB_OK;
        if (whole) rc = copy_out(s, (const bf16_t *)gpu_line_ptr(s, whole), sizes[id], out + offsets[id]);
        for (int l = 0; !whole && rc == PB_OK && l < s->m.layers; l++)
            rc = copy_out(s, grad(s, (ParamId)id, l), per, out + offsets[id] + (size_t)l * per);
        if (rc != PB_OK) return rc;
    }
    return PB_OK;
}

static void describe_of(Step *s, char *gpu_name, size_t n1, char *versions, size_t n2) {
    cudaDeviceProp prop;
    cudaCheck(cudaGetDeviceProperties(&prop, 0));
    int driver = 0, runtime = 0;
    cudaCheck(cudaDriverGetVersion(&driver));
    cudaCheck(cudaRuntimeGetVersion(&runtime));
    snprintf(gpu_name, n1, "%s", prop.name);
    size_t cublas = cublasLtGetVersion();
    char cudnn[32] = "none";
#if PB_HAVE_CUDNN
    size_t v = cudnnGetVersion();
    snprintf(cudnn, sizeof cudnn, "%zu.%zu.%zu", v / 10000, (v / 100) % 100, v % 100);
#endif
    // the rated clock is the device's maximum; the clock a step ran at is in the S_sm_mhz_* columns
    snprintf(versions, n2, "driver %d.%d, CUDA runtime %d.%d, cuBLASLt %zu.%zu.%zu, cuDNN %s, attention %s, "
             "rated max SM clock %u MHz",
             driver / 1000, (driver % 1000) / 10, runtime / 1000, (runtime % 1000) / 10, cublas / 10000,
             (cublas / 100) % 100, cublas % 100, cudnn, s->attn_ops->name, s->last_clocks.sm_mhz_rated);
}

static void gpu_clocks(Step *s, StepClocks *out) { *out = s->last_clocks; }

static const char *gpu_attention(Step *s) { return s->attn_ops->name; }

// Asked between prepare and release: the attention backend's own account of the layout.
static void gpu_attention_plan(Step *s, char *out, size_t len) { s->attn_ops->describe(s->attn, out, len); }

// Asked between prepare and release: the levels the prepared layout runs (host memory only).
static void gpu_recompute(Step *s, unsigned char *levels, char *what, size_t len) {
    memcpy(levels, s->recompute.level, (size_t)s->m.layers);
    recompute_describe(s->levels_given ? POLICY_AUTO : s->policy, s->recompute.level, s->m.layers, what, len);
}

// ------------------------------------------------------------------------------------------
// the entry points: each arms a CheckTrap, so a failed device call returns PB_DEVICE_ERROR

// One entry point's arguments, passed through check_call (kernels/check.h) as one pointer.
typedef struct Call {
    Step *s;
    const ModelConfig *m; const StepOptions *o; Step *made; // create (made: the Step once it exists)
    const Layout *layout;                                   // prepare
    double *ms, *loss;                                      // run
    StepProfile *prof;                                      // profile
    StepMemory *mem;                                        // memory
    char *name, *versions; size_t n1, n2;                   // describe
} Call;

static PbStatus create_body(void *a, char *err, size_t n) {
    Call *c = (Call *)a;
    c->s = gpu_create_step(c->m, c->o, &c->made, err, n);
    return c->s ? PB_OK : PB_ERROR;
}
static PbStatus prepare_body(void *a, char *err, size_t n) { Call *c = (Call *)a; return gpu_prepare_layout(c->s, c->layout, err, n); }
static PbStatus run_body(void *a, char *err, size_t n) { Call *c = (Call *)a; return gpu_run_timed(c->s, c->ms, c->loss, err, n); }
// The profiled step: the same step as gpu_run_timed, with every op class's events recorded.
static PbStatus profile_body(void *a, char *err, size_t n) {
    Call *c = (Call *)a;
    Step *s = c->s;
    if (!s->opt.profile) { snprintf(err, n, "gpu: profile: the step was created without StepOptions.profile"); return PB_ERROR; }
    double loss = 0;
    profile_enable(s->prof, 1);
    PbStatus rc = gpu_run_timed(s, &c->prof->step_ms, &loss, err, n);
    if (rc == PB_OK) profile_collect(s->prof, s->stream, c->prof);
    profile_enable(s->prof, 0);
    return rc;
}
static PbStatus memory_body(void *a, char *, size_t) { Call *c = (Call *)a; memory_of(c->s, c->mem); return PB_OK; }
static PbStatus describe_body(void *a, char *, size_t) {
    Call *c = (Call *)a;
    describe_of(c->s, c->name, c->n1, c->versions, c->n2);
    return PB_OK;
}

// A failed device call inside body returns PB_DEVICE_ERROR with its message, and the Step is lost:
// every later entry answers PB_DEVICE_ERROR at once, and destroy frees host memory only.
static PbStatus trapped(Call *c, CheckBody body, char *err, size_t errlen) {
    Step *s = c->s;
    if (s->device_lost) { snprintf(err, errlen, "the device failed earlier: %.300s", s->lost_why); return PB_DEVICE_ERROR; }
    PbStatus rc = check_call(body, c, err, errlen);
    if (rc == PB_DEVICE_ERROR) { s->device_lost = 1; snprintf(s->lost_why, sizeof s->lost_why, "%s", err); }
    return rc;
}

static Step *gpu_create(const ModelConfig *m, const StepOptions *o, char *err, size_t errlen) {
    Call c = {};
    c.m = m;
    c.o = o;
    if (check_call(create_body, &c, err, errlen) == PB_DEVICE_ERROR && c.made) {
        c.made->device_lost = 1;
        gpu_destroy_step(c.made);
        return NULL;
    }
    return c.s;
}

static PbStatus gpu_prepare(Step *s, const Layout *l, char *err, size_t errlen) {
    Call c = {};
    c.s = s;
    c.layout = l;
    return trapped(&c, prepare_body, err, errlen);
}

static PbStatus gpu_run(Step *s, double *ms, double *loss, char *err, size_t errlen) {
    Call c = {};
    c.s = s;
    c.ms = ms;
    c.loss = loss;
    return trapped(&c, run_body, err, errlen);
}

static PbStatus gpu_profile(Step *s, StepProfile *out, char *err, size_t errlen) {
    Call c = {};
    c.s = s;
    c.prof = out;
    return trapped(&c, profile_body, err, errlen);
}

static void gpu_memory(Step *s, StepMemory *out) { // zeros after a device error
    Call c = {};
    c.s = s;
    c.mem = out;
    char err[400];
    memset(out, 0, sizeof *out);
    trapped(&c, memory_body, err, sizeof err);
}

static void gpu_describe(Step *s, char *gpu_name, size_t n1, char *versions, size_t n2) {
    Call c = {};
    c.s = s;
    c.name = gpu_name;
    c.versions = versions;
    c.n1 = n1;
    c.n2 = n2;
    char err[400];
    if (trapped(&c, describe_body, err, sizeof err) == PB_OK) return;
    snprintf(gpu_name, n1, "unknown (device error)");
    snprintf(versions, n2, "unknown (device error)");
}

extern "C" const StepBackend gpu_step_backend = {
    "gpu", gpu_create, gpu_prepare, gpu_run, gpu_memory, gpu_params, gpu_grads, gpu_release_layout, gpu_destroy_step,
    gpu_describe, gpu_clocks, gpu_attention, gpu_attention_plan, gpu_profile, gpu_recompute,
};
