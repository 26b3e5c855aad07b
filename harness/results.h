/*
 * results.h: one CSV row per cell. The 18 columns of the reference CSV come first, unchanged
 * (DESIGN.md section 5), so `cut -d, -f1-18` of our file diffs against the published numbers;
 * then ours: per strategy loss, status, spread, FLOPs and memory views; the ideal speedup and
 * efficiency; the loss verdict; the environment. A missing value is an empty field.
 * Quoting and parsing go through libcsv. The column table in results.c is the one list.
 */
#ifndef PB_RESULTS_H
#define PB_RESULTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../strategies/layout.h"

typedef struct StrategyResult {
    char status[12];        // ok | oom | error | skipped; "" = not run
    double ms;              // median step time (NaN = missing)
    double min_ms, iqr_ms;
    int reps;               // -1 = missing
    double gb;              // peak bytes by the program's own accounting / 1e9
    double driver_gb;       // cudaMemGetInfo view / 1e9
    double predicted_gb;    // memory plan's peak / 1e9
    double gb_accum;        // the plan's peak with every gradient held from the start (accumulation) / 1e9
    int64_t tokens;         // token slots of the layout
    double loss;            // summed completion NLL of the warm-up step
    double model_tflop;     // model FLOPs of one step / 1e12
    double tflops;          // model TFLOP/s at the median time
    double roofline_eff;    // ideal time at the H200 ceilings (model/roofline.h) / median time; GPU only
    double sm_mhz_min, sm_mhz_max; // SM clock range read around the timed steps (NaN = unknown)
    char clocks[12];        // ok | dropped (below 90% of the rated clock) | throttled (NVML: power/thermal) | unknown
    char stopped_at_max_time[4]; // yes: --max-time ended the timing before the stopping rule held (measure.h); no
    char stop[12];          // what ended the timing: noise (the rule held) | max_reps | max_time
    double noise;           // IQR / median reached (NaN below two timed steps)
    double warmup_ms;       // the untimed warm-up step's time (its excess over ms is the one-time work)
    char error[256];        // why the status is error or oom, one line; "" otherwise
    char recompute[320];    // what each layer recomputed (model/recompute.h recompute_describe), e.g. "full",
                            // "auto: 12 none, 8 selective, 8 full (ffffffffssssssssnnnnnnnnnnnn)"
    double hw_tflop;        // hardware FLOPs of one step (model + recomputed, model_hw_flops) / 1e12
    double hw_tflops;       // hardware TFLOP/s at the median time
} StrategyResult;

typedef struct ResultRow {
    char model[64];
    char method[16];
    int prompt_len, completion_len, num_completions, batch_size;
    StrategyResult s[STRATEGY_COUNT];
    double speedup_pad_pack, speedup_pack_prefix, speedup_pad_prefix; // ratios of medians
    double ideal_speedup_pad_prefix; // model FLOPs padded / prefix with every group's prompt shared (the ideal of sharing)
    double ideal_speedup_pad_prefix_run; // model FLOPs padded / the prefix layout run (groups unshared by
                                         // --prefix-share auto count their padded-way FLOPs; prefix_model_tflop)
    double efficiency;               // speedup_pad_prefix / ideal_speedup_pad_prefix
    double speedup_pad_tree, speedup_prefix_tree;             // ratios of medians
    double ideal_speedup_pad_tree, ideal_speedup_prefix_tree; // ratios of model FLOPs
    double efficiency_tree;                                   // speedup_pad_tree / ideal_speedup_pad_tree
    char *forest;                    // a forest cell's segments (sweep.h cell_forest_text); malloc'd (NULL: a group cell)
    char loss_check[16];             // ok | mismatch | nonfinite | n/a (fewer than two strategies ran)
    double loss_max_rel_diff;
    char gemm_select[16];            // GPU: how cuBLASLt algorithms were chosen (heuristic | timed); "" on the CPU
    char attention[16], device[8], gpu[128], versions[256], git_commit[64];
    char prefix_attention[64];       // how the prefix layout's attention ran, e.g. "auto: gather forward, 2 depth calls"
    double noise_target;             // the stopping rule's IQR / median target (measure.h)
    char measure_rule[128];          // the whole rule, measure_rule_text
    char prefix_share[8];            // --prefix-share the prefix layout was built with: auto | always
    char prefix_shared_groups[24];   // "n/m": n of its m groups shared their prompt; the rest ran the padded way
    char *command;                   // malloc'd, any length (NULL = empty); control bytes escaped
    int64_t seed;
    char sweep[64];
    int cell;                        // index in the sweep
    char *prompt_lens;               // exact lengths, space separated; malloc'd, any length (NULL = empty)
    char *completion_lens;
    char time[32];                   // UTC, ISO 8601, when the row was written
    char recompute[16];              // the policy asked for (--recompute): full | selective | none | auto
    double memory_budget_gb;         // auto's budget (--memory-budget; the device's default where not given)
    char warmup_first[16];           // the strategy that ran the bench process's first step, on that cell's row
                                     // (its warm-up also paid for the process's first launches); "" elsewhere
    int line;                        // results_read: the row's line in its file (not a column)
} ResultRow;

// Every number missing, every string empty (the malloc'd ones NULL).
void results_row_init(ResultRow *r);
// Frees the malloc'd strings (and sets them NULL); the rest stays.
void results_row_free(ResultRow *r);
// Frees n rows read by results_read and the array.
void results_rows_free(ResultRow *rows, size_t n);
// Fills the speedups, ideal speedups and efficiency from the per-strategy fields: model_flop[s] is
// strategy s's model FLOPs, prefix's with every group shared; prefix_run_flop those of the prefix
// layout run (NaN: not run).
void results_row_derive(ResultRow *r, const double model_flop[STRATEGY_COUNT], double prefix_run_flop);

int results_write_header(FILE *fp);
int results_write_row(FILE *fp, const ResultRow *r); // one whole line, then fflush. 0 or -1
// The header line the writer emits (without newline), for --resume checks. 4096 bytes suffice.
void results_header(char *buf, size_t len);
// The row as one CSV line with its newline, malloc'd (*line, *len). No raw newline inside: a
// row is always one physical line. 0, or -1 out of memory.
int results_format_row(const ResultRow *r, char **line, size_t *len);

/*
 * Reads a results CSV (ours, or the reference one: unknown columns are ignored, missing ones
 * stay missing). The key columns model, prompt_len, completion_len, num_completions and
 * batch_size are required. 0, or -1 with "FILE:LINE: ..." in err. *rows: free() it.
 */
int results_read(const char *path, ResultRow **rows, size_t *n, char *err, size_t errlen);
// The same from a stream; shown names it in messages. *bad_line (may be NULL): the line of the
// record that failed (0 when the failure is not a record's). *rows: results_rows_free().
int results_read_stream(FILE *fp, const char *shown, ResultRow **rows, size_t *n, int *bad_line, char *err,
                        size_t errlen);

// Every time, spread, memory and ratio figure present in the rows is finite and >= 0 (what
// compare computes with). 0, or -1 with "FILE:LINE: column 'C': ..." in err.
int results_check_figures(const char *shown, const ResultRow *rows, size_t n, char *err, size_t errlen);

// Whether two rows are the same cell (model ignoring an "-instruct" suffix, lengths, counts,
// and the exact lengths where both rows have them).
int results_same_cell(const ResultRow *a, const ResultRow *b);

// Whether strategy s's warm-up in row r opened its bench process (the row's warmup_first): its
// excess over the fastest step is then the process's start, not the cell's one-time work.
int results_warmup_opened(const ResultRow *r, Strategy s);

#endif
