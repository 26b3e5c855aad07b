/*
 * progress.h: how far a sweep is and when it will end. The ETA is the model FLOPs still to run
 * divided by the FLOPs the sweep has got through per wall-clock second so far (warm-up, repeats
 * and preparation included, so it is the rate that predicts the wall clock). Pure functions.
 */
#ifndef PB_PROGRESS_H
#define PB_PROGRESS_H

#include <stddef.h>

// Seconds left; a negative value when nothing has been measured yet (no ETA).
double progress_eta_s(double flop_done, double flop_left, double elapsed_s);

// "45s", "12m 05s", "3h 07m"; "?" for a negative value.
void progress_duration(double s, char *buf, size_t len);

#endif
