/*
 * resume.h: which cells --resume skips. A row of the output file holds a cell's measurement
 * when it is the same cell (model, lengths, K, B, exact lengths: results_same_cell) and was
 * measured the same way: the same seed, device and attention backend, the same prefix
 * attention mode (auto|gather|merge, where the row records one), the same recompute policy (and
 * for auto the same --memory-budget), and every strategy this run
 * asks for was run there (status ok or oom; "skipped", "error" or missing run again).
 * A cell whose rows differ runs again, and the reasons are counted for one summary line each.
 */
#ifndef PB_RESUME_H
#define PB_RESUME_H

#include <stdint.h>
#include <stdio.h>

#include "measure.h"
#include "results.h"
#include "sweep.h"

typedef enum ResumeReason {
    RESUME_NEW,         // no row of this cell
    RESUME_DONE,        // a row measured it the same way: skipped
    RESUME_SEED,        // rows of this cell have another seed
    RESUME_DEVICE,
    RESUME_ATTENTION,
    RESUME_PREFIX_ATTENTION,
    RESUME_PREFIX_SHARE, // prefix rows built with another --prefix-share (a row without one: always)
    RESUME_GEMM_SELECT, // GPU rows chosen with another --gemm-select
    RESUME_RECOMPUTE,   // rows measured with another --recompute (or, for auto, another --memory-budget)
    RESUME_STRATEGIES,  // a strategy asked for now was not run (or failed) there
    RESUME_REASON_COUNT
} ResumeReason;

typedef struct ResumeKey {
    const char *model;
    unsigned strategies; // bit (1 << Strategy)
    uint64_t seed;
    const char *device;
    const char *attention; // "" on the CPU
    const char *prefix_attention; // the mode asked for: auto | gather | merge
    const char *gemm_select;      // GPU: heuristic | timed; NULL or "" on the CPU
    const char *recompute;        // the policy asked for; NULL: full (a row without one is full too)
    double memory_budget_gb;      // auto: the budget as given; <= 0: the device's default
    const char *prefix_share;     // auto | always; NULL: auto
} ResumeKey;

// How rows relate to cell c: RESUME_DONE, or why not (the first difference of the closest row).
ResumeReason resume_classify(const Cell *c, const ResumeKey *k, const ResultRow *rows, size_t n);
// --warmup auto across processes (measure.h): the timings of rows measured the way k asks (this
// model, every requested strategy ok or oom, as resume_classify's RESUME_DONE), in file order,
// added to warm[STRATEGY_COUNT] by warmup_auto_seed.
void resume_seed_warmup(const ResumeKey *k, const ResultRow *rows, size_t n, WarmupAuto warm[STRATEGY_COUNT]);
// --time-limit's pace before this process has timed a cell (run.h time_limit_s): wall seconds
// per model FLOP of the kept row (measured the way k asks) with the most model FLOPs: its timed
// steps and warm-ups, plus one step of its first strategy (a new process warms up once), over
// its strategies' model FLOPs. 0 without such a row (the first cell then always starts).
double resume_pace(const ResumeKey *k, const ResultRow *rows, size_t n);
// Prints one line per reason with a non-zero count (counts[RESUME_REASON_COUNT]).
void resume_report(FILE *fp, const char *shown, const int *counts, int n_cells, const ResumeKey *k);

#endif
