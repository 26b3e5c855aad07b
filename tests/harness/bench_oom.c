/*
 * bench_oom.c: the bench command with a stand-in "gpu" backend: the CPU step whose prepare()
 * answers PB_NO_MEMORY for layouts of more than PB_FAKE_SLOTS token slots, as the GPU step
 * does for a cell that does not fit. The harness tests use it to check that such a strategy is
 * recorded "oom" and that the sweep goes on.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../../harness/bench.h"

static size_t slot_limit;

static PbStatus limited_prepare(Step *s, const Layout *l, char *err, size_t errlen) {
    if (l->n_slots > slot_limit) {
        snprintf(err, errlen, "needs %zu token slots, the stand-in device holds %zu", l->n_slots, slot_limit);
        return PB_NO_MEMORY;
    }
    return cpu_step_backend.prepare(s, l, err, errlen);
}

int main(int argc, char **argv) {
    const char *limit = getenv("PB_FAKE_SLOTS");
    if (!limit) { fprintf(stderr, "bench_oom: set PB_FAKE_SLOTS\n"); return 2; }
    slot_limit = (size_t)strtoull(limit, NULL, 10);
    StepBackend gpu = cpu_step_backend;
    gpu.device = "gpu";
    gpu.prepare = limited_prepare;
    return bench_main(argc, argv, &gpu);
}
