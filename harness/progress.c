// progress.c: the sweep's ETA (progress.h).
#include "progress.h"

#include <math.h>
#include <stdio.h>

double progress_eta_s(double flop_done, double flop_left, double elapsed_s) {
    if (!(flop_done > 0) || !(elapsed_s > 0) || !(flop_left >= 0)) return -1;
    return flop_left / (flop_done / elapsed_s);
}

void progress_duration(double s, char *buf, size_t len) {
    if (!(s >= 0) || !isfinite(s)) { snprintf(buf, len, "?"); return; }
    long t = lround(s);
    if (t < 60) snprintf(buf, len, "%lds", t);
    else if (t < 3600) snprintf(buf, len, "%ldm %02lds", t / 60, t % 60);
    else snprintf(buf, len, "%ldh %02ldm", t / 3600, (t % 3600) / 60);
}
