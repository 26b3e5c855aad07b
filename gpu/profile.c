// profile.c: op-class ranges of one step: NVTX always, CUDA event pairs while enabled (profile.h).
#include "profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nvtx3/nvToolsExt.h>

#include "../kernels/check.h"

typedef struct Range {
    int kind, pass;
    cudaEvent_t ev[2];
} Range;

struct Profile {
    Matmul *mm;
    int enabled;
    OpPass pass;
    int open;            // a range is open
    OpKind open_kind;
    OpPass open_pass;
    int split;           // an LM head GEMM range cut out of the cross-entropy range is open
    OpPass split_pass;   // the cross-entropy range's pass, to reopen it with
    char names[OPK_COUNT][OPP_COUNT][48]; // the NVTX range of each class
    Range *ranges;       // event pairs, created as needed and reused by later profiled steps
    int n, cap, made;    // used this step, allocated, with events created
};

static void range_open(Profile *p, OpKind k, OpPass ps, cudaStream_t s) {
    nvtxRangePushA(p->names[k][ps]);
    p->open = 1;
    p->open_kind = k;
    p->open_pass = ps;
    if (!p->enabled) return;
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 1024;
        Range *r = (Range *)realloc(p->ranges, (size_t)cap * sizeof *r);
        if (!r) checkFail("profile: out of host memory for %d ranges", cap);
        p->ranges = r;
        p->cap = cap;
    }
    Range *r = &p->ranges[p->n];
    if (p->n == p->made) {
        cudaCheck(cudaEventCreate(&r->ev[0]));
        cudaCheck(cudaEventCreate(&r->ev[1]));
        p->made++;
    }
    r->kind = k;
    r->pass = ps;
    cudaCheck(cudaEventRecord(r->ev[0], s));
}

static void range_close(Profile *p, cudaStream_t s) {
    if (!p->open) return;
    p->open = 0;
    nvtxRangePop();
    if (p->enabled) cudaCheck(cudaEventRecord(p->ranges[p->n++].ev[1], s));
}

// GEMMs inside the cross-entropy range are the LM head's; elsewhere they belong to the open range.
static void on_gemm(void *ctx, int begin, MatmulOp op, int m, int n, int k, cudaStream_t s) {
    Profile *p = (Profile *)ctx;
    static const char *const names[] = {"fwd", "bwd input", "bwd weight"};
    if (begin) {
        if (p->open && p->open_kind == OPK_CE) {
            p->split_pass = p->open_pass;
            p->split = 1;
            range_close(p, s);
            range_open(p, OPK_LMHEAD, op == MATMUL_OP_FORWARD ? OPP_FWD : OPP_BWD, s);
        }
        char name[96];
        snprintf(name, sizeof name, "gemm %s m %d n %d k %d", names[op], m, n, k);
        nvtxRangePushA(name);
        return;
    }
    nvtxRangePop();
    if (p->split) {
        p->split = 0;
        range_close(p, s);
        range_open(p, OPK_CE, p->split_pass, s);
    }
}

Profile *profile_create(Matmul *mm) {
    Profile *p = (Profile *)calloc(1, sizeof *p);
    if (!p) checkFail("profile: out of host memory");
    p->mm = mm;
    for (int k = 0; k < OPK_COUNT; k++)
        for (int ps = 0; ps < OPP_COUNT; ps++)
            snprintf(p->names[k][ps], sizeof p->names[k][ps], "%s (%s)", op_kind_name((OpKind)k), op_pass_name((OpPass)ps));
    matmul_set_observer(mm, on_gemm, p);
    return p;
}

void profile_destroy(Profile *p) {
    if (!p) return;
    matmul_set_observer(p->mm, NULL, NULL);
    for (int i = 0; i < p->made; i++) {
        cudaCheck(cudaEventDestroy(p->ranges[i].ev[0]));
        cudaCheck(cudaEventDestroy(p->ranges[i].ev[1]));
    }
    free(p->ranges);
    free(p);
}

void profile_enable(Profile *p, int on) {
    p->enabled = on ? 1 : 0;
    p->n = 0;
    p->open = p->split = 0;
}

void profile_pass(Profile *p, OpPass pass) { p->pass = pass; }

void profile_begin(Profile *p, OpKind kind, cudaStream_t s) {
    range_close(p, s);
    range_open(p, kind, p->pass, s);
}

void profile_end(Profile *p, cudaStream_t s) { range_close(p, s); }

void profile_collect(Profile *p, cudaStream_t s, StepProfile *out) {
    range_close(p, s);
    memset(out->ms, 0, sizeof out->ms);
    memset(out->calls, 0, sizeof out->calls);
    if (p->n) cudaCheck(cudaEventSynchronize(p->ranges[p->n - 1].ev[1]));
    for (int i = 0; i < p->n; i++) {
        float ms = 0;
        cudaCheck(cudaEventElapsedTime(&ms, p->ranges[i].ev[0], p->ranges[i].ev[1]));
        out->ms[p->ranges[i].kind][p->ranges[i].pass] += ms;
        out->calls[p->ranges[i].kind][p->ranges[i].pass]++;
    }
}
