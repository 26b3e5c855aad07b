/*
 * bench_oom.c: the bench command with a stand-in "gpu" backend: the CPU step whose prepare()
 * fails for layouts of more than N token slots, as the GPU step does for a cell that does not
 * fit (PB_NO_MEMORY) or when a CUDA call fails (PB_DEVICE_ERROR). The harness tests use it to
 * check that an oom strategy is recorded and the sweep goes on, and that a device error is
 * recorded as error with its message and ends the sweep with exit code 3. Its profile entry
 * reports 1 ms of forward qkv GEMMs in a 4 ms step, so that the --profile plumbing, the GPU
 * columns (S_roofline_eff, gemm_select) and the tables after the cell are seen without a GPU.
 *   bench_oom oom=N|device-error=N [bench arguments...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness/bench.h"

static size_t slot_limit;
static PbStatus over_limit; // what prepare answers above the limit

static PbStatus limited_prepare(Step *s, const Layout *l, char *err, size_t errlen) {
    if (l->n_slots > slot_limit) {
        if (over_limit == PB_NO_MEMORY)
            snprintf(err, errlen, "needs %zu token slots, the stand-in device holds %zu", l->n_slots, slot_limit);
        else
            snprintf(err, errlen, "gpu: CUDA error at stand-in.cu:1 (cudaMemcpy): an illegal memory access was encountered");
        return over_limit;
    }
    return cpu_step_backend.prepare(s, l, err, errlen);
}

static PbStatus standin_profile(Step *s, StepProfile *out, char *err, size_t errlen) {
    (void)s, (void)err, (void)errlen;
    memset(out, 0, sizeof *out);
    out->step_ms = 4.0;
    out->ms[OPK_QKV][OPP_FWD] = 1.0;
    out->calls[OPK_QKV][OPP_FWD] = 2;
    return PB_OK;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strncmp(mode, "oom=", 4)) over_limit = PB_NO_MEMORY;
    else if (!strncmp(mode, "device-error=", 13)) over_limit = PB_DEVICE_ERROR;
    else { fprintf(stderr, "usage: bench_oom oom=N|device-error=N [bench arguments]\n"); return 2; }
    slot_limit = (size_t)strtoull(strchr(mode, '=') + 1, NULL, 10);
    StepBackend gpu = cpu_step_backend;
    gpu.device = "gpu";
    gpu.prepare = limited_prepare;
    gpu.profile = standin_profile;
    argv[1] = argv[0]; // bench sees its own name, then its arguments
    return bench_main(argc - 1, argv + 1, &gpu);
}
