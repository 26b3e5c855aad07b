/*
 * step.cu: the GPU step (step/step.h): forward + backward of the completion NLL through a
 * Qwen2 decoder in bf16 (fp32 accumulation), with layer checkpointing, on one GPU.
 *
 * The spine only: every op is a launcher of kernels/ or an attention backend (attention.h).
 *   create   device check, stream/events, cuBLASLt (matmul_create), weights and gradients as
 *            two allocations sized by the param table, seeded on the device.
 *   prepare  one arena carved in the order of the size table (gpu/memory_plan.h): the layout's
 *            device inputs and every activation buffer; then the attention backend's prepare;
 *            then the shared scratch (MLP chunk, fused CE, attention transients), lent to it.
 *   run      embedding -> L x layer (input checkpointed) -> final RMSNorm -> fused linear CE ->
 *            final norm backward -> L x (recompute the layer from its checkpoint, backward) ->
 *            embedding backward. CUDA events around all of it.
 * The StepBackend's entry points (step_backend.cu) call these under a CheckTrap, so a failed
 * CUDA / cuBLAS / cuDNN call here returns PB_DEVICE_ERROR there. The SM clock is read (NVML,
 * sm_clock.h) just outside the timed events of every run.
 * Nothing is allocated in run, so the size table is the peak. Weight gradients are bf16, written
 * per layer (the chunked MLP accumulates over its chunks); norm weight gradients accumulate in
 * fp32 and are cast at the end. Tied embeddings are not supported (the 7B model is untied).
 */
#include "pb_config.h"

#include <cuda_runtime.h>
#include <cublasLt.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/check.h"
#include "../kernels/cross_entropy.h"
#include "../kernels/kernels.h"
#include "step_internal.h"

static bf16_t *bbuf(Step *s, GpuBuf b) { return (bf16_t *)s->buf[b]; }
static float *fbuf(Step *s, GpuBuf b) { return (float *)s->buf[b]; }
static int32_t *ibuf(Step *s, GpuBuf b) { return (int32_t *)s->buf[b]; }

// One layer's slice of a per-layer tensor.
static bf16_t *layer_w(Step *s, ParamId id, int l) { return s->w[id] + (size_t)l * model_param_layer_size(&s->m, id); }
static bf16_t *layer_g(Step *s, ParamId id, int l) { return s->g[id] + (size_t)l * model_param_layer_size(&s->m, id); }

size_t gpu_device_used(void) {
    size_t free_b = 0, total_b = 0;
    cudaCheck(cudaMemGetInfo(&free_b, &total_b));
    return total_b - free_b;
}

// ------------------------------------------------------------------------------------------
// create / destroy

static void init_weights(Step *s) {
    size_t sizes[P_COUNT];
    model_param_sizes(&s->m, sizes);
    for (int i = 0; i < P_COUNT; i++) {
        if (!sizes[i]) continue;
        if (i == P_LN1 || i == P_LN2 || i == P_LNF) fill_const_bf16(s->w[i], sizes[i], 1.0f, s->stream);
        else fill_normal_bf16(s->w[i], sizes[i], s->opt.seed * 1000003ull + (uint64_t)i, 0.0f, 0.02f, s->stream);
    }
    cudaCheck(cudaStreamSynchronize(s->stream));
}


// NVML's handle by PCI bus id (NVML ignores CUDA_VISIBLE_DEVICES), and the rated SM clock.
static void open_clock(Step *s) {
    char bus[32] = "", why[256] = "";
    int khz = 0;
    cudaCheck(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, 0));
    s->last_clocks.sm_mhz_rated = (unsigned)(khz / 1000);
    cudaCheck(cudaDeviceGetPCIBusId(bus, (int)sizeof bus, 0));
    s->clock = sm_clock_open(bus, why, sizeof why);
    if (!s->clock) fprintf(stderr, "gpu: SM clock unknown: %s\n", why);
}

// *keep: the Step as soon as it exists, so a device error mid-create can still free it.
Step *gpu_create_step(const ModelConfig *m, const StepOptions *o, Step **keep, char *err, size_t errlen) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        snprintf(err, errlen, "gpu: no usable GPU (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return NULL;
    }
    int major = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0) != cudaSuccess || major < 9) {
        snprintf(err, errlen, "gpu: device 0 is compute capability %d.x; this build targets sm_90", major);
        return NULL;
    }
    if (model_validate(m, err, errlen) != 0) return NULL;
    if (m->tied_embeddings) { snprintf(err, errlen, "gpu: tied embeddings are not supported"); return NULL; }
    const char *attn_name = o && o->attention ? o->attention :
#if PB_HAVE_CUDNN
        "cudnn";
#else
        "simple";
#endif
    const AttnOps *ops = attn_ops_find(attn_name);
    if (!ops) { snprintf(err, errlen, "gpu: unknown or unbuilt attention backend '%s'", attn_name); return NULL; }
    AttnOptions attn_opt = {};
    if (attn_prefix_mode_parse(o ? o->prefix_attention : NULL, &attn_opt.prefix)) {
        snprintf(err, errlen, "gpu: unknown prefix attention '%s' (auto, split, copied)", o->prefix_attention);
        return NULL;
    }
    attn_opt.phases = o ? o->attention_phases : 0;

    Step *s = (Step *)calloc(1, sizeof *s);
    if (!s) { snprintf(err, errlen, "gpu: out of host memory"); return NULL; }
    *keep = s;
    s->m = *m;
    if (o) s->opt = *o;
    s->opt.attention = ops->name;
    s->attn_ops = ops;
    cudaCheck(cudaSetDevice(0));
    cudaCheck(cudaFree(0)); // create the context before the baseline
    s->baseline_used = gpu_device_used();
    cudaCheck(cudaStreamCreate(&s->stream));
    cudaCheck(cudaEventCreate(&s->ev_start));
    cudaCheck(cudaEventCreate(&s->ev_stop));

    AttnShape shape = {m->n_head, m->n_kv_head, m->head_dim};
    s->attn = ops->create(&shape, &attn_opt, err, errlen);
    if (!s->attn) { *keep = NULL; gpu_destroy_step(s); return NULL; }

    gpu_memory_plan(m, NULL, 0, 0, 0, &s->plan);
    size_t param_bytes = s->plan.bytes[GB_WEIGHTS];
    if (cudaMalloc((void **)&s->weights, param_bytes) != cudaSuccess ||
        cudaMalloc((void **)&s->grads, param_bytes) != cudaSuccess ||
        cudaMalloc(&s->small, s->plan.bytes[GB_NORM_GRAD_ACC] + s->plan.bytes[GB_LOSS]) != cudaSuccess) {
        cudaGetLastError();
        snprintf(err, errlen, "gpu: out of device memory for weights and gradients (%.2f GB each)",
                 (double)param_bytes / 1e9);
        *keep = NULL;
        gpu_destroy_step(s);
        return NULL;
    }
    s->norm_acc = (float *)s->small;
    s->loss = (double *)((char *)s->small + s->plan.bytes[GB_NORM_GRAD_ACC]);
    size_t offsets[P_COUNT];
    model_param_offsets(m, offsets);
    for (int i = 0; i < P_COUNT; i++) { s->w[i] = s->weights + offsets[i]; s->g[i] = s->grads + offsets[i]; }
    s->mm = matmul_create(GPU_MATMUL_WORKSPACE);
    matmul_set_verbose(s->mm, s->opt.matmul_verbose);
    open_clock(s);
    init_weights(s);
    cudaCheck(cudaMemset(s->grads, 0, param_bytes));
    return s;
}

void gpu_release_layout(Step *s) {
    if (!s->layout && !s->arena) return;
    if (s->device_lost) { s->arena = s->scratch = NULL; s->layout = NULL; return; } // no device calls now
    if (s->attn) s->attn_ops->release(s->attn);
    if (s->arena) cudaCheck(cudaFree(s->arena));
    if (s->scratch) cudaCheck(cudaFree(s->scratch));
    s->arena = s->scratch = NULL;
    s->gate = s->up = s->h = NULL;
    s->layout = NULL;
    s->attn_bytes = 0;
    memset(s->buf, 0, sizeof s->buf);
    s->T = s->n_loss = 0;
    s->n_uniq = 0;
}

void gpu_destroy_step(Step *s) {
    if (!s) return;
    gpu_release_layout(s);
    sm_clock_close(s->clock);
    if (s->device_lost) { free(s); return; } // the device's memory goes with the process
    if (s->attn) s->attn_ops->destroy(s->attn);
    if (s->mm) matmul_destroy(s->mm);
    cudaFree(s->weights);
    cudaFree(s->grads);
    cudaFree(s->small);
    if (s->ev_start) cudaEventDestroy(s->ev_start);
    if (s->ev_stop) cudaEventDestroy(s->ev_stop);
    if (s->stream) cudaStreamDestroy(s->stream);
    free(s);
}

// ------------------------------------------------------------------------------------------
// prepare

// Embedding-backward CSR over the real slots: unique tokens ascending, each with its slots.
// Returns the number of unique tokens, or -1 (out of host memory, or real slots != n_real).
static int build_embedding_csr(const Layout *l, int V, int32_t *uniq_tok, int32_t *uniq_off, int32_t *slots) {
    int32_t *count = (int32_t *)calloc((size_t)V + 1, sizeof *count);
    if (!count) return -1;
    size_t real = 0;
    for (size_t t = 0; t < l->n_slots; t++)
        if (l->kv_lo[t] >= 0) { count[l->tokens[t] + 1]++; real++; }
    if (real != l->n_real) { free(count); return -1; }
    int n = 0;
    for (int v = 0; v < V; v++) {
        if (count[v + 1]) { uniq_tok[n] = v; uniq_off[n] = count[v]; n++; }
        count[v + 1] += count[v]; // count[v] = first slot index of token v
    }
    uniq_off[n] = count[V];
    for (size_t t = 0; t < l->n_slots; t++)
        if (l->kv_lo[t] >= 0) slots[count[l->tokens[t]]++] = (int32_t)t;
    free(count);
    return n;
}

static void copy_in(Step *s, GpuBuf b, const void *host, size_t bytes) {
    if (bytes) cudaCheck(cudaMemcpy(s->buf[b], host, bytes, cudaMemcpyHostToDevice));
}

PbStatus gpu_prepare_layout(Step *s, const Layout *l, char *err, size_t errlen) {
    gpu_release_layout(s);
    if (l->n_slots == 0 || l->n_slots > (size_t)(1 << 30) || l->n_loss > (size_t)(1 << 30)) {
        snprintf(err, errlen, "gpu: layout of %zu slots / %zu loss rows not supported", l->n_slots, l->n_loss);
        return PB_ERROR;
    }
    for (size_t t = 0; t < l->n_slots; t++)
        if (l->tokens[t] < 0 || l->tokens[t] >= s->m.vocab) {
            snprintf(err, errlen, "gpu: token %d at slot %zu outside the vocabulary", l->tokens[t], t);
            return PB_ERROR;
        }
    const int V = s->m.vocab, C = s->m.hidden;
    const size_t ce_bytes = fused_ce_scratch_bytes(gpu_plan_ce_rows(l), C, V);
    gpu_memory_plan(&s->m, l, 0, 0, ce_bytes, &s->plan);
    if (cudaMalloc(&s->arena, s->plan.arena) != cudaSuccess) {
        cudaGetLastError();
        s->arena = NULL;
        snprintf(err, errlen, "gpu: out of device memory for the layout arena (%.2f GB)", (double)s->plan.arena / 1e9);
        return PB_NO_MEMORY;
    }
    char *p = (char *)s->arena;
    for (int b = GB_FIRST_ARENA; b <= GB_LAST_ARENA; b++) { s->buf[b] = p; p += s->plan.bytes[b]; }
    s->layout = l;
    s->T = l->n_slots;
    s->n_loss = l->n_loss;

    // device copies of the layout
    const size_t T = l->n_slots;
    copy_in(s, GB_TOKENS, l->tokens, T * 4);
    copy_in(s, GB_POS, l->pos, T * 4);
    copy_in(s, GB_KV_LO, l->kv_lo, T * 4);
    copy_in(s, GB_SHARED_END, l->shared_end, T * 4);
    copy_in(s, GB_SEG_LO, l->seg_lo, T * 4);
    copy_in(s, GB_LOSS_ROWS, l->loss_row, l->n_loss * 4);
    copy_in(s, GB_LOSS_TARGETS, l->loss_target, l->n_loss * 4);
    size_t U = s->plan.n_uniq_max;
    int32_t *csr = (int32_t *)malloc((2 * U + 1 + l->n_real + 1) * sizeof *csr);
    int n_uniq = csr ? build_embedding_csr(l, V, csr, csr + U, csr + 2 * U + 1) : -1;
    if (n_uniq < 0) {
        free(csr);
        gpu_release_layout(s);
        snprintf(err, errlen, "gpu: out of host memory, or the layout's real slots differ from n_real");
        return PB_ERROR;
    }
    s->n_uniq = n_uniq;
    copy_in(s, GB_EMB_UNIQ_TOK, csr, (size_t)n_uniq * 4);
    copy_in(s, GB_EMB_UNIQ_OFF, csr + U, ((size_t)n_uniq + 1) * 4);
    copy_in(s, GB_EMB_SLOTS, csr + 2 * U + 1, l->n_real * 4);
    free(csr);

    // the attention backend's plans and buffers
    AttnMask mask = {l, ibuf(s, GB_KV_LO), ibuf(s, GB_SHARED_END), ibuf(s, GB_SEG_LO)};
    size_t attn_bytes = 0, attn_scratch = 0;
    PbStatus rc = s->attn_ops->prepare(s->attn, &mask, &attn_bytes, &attn_scratch, err, errlen);
    if (rc != PB_OK) {
        if (rc != PB_DEVICE_ERROR) gpu_release_layout(s);
        return rc;
    }
    s->attn_bytes = attn_bytes;
    gpu_memory_plan(&s->m, l, attn_bytes, attn_scratch, ce_bytes, &s->plan);

    // the shared scratch (memory_plan.h): its users are never live at the same time
    if (cudaMalloc(&s->scratch, s->plan.bytes[GB_SCRATCH]) != cudaSuccess) {
        cudaGetLastError();
        s->scratch = NULL;
        snprintf(err, errlen, "gpu: out of device memory for the shared scratch (%.2f GB)",
                 (double)s->plan.bytes[GB_SCRATCH] / 1e9);
        gpu_release_layout(s);
        return PB_NO_MEMORY;
    }
    s->gate = (bf16_t *)s->scratch;
    s->up = (bf16_t *)((char *)s->scratch + s->plan.mlp_line);
    s->h = (bf16_t *)((char *)s->scratch + 2 * s->plan.mlp_line);
    s->attn_ops->set_scratch(s->attn, s->scratch);
    return PB_OK;
}

// ------------------------------------------------------------------------------------------
// the layer

// x1 = x + attention(ln1(x)); leaves ln1, q, k (roped), v, att, lse, ln2 = ln2(x1), rstd2.
static PbStatus attention_block_forward(Step *s, int l, const bf16_t *x, bf16_t *x1, char *err, size_t errlen) {
    const ModelConfig *m = &s->m;
    const int T = (int)s->T, C = m->hidden, D = m->head_dim, Hq = m->n_head, Hkv = m->n_kv_head;
    const int QD = Hq * D, KVD = Hkv * D;
    cudaStream_t st = s->stream;
    rmsnorm_forward(bbuf(s, GB_LN1), fbuf(s, GB_RSTD1), x, layer_w(s, P_LN1, l), s->T, C, m->rms_eps, st);
    matmul_forward(s->mm, bbuf(s, GB_Q), bbuf(s, GB_LN1), layer_w(s, P_WQ, l), layer_w(s, P_BQ, l), T, C, QD, 0, st);
    matmul_forward(s->mm, bbuf(s, GB_K), bbuf(s, GB_LN1), layer_w(s, P_WK, l), layer_w(s, P_BK, l), T, C, KVD, 0, st);
    matmul_forward(s->mm, bbuf(s, GB_V), bbuf(s, GB_LN1), layer_w(s, P_WV, l), layer_w(s, P_BV, l), T, C, KVD, 0, st);
    rope_forward(bbuf(s, GB_Q), ibuf(s, GB_POS), s->T, Hq, D, m->rope_theta, st);
    rope_forward(bbuf(s, GB_K), ibuf(s, GB_POS), s->T, Hkv, D, m->rope_theta, st);
    PbStatus rc = s->attn_ops->forward(s->attn, bbuf(s, GB_Q), bbuf(s, GB_K), bbuf(s, GB_V), bbuf(s, GB_ATT),
                                       fbuf(s, GB_LSE), st, err, errlen);
    if (rc != PB_OK) return rc;
    cudaCheck(cudaMemcpyAsync(x1, x, s->T * (size_t)C * sizeof(bf16_t), cudaMemcpyDeviceToDevice, st));
    matmul_forward(s->mm, x1, bbuf(s, GB_ATT), layer_w(s, P_WO, l), NULL, T, QD, C, 1, st);
    rmsnorm_forward(bbuf(s, GB_LN2), fbuf(s, GB_RSTD2), x1, layer_w(s, P_LN2, l), s->T, C, m->rms_eps, st);
    return PB_OK;
}

// gate, up, h = silu(gate) * up for token rows [r0, r0 + n) from ln2.
static void mlp_chunk_forward(Step *s, int l, size_t r0, int n) {
    const int C = s->m.hidden, F = s->m.mlp;
    const bf16_t *ln2 = bbuf(s, GB_LN2) + r0 * C;
    matmul_forward(s->mm, s->gate, ln2, layer_w(s, P_WGATE, l), NULL, n, C, F, 0, s->stream);
    matmul_forward(s->mm, s->up, ln2, layer_w(s, P_WUP, l), NULL, n, C, F, 0, s->stream);
    swiglu_forward(s->h, s->gate, s->up, (size_t)n * F, s->stream);
}

// x1 += mlp(ln2), chunk by chunk.
static void mlp_block_forward(Step *s, int l, bf16_t *x1) {
    const int C = s->m.hidden, F = s->m.mlp, R = s->plan.mlp_rows;
    for (size_t r0 = 0; r0 < s->T; r0 += R) {
        int n = (int)(s->T - r0 < (size_t)R ? s->T - r0 : (size_t)R);
        mlp_chunk_forward(s, l, r0, n);
        matmul_forward(s->mm, x1 + r0 * C, s->h, layer_w(s, P_WDOWN, l), NULL, n, F, C, 1, s->stream);
    }
}

// dres: gradient of the layer output in, of x1 out (the MLP branch's gradient added).
static void mlp_block_backward(Step *s, int l, const bf16_t *x1) {
    const int C = s->m.hidden, F = s->m.mlp, R = s->plan.mlp_rows;
    cudaStream_t st = s->stream;
    float *acc_ln2 = s->norm_acc + ((size_t)s->m.layers + l) * C;
    for (size_t r0 = 0; r0 < s->T; r0 += R) {
        int n = (int)(s->T - r0 < (size_t)R ? s->T - r0 : (size_t)R);
        int acc = r0 > 0; // weight gradients accumulate over chunks
        bf16_t *dres = bbuf(s, GB_DRES) + r0 * C, *dln = bbuf(s, GB_DLN) + r0 * C;
        const bf16_t *ln2 = bbuf(s, GB_LN2) + r0 * C;
        bf16_t *gate = s->gate, *up = s->up, *h = s->h;
        mlp_chunk_forward(s, l, r0, n);
        matmul_backward_weight(s->mm, layer_g(s, P_WDOWN, l), NULL, dres, h, n, F, C, acc, st);
        matmul_backward_input(s->mm, h, dres, layer_w(s, P_WDOWN, l), n, F, C, 0, st);  // h := dh
        swiglu_backward(gate, up, h, gate, up, (size_t)n * F, st);                      // in place: dgate, dup
        matmul_backward_weight(s->mm, layer_g(s, P_WGATE, l), NULL, gate, ln2, n, C, F, acc, st);
        matmul_backward_weight(s->mm, layer_g(s, P_WUP, l), NULL, up, ln2, n, C, F, acc, st);
        matmul_backward_input(s->mm, dln, gate, layer_w(s, P_WGATE, l), n, C, F, 0, st);
        matmul_backward_input(s->mm, dln, up, layer_w(s, P_WUP, l), n, C, F, 1, st);
        rmsnorm_backward(dres, acc_ln2, dln, x1 + r0 * C, layer_w(s, P_LN2, l), fbuf(s, GB_RSTD2) + r0, (size_t)n, C,
                         st);
    }
}

// dres: gradient of x1 in, of the layer input x out.
static PbStatus attention_block_backward(Step *s, int l, const bf16_t *x, char *err, size_t errlen) {
    const ModelConfig *m = &s->m;
    const int T = (int)s->T, C = m->hidden, D = m->head_dim, Hq = m->n_head, Hkv = m->n_kv_head;
    const int QD = Hq * D, KVD = Hkv * D;
    cudaStream_t st = s->stream;
    bf16_t *dres = bbuf(s, GB_DRES), *dln = bbuf(s, GB_DLN), *ln1 = bbuf(s, GB_LN1);
    bf16_t *dq = bbuf(s, GB_DQ), *dk = bbuf(s, GB_DK), *dv = bbuf(s, GB_DV);
    matmul_backward_weight(s->mm, layer_g(s, P_WO, l), NULL, dres, bbuf(s, GB_ATT), T, QD, C, 0, st);
    matmul_backward_input(s->mm, bbuf(s, GB_DATT), dres, layer_w(s, P_WO, l), T, QD, C, 0, st);
    PbStatus rc = s->attn_ops->backward(s->attn, bbuf(s, GB_Q), bbuf(s, GB_K), bbuf(s, GB_V), bbuf(s, GB_ATT),
                                        bbuf(s, GB_DATT), fbuf(s, GB_LSE), dq, dk, dv, st, err, errlen);
    if (rc != PB_OK) return rc;
    rope_backward(dq, ibuf(s, GB_POS), s->T, Hq, D, m->rope_theta, st);
    rope_backward(dk, ibuf(s, GB_POS), s->T, Hkv, D, m->rope_theta, st);
    matmul_backward_weight(s->mm, layer_g(s, P_WQ, l), layer_g(s, P_BQ, l), dq, ln1, T, C, QD, 0, st);
    matmul_backward_weight(s->mm, layer_g(s, P_WK, l), layer_g(s, P_BK, l), dk, ln1, T, C, KVD, 0, st);
    matmul_backward_weight(s->mm, layer_g(s, P_WV, l), layer_g(s, P_BV, l), dv, ln1, T, C, KVD, 0, st);
    matmul_backward_input(s->mm, dln, dq, layer_w(s, P_WQ, l), T, C, QD, 0, st);
    matmul_backward_input(s->mm, dln, dk, layer_w(s, P_WK, l), T, C, KVD, 1, st);
    matmul_backward_input(s->mm, dln, dv, layer_w(s, P_WV, l), T, C, KVD, 1, st);
    rmsnorm_backward(dres, s->norm_acc + (size_t)l * C, dln, x, layer_w(s, P_LN1, l), fbuf(s, GB_RSTD1), s->T, C, st);
    return PB_OK;
}

// ------------------------------------------------------------------------------------------
// run

static PbStatus step_forward_backward(Step *s, char *err, size_t errlen) {
    const ModelConfig *m = &s->m;
    const int L = m->layers, C = m->hidden, V = m->vocab;
    const size_t TC = s->T * (size_t)C;
    cudaStream_t st = s->stream;
    bf16_t *ckpt = bbuf(s, GB_CHECKPOINTS); // (L + 1, T, C)
    const ParamId head = model_lm_head(m);

    // forward: keep each layer's input
    embedding_forward(ckpt, ibuf(s, GB_TOKENS), s->w[P_EMBED], s->T, C, st);
    for (int l = 0; l < L; l++) {
        bf16_t *x = ckpt + (size_t)l * TC, *y = ckpt + (size_t)(l + 1) * TC;
        PbStatus rc = attention_block_forward(s, l, x, y, err, errlen);
        if (rc != PB_OK) return rc;
        mlp_block_forward(s, l, y);
    }
    bf16_t *xf = ckpt + (size_t)L * TC, *lnf = bbuf(s, GB_LN1);
    float *rstdf = fbuf(s, GB_RSTD1);
    rmsnorm_forward(lnf, rstdf, xf, s->w[P_LNF], s->T, C, m->rms_eps, st);

    // loss and the LM head; the final norm's backward
    cudaCheck(cudaMemsetAsync(s->norm_acc, 0, s->plan.bytes[GB_NORM_GRAD_ACC], st));
    cudaCheck(cudaMemsetAsync(bbuf(s, GB_DLN), 0, TC * sizeof(bf16_t), st));
    cudaCheck(cudaMemsetAsync(bbuf(s, GB_DRES), 0, TC * sizeof(bf16_t), st));
    fused_linear_cross_entropy(s->mm, s->loss, bbuf(s, GB_DLN), s->g[head], lnf, s->w[head], ibuf(s, GB_LOSS_ROWS),
                               ibuf(s, GB_LOSS_TARGETS), (int)s->n_loss, C, V, s->plan.ce_rows,
                               s->scratch, st);
    rmsnorm_backward(bbuf(s, GB_DRES), s->norm_acc + 2 * (size_t)L * C, bbuf(s, GB_DLN), xf, s->w[P_LNF], rstdf,
                     s->T, C, st);

    // backward: recompute each layer from its checkpoint (x1 goes where the output was)
    for (int l = L - 1; l >= 0; l--) {
        bf16_t *x = ckpt + (size_t)l * TC, *x1 = ckpt + (size_t)(l + 1) * TC;
        PbStatus rc = attention_block_forward(s, l, x, x1, err, errlen);
        if (rc != PB_OK) return rc;
        mlp_block_backward(s, l, x1);
        rc = attention_block_backward(s, l, x, err, errlen);
        if (rc != PB_OK) return rc;
    }

    // embedding: rows of absent tokens are zero
    cudaCheck(cudaMemsetAsync(s->g[P_EMBED], 0, (size_t)V * C * sizeof(bf16_t), st));
    embedding_backward(s->g[P_EMBED], bbuf(s, GB_DRES), ibuf(s, GB_EMB_UNIQ_TOK), ibuf(s, GB_EMB_UNIQ_OFF),
                       ibuf(s, GB_EMB_SLOTS), s->n_uniq, C, st);
    cast_f32_to_bf16(s->g[P_LN1], s->norm_acc, (size_t)L * C, st);
    cast_f32_to_bf16(s->g[P_LN2], s->norm_acc + (size_t)L * C, (size_t)L * C, st);
    cast_f32_to_bf16(s->g[P_LNF], s->norm_acc + 2 * (size_t)L * C, (size_t)C, st);
    return PB_OK;
}

// One NVML reading into last_clocks (a failed one makes the run's clocks unknown).
static void read_clock(Step *s, unsigned *mhz) {
    SmClockSample c;
    if (!s->clock || sm_clock_read(s->clock, &c)) { s->last_clocks.known = 0; return; }
    *mhz = c.sm_mhz;
    s->last_clocks.throttled |= c.slowdown;
}

PbStatus gpu_run_timed(Step *s, double *ms, double *loss, char *err, size_t errlen) {
    if (!s->arena) { snprintf(err, errlen, "gpu: run before prepare"); return PB_ERROR; }
    StepClocks *ck = &s->last_clocks;
    *ck = (StepClocks){s->clock != NULL, 0, 0, ck->sm_mhz_rated, 0};
    read_clock(s, &ck->sm_mhz_before);
    cudaCheck(cudaEventRecord(s->ev_start, s->stream));
    PbStatus rc = step_forward_backward(s, err, errlen);
    if (rc != PB_OK) return rc;
    cudaCheck(cudaEventRecord(s->ev_stop, s->stream));
    cudaCheck(cudaEventSynchronize(s->ev_stop));
    read_clock(s, &ck->sm_mhz_after);
    float t = 0.0f;
    cudaCheck(cudaEventElapsedTime(&t, s->ev_start, s->ev_stop));
    double h_loss = 0.0;
    cudaCheck(cudaMemcpy(&h_loss, s->loss, sizeof h_loss, cudaMemcpyDeviceToHost));
    if (ms) *ms = t;
    if (loss) *loss = h_loss;
    return PB_OK;
}

