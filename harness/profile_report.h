/*
 * profile_report.h: the --profile table of one strategy: per op class (model/roofline.h) the
 * time the GPU's events measured, its share of the profiled step, what it achieved (TFLOP/s
 * for GEMMs and attention, TB/s for the rest, from the class's cost computed from the shapes)
 * and the ceiling it is held against; then the time no range covered, and the ideal step.
 */
#ifndef PB_PROFILE_REPORT_H
#define PB_PROFILE_REPORT_H

#include <stdio.h>

#include "../model/roofline.h"
#include "../step/step.h"

// title: e.g. "prefix, prompt 512 x completion 512"; median_ms: the timed steps' median.
void profile_report_print(FILE *fp, const char *title, const ModelConfig *m, const RoofShape *shape,
                          const StepProfile *p, double median_ms);

#endif
