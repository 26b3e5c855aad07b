/*
 * test_progress.c: the sweep's ETA (harness/progress.h): FLOPs left over the rate so far, no
 * ETA before anything was measured, and durations written as a user reads them.
 */
#include <string.h>

#include "../../harness/progress.h"
#include "../test_util.h"

static int duration_is(double s, const char *want) {
    char buf[32];
    progress_duration(s, buf, sizeof buf);
    if (strcmp(buf, want)) printf("  %g s -> '%s', want '%s'\n", s, buf, want);
    return !strcmp(buf, want);
}

int main(void) {
    // 3e15 FLOPs done in 10 s: 3e14 FLOP/s; 6e15 left -> 20 s
    CHECK(progress_eta_s(3e15, 6e15, 10) == 20, "eta %g", progress_eta_s(3e15, 6e15, 10));
    CHECK(progress_eta_s(3e15, 0, 10) == 0, "nothing left");
    CHECK(progress_eta_s(0, 6e15, 10) < 0, "no rate yet gives an ETA");
    CHECK(progress_eta_s(3e15, 6e15, 0) < 0, "no time yet gives an ETA");
    CHECK(duration_is(0, "0s") && duration_is(44.6, "45s") && duration_is(725, "12m 05s") &&
          duration_is(11220, "3h 07m") && duration_is(-1, "?"), "durations");
    return test_finish("test_progress");
}
