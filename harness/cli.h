/*
 * cli.h: the command line of `bench` (see cli_usage). Parsing is pure: no file is opened and
 * nothing is run, so every error path is testable. Unset numbers are -1, unset strings NULL.
 */
#ifndef PB_CLI_H
#define PB_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum CliAction { CLI_RUN, CLI_HELP, CLI_LIST, CLI_COMPARE, CLI_PLAN, CLI_ESTIMATE, CLI_CAPACITY } CliAction;

typedef struct CliOptions {
    CliAction action;
    unsigned strategies;    // bit (1 << Strategy); default all four
    const char *model;      // NAME or FILE
    const char *sweep;
    const char *cells;      // "512x512,2048x128"
    const char *lengths;    // FILE.csv: the user's own batches (harness/lengths.h)
    int completions, prompts;
    int64_t seed;           // -1: the default (1)
    const char *out;        // CSV path
    const char *device;     // "cpu" | "gpu" | NULL (gpu where usable)
    const char *attention;  // "cudnn" | "simple" | NULL
    const char *prefix_attention; // "auto" | "gather" | "merge" | NULL (auto)
    const char *prefix_share; // "auto" | "always" | NULL (auto): prefix shares a group's prompt by the FLOP rule, or always
    int attention_phases;   // --attention-phases given
    int resume;
    int matmul_verbose;     // --matmul-verbose
    int mlp_chunk;          // --mlp-chunk N: MLP chunk cap in tokens; 0: the memory plan's choice
    const char *recompute;  // --recompute full|selective|none|auto; NULL: full
    double memory_budget_gb;// --memory-budget GB (auto's budget); -1: the device's free memory less a margin
    int force;              // --force: run cells over the cpu budget
    int profile;            // --profile
    const char *gemm_select;// "heuristic" | "timed" | NULL (the default, STEP_GEMM_SELECT_DEFAULT)
    int shard_i, shard_n;   // 0/1 = everything
    int min_reps, max_reps; // -1: unset
    int warmup;             // --warmup N: untimed steps first; 0: auto (measure.h WarmupAuto); -1: unset (1)
    double noise;           // --noise: IQR / median target of the stopping rule; -1: unset
    double min_time, max_time; // -1: unset
    double time_limit;      // --time-limit S: start no cell predicted to end after S s (run_sweep); -1: none
    const char *rates;      // bench estimate --rates FILE.csv: measured TFLOP/s per cell and strategy
    double overhead;        // bench estimate --overhead S: seconds per strategy and cell besides its steps; -1: unset
    int compare_argc;       // CLI_COMPARE: the arguments after "compare"
    char **compare_argv;
} CliOptions;

// 0 ok; 2 usage error (one line in err). argv[0] is the program.
int cli_parse(int argc, char **argv, CliOptions *o, char *err, size_t errlen);
void cli_usage(FILE *fp);
// The command line as one string (arguments joined by spaces, control bytes and backslashes
// escaped), for the CSV; malloc'd, any length (NULL: out of memory).
char *cli_command_line(int argc, char **argv);

#endif
