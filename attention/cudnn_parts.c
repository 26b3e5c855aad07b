/*
 * cudnn_parts.c: a cuDNN SDPA call in parts (cudnn_sdpa.h). A ragged call over many sequences
 * runs as one plan over `part` consecutive sequences, executed once per part with every tensor
 * pointer moved to the part's first query / key token and the part's own lengths and offsets
 * (relative to those tokens). Why: the backward's buffers (fp32 dQ accumulator, softmax sums,
 * per-query-head dK/dV) then cover one part, not every slot (attention/attn_memory.h). A BSHD
 * call (the padded layout's backward) is cut the same way into parts of consecutive rows.
 */
#define PB_WANT_CUDNN
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/check.h"
#include "../kernels/kernels.h"
#include "cudnn_sdpa.h"

// row_len 0: a ragged (THD) call; > 0: BSHD rows of row_len slots.
static PbStatus setup_parts(SdpaCall *c, const AttnShape *sh, cudnnHandle_t handle, const CallSpec *sp, int part,
                            int64_t row_len, CausalKind causal, int build, size_t *device_bytes, char *err,
                            size_t errlen) {
    memset(c, 0, sizeof *c);
    const int ragged = row_len == 0;
    if (part < 1 || sp->b < 1 || sp->b % part) {
        snprintf(err, errlen, "cudnn attention: %d sequences in parts of %d", (int)sp->b, part);
        return PB_ERROR;
    }
    const int n_parts = (int)(sp->b / part);
    CallSpec sub;
    SdpaPart *parts = calloc((size_t)n_parts, sizeof *parts);
    SdpaRun *runs = calloc((size_t)sp->b, sizeof *runs);
    PbStatus rc = spec_alloc(&sub, part) || !parts || !runs ? PB_NO_MEMORY : PB_OK;
    if (rc) snprintf(err, errlen, "cudnn attention: out of host memory");
    for (int64_t i = 0; !rc && i < sp->b; i++) {
        if (sp->len_q[i] > sub.max_q) sub.max_q = sp->len_q[i];
        if (sp->len_kv[i] > sub.max_kv) sub.max_kv = sp->len_kv[i];
    }
    size_t max_rows = 0, max_keys = 0;
    int n_runs = 0;
    for (int p = 0; !rc && p < n_parts; p++) {
        const int64_t i0 = (int64_t)p * part, last = i0 + part - 1;
        SdpaPart *pt = &parts[p];
        pt->base_q = sp->start_q[i0];
        pt->base_kv = sp->start_kv[i0];
        for (int j = 0; j < part; j++) {
            sub.len_q[j] = sp->len_q[i0 + j];
            sub.len_kv[j] = sp->len_kv[i0 + j];
            sub.start_q[j] = sp->start_q[i0 + j] - pt->base_q;
            sub.start_kv[j] = sp->start_kv[i0 + j] - pt->base_kv;
        }
        if (p == 0) {
            rc = sdpa_call_setup(c, sh, handle, &sub, ragged, causal, ragged ? sub.max_q : row_len, build, device_bytes,
                                 err, errlen);
            pt->len_q = c->len_q, pt->len_kv = c->len_kv, pt->off_q = c->off_q, pt->off_kv = c->off_kv,
            pt->off_s = c->off_s;
        } else {
            rc = sdpa_upload_seqs(sh, &sub, ragged, &pt->len_q, &pt->len_kv, &pt->off_q, &pt->off_kv, &pt->off_s,
                                  device_bytes, err, errlen);
        }
        c->parts = parts; // from here sdpa_call_free frees them
        c->n_parts = p + 1;
        pt->run0 = n_runs;
        for (int64_t i = i0; i <= last; i++) {
            size_t start = (size_t)sp->start_q[i], len = (size_t)sp->len_q[i];
            if (n_runs > pt->run0 && runs[n_runs - 1].start + runs[n_runs - 1].len == start) runs[n_runs - 1].len += len;
            else if (len) runs[n_runs++] = (SdpaRun){start, len};
        }
        pt->n_runs = n_runs - pt->run0;
        // BSHD: the part's buffers are dense over its rows, padding included
        size_t q = ragged ? (size_t)(sp->start_q[last] + sp->len_q[last] - pt->base_q) : (size_t)(part * row_len);
        size_t kv = ragged ? (size_t)(sp->start_kv[last] + sp->len_kv[last] - pt->base_kv) : (size_t)(part * row_len);
        if (q > max_rows) max_rows = q;
        if (kv > max_keys) max_keys = kv;
    }
    c->runs = runs;
    c->max_rows = max_rows;
    c->max_keys = max_keys;
    if (!c->parts) free(parts);
    spec_free(&sub);
    return rc;
}

PbStatus sdpa_call_setup_parts(SdpaCall *c, const AttnShape *sh, cudnnHandle_t handle, const CallSpec *sp, int part,
                               CausalKind causal, int build, size_t *device_bytes, char *err, size_t errlen) {
    return setup_parts(c, sh, handle, sp, part, 0, causal, build, device_bytes, err, errlen);
}

PbStatus sdpa_call_setup_row_parts(SdpaCall *c, const AttnShape *sh, cudnnHandle_t handle, const CallSpec *sp, int part,
                                   int64_t row_len, int build, size_t *device_bytes, char *err, size_t errlen) {
    // backward only: a BSHD forward plan drops the padding mask when part 0's rows are full
    // (SdpaCall.full), which another part's need not be
    if (row_len <= 0 || build != SDPA_BUILD_BWD) {
        memset(c, 0, sizeof *c);
        snprintf(err, errlen, "cudnn attention: rows in parts need a row length and a backward-only plan");
        return PB_ERROR;
    }
    return setup_parts(c, sh, handle, sp, part, row_len, CAUSAL_TOP_LEFT, build, device_bytes, err, errlen);
}

PbStatus sdpa_forward(cudnnHandle_t handle, const AttnShape *sh, const SdpaCall *c, const SdpaScratch *scr, const void *q,
                      const void *k, const void *v, void *o, float *lse, cudaStream_t stream, char *err, size_t errlen) {
    if (!c->n_parts) return sdpa_forward_part(handle, sh, c, NULL, scr, q, k, v, o, lse, stream, err, errlen);
    const size_t qrow = (size_t)(sh->n_head * sh->head_dim) * 2, kvrow = (size_t)(sh->n_kv_head * sh->head_dim) * 2;
    for (int i = 0; i < c->n_parts; i++) {
        const SdpaPart *pt = &c->parts[i];
        const size_t bq = (size_t)pt->base_q, bkv = (size_t)pt->base_kv;
        PbStatus rc = sdpa_forward_part(handle, sh, c, pt, scr, (const char *)q + bq * qrow, (const char *)k + bkv * kvrow,
                                        (const char *)v + bkv * kvrow, (char *)o + bq * qrow,
                                        lse + bq * (size_t)sh->n_head, stream, err, errlen);
        if (rc != PB_OK) return rc;
    }
    return PB_OK;
}

PbStatus sdpa_backward(cudnnHandle_t handle, const AttnShape *sh, const SdpaCall *c, const SdpaScratch *scr,
                       const void *q, const void *k, const void *v, const void *o, const void *dout, const float *lse,
                       void *dq, void *dk, void *dv, void *dq_tmp, cudaStream_t stream, char *err, size_t errlen) {
    const size_t qel = (size_t)(sh->n_head * sh->head_dim), qrow = qel * 2,
                 kvrow = (size_t)(sh->n_kv_head * sh->head_dim) * 2;
    const SdpaPart whole = {c->len_q, c->len_kv, c->off_q, c->off_kv, c->off_s, 0, 0, 0, 0};
    if (dq_tmp && !c->n_parts) { // its dq would go to dq_tmp and never be added: the runs come with the parts
        snprintf(err, errlen, "cudnn: a backward into dq_tmp without parts (no runs to add dq into)");
        return PB_ERROR;
    }
    const int n = c->n_parts ? c->n_parts : 1;
    for (int i = 0; i < n; i++) {
        const SdpaPart *pt = c->n_parts ? &c->parts[i] : &whole;
        const size_t bq = (size_t)pt->base_q, bkv = (size_t)pt->base_kv;
        void *dq_part = dq_tmp ? dq_tmp : (char *)dq + bq * qrow;
        PbStatus rc = sdpa_backward_part(handle, sh, c, pt, scr, (const char *)q + bq * qrow,
                                         (const char *)k + bkv * kvrow, (const char *)v + bkv * kvrow,
                                         (const char *)o + bq * qrow, (const char *)dout + bq * qrow,
                                         lse + bq * (size_t)sh->n_head, dq_part, (char *)dk + bkv * kvrow,
                                         (char *)dv + bkv * kvrow, stream, err, errlen);
        if (rc != PB_OK) return rc;
        for (int r = pt->run0; dq_tmp && c->n_parts && r < pt->run0 + pt->n_runs; r++)
            add_inplace((bf16_t *)dq + c->runs[r].start * qel, (const bf16_t *)dq_tmp + (c->runs[r].start - bq) * qel,
                        c->runs[r].len * qel, stream);
    }
    return PB_OK;
}
