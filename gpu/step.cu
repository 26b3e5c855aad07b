/*
 * step.cu: the GPU step (step/step.h): forward + backward of the completion NLL through a
 * Qwen2 decoder in bf16 (fp32 accumulation), with layer checkpointing, on one GPU.
 *
 * The spine only: every op is a launcher of kernels/ or an attention backend (attention.h).
 *   create   device check, stream/events, cuBLASLt (matmul_create), the weights (one allocation
 *            in the per-layer order of gpu/weight_layout.h: a layer's q/k/v and gate/up weights
 *            adjacent, one GEMM each), seeded on the device.
 *   prepare  the memory plan (gpu/memory_plan.h) from the host's figures, ONE arena of its size
 *            carved by the plan's offsets (layout inputs, checkpoints, every working buffer of
 *            every layer and pass, the gradients, the fused CE's and the attention backend's
 *            scratch), the layout's device copies, then the attention backend's prepare; if the
 *            backend needs more than the host planned (a cuDNN workspace over its reserve), the
 *            plan is made again with its figures.
 *   run      embedding -> L x layer (input checkpointed) -> final RMSNorm -> fused linear CE ->
 *            final norm backward -> L x (recompute the layer from its checkpoint, backward) ->
 *            embedding backward. CUDA events around all of it. tick() marks the plan's sub-steps.
 * The StepBackend's entry points (step_backend.cu) call these under a CheckTrap, so a failed
 * CUDA / cuBLAS / cuDNN call here returns PB_DEVICE_ERROR there. The SM clock is read (NVML,
 * sm_clock.h) just outside the timed events of every run.
 * Nothing is allocated in run, so the plan's peak is the allocated peak. Buffers share bytes
 * with others that are dead while they live: every buffer is written before it is read within
 * its lifetime (StepOptions.poison checks that on the device). Weight gradients are bf16, born in
 * their layer's backward (the chunked MLP accumulates over its chunks); norm weight gradients
 * accumulate in fp32 and are cast at the end.
 * Architectures (model.h): q/k/v biases where the table has them; Qwen3's q/k norm between the
 * projections and RoPE (the norm reads q and k from the fused GB_QKV into GB_Q / GB_K, its
 * backward writes the q and k parts of GB_DQKV); RoPE from the rope_inv_freq table (GB_ROPE_FREQ, uploaded in
 * prepare: Llama 3 scaling); a tied LM head: the fused CE writes the embedding's gradient, the
 * embedding backward then adds its own.
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
#include "embedding_csr.h"
#include "step_internal.h"

char *gpu_line_ptr(Step *s, const GpuPlanLine *ln) { return ln ? s->arena + (ln->a.offset - s->plan.outside) : NULL; }

size_t gpu_device_used(void) {
    size_t free_b = 0, total_b = 0;
    cudaCheck(cudaMemGetInfo(&free_b, &total_b));
    return total_b - free_b;
}

// Poisoning (StepOptions.poison): before tick t runs, every line that died at t - 1 and every
// line born at t is filled with NaN (0xFF bytes: NaN in bf16 and fp32), on the stream.
void gpu_tick(Step *s, int t) {
    s->tick_now = t;
    if (!s->opt.poison) return;
    for (int i = 0; i < s->plan.n_lines; i++) {
        const GpuPlanLine *ln = &s->plan.lines[i];
        if (ln->kind <= GB_ATTN_HELD || !ln->a.bytes || (ln->a.first == 0 && ln->a.last == s->plan.n_ticks - 1)) continue;
        if (ln->a.first == t || ln->a.last == t - 1)
            cudaCheck(cudaMemsetAsync(gpu_line_ptr(s, ln), 0xFF, ln->a.bytes, s->stream));
    }
}
// ------------------------------------------------------------------------------------------
// create / destroy

// The values as if each tensor were filled whole in the table order (fill_normal_bf16_at: element
// i of a tensor draws counter i), slice by slice into the per-layer order: the same weights as
// before the order changed, so losses stay comparable across commits.
static void init_weights(Step *s) {
    size_t sizes[P_COUNT];
    model_param_sizes(&s->m, sizes);
    for (int i = 0; i < P_COUNT; i++) {
        if (!sizes[i]) continue;
        const size_t per = model_param_layer_size(&s->m, (ParamId)i);
        const uint64_t seed = s->opt.seed * 1000003ull + (uint64_t)i;
        for (int l = 0; l < (per ? s->m.layers : 1); l++) {
            bf16_t *p = per ? layer_w(s, (ParamId)i, l) : s->w[i];
            const size_t n = per ? per : sizes[i];
            if (model_param_is_norm((ParamId)i)) fill_const_bf16(p, n, 1.0f, s->stream);
            else fill_normal_bf16_at(p, n, seed, (size_t)l * per, 0.0f, 0.02f, s->stream);
        }
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
    if (m->qk_norm && m->head_dim > 256) {
        snprintf(err, errlen, "gpu: the q/k norm kernel supports head_dim <= 256 (model has %d)", m->head_dim);
        return NULL;
    }
    if (m->layers > GPU_PLAN_MAX_LAYERS) { snprintf(err, errlen, "gpu: more than %d layers", GPU_PLAN_MAX_LAYERS); return NULL; }
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
        snprintf(err, errlen, "gpu: unknown prefix attention '%s' (auto, gather, merge)", o->prefix_attention);
        return NULL;
    }
    attn_opt.phases = o ? o->attention_phases : 0;
    RecomputePolicy policy;
    if (recompute_policy_parse(o ? o->recompute : NULL, &policy)) {
        snprintf(err, errlen, "gpu: unknown recompute policy '%s' (full, selective, none, auto)", o->recompute);
        return NULL;
    }
    if (o && o->recompute_levels)
        for (int l = 0; l < m->layers; l++)
            if (o->recompute_levels[l] >= RECOMPUTE_LEVELS) {
                snprintf(err, errlen, "gpu: recompute level %d of layer %d is not a level", o->recompute_levels[l], l);
                return NULL;
            }

    Step *s = (Step *)calloc(1, sizeof *s);
    if (!s) { snprintf(err, errlen, "gpu: out of host memory"); return NULL; }
    *keep = s;
    s->m = *m;
    if (o) s->opt = *o;
    s->opt.attention = ops->name;
    s->policy = policy;
    s->levels_given = o && o->recompute_levels;
    if (s->levels_given) memcpy(s->levels_asked, o->recompute_levels, (size_t)m->layers);
    s->opt.recompute = NULL; // the caller's strings and arrays are not kept
    s->opt.recompute_levels = NULL;
    s->attn_ops = ops;
    cudaCheck(cudaSetDevice(0));
    cudaCheck(cudaFree(0)); // create the context before the baseline
    s->baseline_used = gpu_device_used();
    cudaCheck(cudaStreamCreate(&s->stream));
    cudaCheck(cudaEventCreate(&s->ev_start));
    cudaCheck(cudaEventCreate(&s->ev_stop));

    AttnShape shape = {m->n_head, m->n_kv_head, m->head_dim};
    const AttnMemoryAsk ask = {attn_opt.prefix, 0, 0};
    s->attn_ask = ask;
    s->attn = ops->create(&shape, &attn_opt, err, errlen);
    if (!s->attn) { *keep = NULL; gpu_destroy_step(s); return NULL; }

    // the plan's weights line (aligned); the gradients are planned per layout (prepare)
    s->weight_bytes = (model_param_bytes_bf16(m) + GPU_PLAN_ALIGN - 1) / GPU_PLAN_ALIGN * GPU_PLAN_ALIGN;
    if (cudaMalloc((void **)&s->weights, s->weight_bytes) != cudaSuccess) {
        cudaGetLastError();
        s->weights = NULL;
        snprintf(err, errlen, "gpu: out of device memory for the weights (%.2f GB)", (double)s->weight_bytes / 1e9);
        *keep = NULL;
        gpu_destroy_step(s);
        return NULL;
    }
    for (int i = 0; i < P_COUNT; i++) // per-layer tensors: layer_w (step_internal.h)
        s->w[i] = model_param_layer_size(m, (ParamId)i) ? NULL : s->weights + gpu_weight_offset(m, (ParamId)i, -1);
    s->mm = matmul_create(GPU_MATMUL_WORKSPACE);
    matmul_set_verbose(s->mm, s->opt.matmul_verbose);
    matmul_set_select(s->mm, gemm_select_of(&s->opt));
    s->prof = profile_create(s->mm);
    open_clock(s);
    init_weights(s);
    return s;
}

void gpu_release_layout(Step *s) {
    if (s->device_lost) { // no device calls now; the device's memory goes with the process
        s->arena = NULL;
        s->layout = NULL;
        gpu_memory_plan_free(&s->plan);
        gpu_memory_plan_free(&s->plan_accum);
        return;
    }
    if (s->attn && s->layout) s->attn_ops->release(s->attn);
    if (s->arena) cudaCheck(cudaFree(s->arena));
    s->arena = NULL;
    s->layout = NULL;
    gpu_memory_plan_free(&s->plan);
    gpu_memory_plan_free(&s->plan_accum);
    memset(&s->attn_mem, 0, sizeof s->attn_mem);
    s->T = s->n_loss = 0;
    s->n_uniq = 0;
}

void gpu_destroy_step(Step *s) {
    if (!s) return;
    gpu_release_layout(s);
    sm_clock_close(s->clock);
    if (s->device_lost) { free(s); return; } // the device's memory goes with the process
    if (s->attn) s->attn_ops->destroy(s->attn);
    profile_destroy(s->prof);
    if (s->mm) matmul_destroy(s->mm);
    cudaFree(s->weights);
    if (s->ev_start) cudaEventDestroy(s->ev_start);
    if (s->ev_stop) cudaEventDestroy(s->ev_stop);
    if (s->stream) cudaStreamDestroy(s->stream);
    free(s);
}

// ------------------------------------------------------------------------------------------
// prepare

static void copy_in(Step *s, GpuBuf b, const void *host, size_t bytes) {
    if (bytes) cudaCheck(cudaMemcpy(buf_at(s, b, -1, PASS_NONE), host, bytes, cudaMemcpyHostToDevice));
}

// auto's budget: StepOptions.memory_budget, else what the device has free now plus what the
// plan counts that the Step already holds (weights, cuBLASLt workspace), less a margin.
static size_t recompute_budget(Step *s) {
    if (s->opt.memory_budget) return s->opt.memory_budget;
    size_t free_b = 0, total_b = 0;
    cudaCheck(cudaMemGetInfo(&free_b, &total_b));
    size_t have = free_b + s->weight_bytes + GPU_MATMUL_WORKSPACE;
    return have > GPU_RECOMPUTE_MARGIN ? have - GPU_RECOMPUTE_MARGIN : 0;
}

// The layout's recompute levels (the policy's choice, or the test's levels) into s->recompute.
static PbStatus choose_recompute(Step *s, const GpuPlanInput *in, char *err, size_t errlen) {
    if (s->levels_given) {
        memset(&s->recompute, 0, sizeof s->recompute);
        s->recompute.policy = POLICY_AUTO;
        memcpy(s->recompute.level, s->levels_asked, (size_t)s->m.layers);
        gpu_recompute_of_levels(s->recompute.level, s->m.layers, &s->recompute.keep);
        s->recompute.fits = 1;
        return PB_OK;
    }
    size_t budget = s->policy == POLICY_AUTO ? recompute_budget(s) : 0;
    if (gpu_recompute_choose(in, s->policy, budget, &s->recompute, err, errlen)) return PB_ERROR;
    if (!s->recompute.fits) { // auto: not even full recompute fits the budget
        snprintf(err, errlen, "gpu: recompute auto: even full recompute plans %.2f GB, over the budget of %.2f GB",
                 (double)s->recompute.peak / 1e9, (double)budget / 1e9);
        return PB_NO_MEMORY;
    }
    return PB_OK;
}

// Plans both peaks (chunks and attention parts chosen by the default one) and allocates the
// arena of the default plan.
static PbStatus plan_and_allocate(Step *s, GpuPlanInput in, char *err, size_t errlen) {
    PbStatus rc = choose_recompute(s, &in, err, errlen);
    if (rc != PB_OK) return rc;
    in.recompute = &s->recompute.keep;
    if (gpu_memory_plan(&in, &s->plan, err, errlen)) return PB_ERROR;
    in.mode = GPU_PLAN_ACCUMULATE; // the same step (same chunks and parts), gradients held from the start
    in.mlp_rows = s->plan.mlp_rows;
    in.ce_rows = s->plan.ce_rows;
    in.attn_tight = s->plan.attn_tight;
    if (gpu_memory_plan(&in, &s->plan_accum, err, errlen)) return PB_ERROR;
    if (cudaMalloc((void **)&s->arena, s->plan.arena) != cudaSuccess) {
        cudaGetLastError();
        s->arena = NULL;
        snprintf(err, errlen, "gpu: out of device memory for the arena (%.2f GB; peak %.2f GB)",
                 (double)s->plan.arena / 1e9, (double)s->plan.peak / 1e9);
        return PB_NO_MEMORY;
    }
    return PB_OK;
}

// The layout's device copies (into the arena's always-live lines).
static PbStatus upload_layout(Step *s, const Layout *l, char *err, size_t errlen) {
    const size_t T = l->n_slots;
    copy_in(s, GB_TOKENS, l->tokens, T * 4);
    copy_in(s, GB_POS, l->pos, T * 4);
    copy_in(s, GB_KV_LO, l->kv_lo, T * 4);
    copy_in(s, GB_SHARED_END, l->shared_end, T * 4);
    copy_in(s, GB_SEG_LO, l->seg_lo, T * 4);
    copy_in(s, GB_LOSS_ROWS, l->loss_row, l->n_loss * 4);
    copy_in(s, GB_LOSS_TARGETS, l->loss_target, l->n_loss * 4);
    copy_in(s, GB_LOSS_WEIGHTS, l->loss_weight, l->n_loss * 4);
    size_t U = s->plan.n_uniq_max;
    int32_t *csr = (int32_t *)malloc((2 * U + 1 + l->n_real + 1) * sizeof *csr);
    int n_uniq = csr ? build_embedding_csr(l, s->m.vocab, csr, csr + U, csr + 2 * U + 1) : -1;
    if (n_uniq < 0) {
        free(csr);
        snprintf(err, errlen, "gpu: out of host memory, or the layout's real slots differ from n_real");
        return PB_ERROR;
    }
    s->n_uniq = n_uniq;
    copy_in(s, GB_EMB_UNIQ_TOK, csr, (size_t)n_uniq * 4);
    copy_in(s, GB_EMB_UNIQ_OFF, csr + U, ((size_t)n_uniq + 1) * 4);
    copy_in(s, GB_EMB_SLOTS, csr + 2 * U + 1, l->n_real * 4);
    free(csr);
    double *freq = (double *)malloc((size_t)(s->m.head_dim / 2) * sizeof *freq);
    if (!freq) { snprintf(err, errlen, "gpu: out of host memory"); return PB_NO_MEMORY; }
    model_rope_inv_freq(&s->m, freq);
    copy_in(s, GB_ROPE_FREQ, freq, (size_t)(s->m.head_dim / 2) * sizeof *freq);
    free(freq);
    return PB_OK;
}

static int same_attn_memory(const AttnMemory *a, const AttnMemory *b) {
    return a->held == b->held && a->scratch[ATTN_FWD] == b->scratch[ATTN_FWD] && a->scratch[ATTN_BWD] == b->scratch[ATTN_BWD];
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
    GpuPlanInput in = {&s->m, l, {}, GPU_PLAN_DEFAULT, NULL, 0, 0, s->opt.mlp_chunk, -1};
    if (gpu_plan_attn_figures(s->attn_ops->name, &s->m, l, &s->attn_ask, &in)) {
        snprintf(err, errlen, "gpu: no host memory figures for attention backend %s", s->attn_ops->name);
        return PB_ERROR;
    }
    // at most twice: with the host's figures, then with the backend's if they differ
    for (int attempt = 0; attempt < 2; attempt++) {
        PbStatus rc = plan_and_allocate(s, in, err, errlen);
        s->layout = l;
        if (rc == PB_OK) rc = upload_layout(s, l, err, errlen);
        if (rc != PB_OK) { gpu_release_layout(s); return rc; }
        s->T = l->n_slots;
        s->n_loss = l->n_loss;
        AttnMask mask = {l, ib(s, GB_KV_LO), ib(s, GB_SHARED_END), ib(s, GB_SEG_LO), s->plan.attn_tight};
        rc = s->attn_ops->prepare(s->attn, &mask, &s->attn_mem, err, errlen);
        if (rc != PB_OK) {
            s->layout = NULL; // the backend released itself
            if (rc != PB_DEVICE_ERROR) gpu_release_layout(s);
            return rc;
        }
        const AttnMemory *host = &in.attn[s->plan.attn_tight];
        if (same_attn_memory(&s->attn_mem, host)) return PB_OK;
        if (attempt == 0)
            fprintf(stderr, "gpu: attention needs %zu / %zu scratch bytes, the host planned %zu / %zu (workspace "
                    "%zu / %zu over its reserve): planning again\n", s->attn_mem.scratch[ATTN_FWD],
                    s->attn_mem.scratch[ATTN_BWD], host->scratch[ATTN_FWD], host->scratch[ATTN_BWD],
                    s->attn_mem.workspace[ATTN_FWD] - host->workspace[ATTN_FWD],
                    s->attn_mem.workspace[ATTN_BWD] - host->workspace[ATTN_BWD]);
        // the same chunks and parts, the backend's figures
        for (int t = 0; t < ATTN_TIGHT_LEVELS; t++) in.attn[t] = s->attn_mem;
        in.attn_tight = s->plan.attn_tight;
        in.mlp_rows = s->plan.mlp_rows;
        in.ce_rows = s->plan.ce_rows;
        gpu_release_layout(s);
    }
    snprintf(err, errlen, "gpu: the attention backend's figures changed between two prepares");
    return PB_ERROR;
}

// ------------------------------------------------------------------------------------------
// run

static PbStatus step_forward_backward(Step *s, char *err, size_t errlen) {
    const ModelConfig *m = &s->m;
    const int L = m->layers, C = m->hidden, V = m->vocab;
    const size_t TC = s->T * (size_t)C;
    cudaStream_t st = s->stream;
    const ParamId head = model_lm_head(m);
    float *norm_acc = fb(s, GB_NORM_GRAD_ACC, -1, PASS_NONE);

    // forward: keep each layer's input
    gpu_tick(s, 0);
    profile_pass(s->prof, OPP_FWD);
    profile_begin(s->prof, OPK_EMBED, st);
    embedding_forward(ckpt(s, 0), ib(s, GB_TOKENS), s->w[P_EMBED], s->T, C, st);
    for (int l = 0; l < L; l++) {
        PbStatus rc = gpu_layer_forward(s, l, err, errlen);
        if (rc != PB_OK) return rc;
    }
    gpu_tick(s, gpu_plan_tick_loss(L, LOSS_NORM));
    bf16_t *xf = ckpt(s, L), *lnf = bb(s, GB_LNF, -1, PASS_NONE), *dlnf = bb(s, GB_DLNF, -1, PASS_NONE);
    bf16_t *dres = bb(s, GB_DRES, -1, PASS_NONE);
    float *rstdf = fb(s, GB_RSTDF, -1, PASS_NONE);
    profile_begin(s->prof, OPK_NORM, st);
    rmsnorm_forward(lnf, rstdf, xf, s->w[P_LNF], s->T, C, m->rms_eps, st);

    // loss and the LM head; the final norm's backward
    gpu_tick(s, gpu_plan_tick_loss(L, LOSS_CE));
    profile_pass(s->prof, OPP_BWD);
    profile_begin(s->prof, OPK_MISC, st);
    cudaCheck(cudaMemsetAsync(norm_acc, 0, gpu_plan_norm_acc_floats(m) * sizeof(float), st));
    cudaCheck(cudaMemsetAsync(dlnf, 0, TC * sizeof(bf16_t), st));
    cudaCheck(cudaMemsetAsync(dres, 0, TC * sizeof(bf16_t), st));
    profile_begin(s->prof, OPK_CE, st);
    fused_linear_cross_entropy(s->mm, (double *)buf_at(s, GB_LOSS, -1, PASS_NONE), dlnf, grad(s, head, -1), lnf,
                               s->w[head], ib(s, GB_LOSS_ROWS), ib(s, GB_LOSS_TARGETS), ib(s, GB_LOSS_WEIGHTS),
                               (int)s->n_loss, C, V, s->plan.ce_rows, buf_at(s, GB_CE_SCRATCH, -1, PASS_NONE), st);
    gpu_tick(s, gpu_plan_tick_loss(L, LOSS_NORM_BWD));
    profile_begin(s->prof, OPK_NORM, st);
    rmsnorm_backward(dres, norm_acc + 2 * (size_t)L * C, dlnf, xf, s->w[P_LNF], rstdf, s->T, C, st);

    // backward: each layer recomputed as its level says, then differentiated
    for (int l = L - 1; l >= 0; l--) {
        PbStatus rc = gpu_layer_backward(s, l, err, errlen);
        if (rc != PB_OK) return rc;
    }

    // embedding: rows of absent tokens are zero, or (tied) the LM head's gradient the CE wrote
    gpu_tick(s, gpu_plan_tick_embed_bwd(L));
    profile_begin(s->prof, OPK_EMBED, st);
    if (!m->tied_embeddings) cudaCheck(cudaMemsetAsync(grad(s, P_EMBED, -1), 0, (size_t)V * C * sizeof(bf16_t), st));
    embedding_backward(grad(s, P_EMBED, -1), dres, ib(s, GB_EMB_UNIQ_TOK), ib(s, GB_EMB_UNIQ_OFF), ib(s, GB_EMB_SLOTS),
                       s->n_uniq, C, m->tied_embeddings, st);
    profile_begin(s->prof, OPK_MISC, st);
    cast_f32_to_bf16(grad(s, P_LN1, -1), norm_acc, (size_t)L * C, st);
    cast_f32_to_bf16(grad(s, P_LN2, -1), norm_acc + (size_t)L * C, (size_t)L * C, st);
    cast_f32_to_bf16(grad(s, P_LNF, -1), norm_acc + 2 * (size_t)L * C, (size_t)C, st);
    if (m->qk_norm) {
        cast_f32_to_bf16(grad(s, P_QNORM, -1), norm_acc_qnorm(s, 0), (size_t)L * m->head_dim, st);
        cast_f32_to_bf16(grad(s, P_KNORM, -1), norm_acc_knorm(s, 0), (size_t)L * m->head_dim, st);
    }
    profile_end(s->prof, st);
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
    cudaCheck(cudaMemcpy(&h_loss, buf_at(s, GB_LOSS, -1, PASS_NONE), sizeof h_loss, cudaMemcpyDeviceToHost));
    if (ms) *ms = t;
    if (loss) *loss = h_loss;
    return PB_OK;
}
