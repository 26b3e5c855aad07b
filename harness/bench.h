/*
 * bench.h: the whole `bench` command as a function, so that main() only names the GPU
 * backend (which exists only in CUDA builds) and the tests can run the command on the CPU.
 */
#ifndef PB_BENCH_H
#define PB_BENCH_H

#include "../step/step.h"
#include "cli.h"
#include "config.h"
#include "measure.h"

// argv as given to main. gpu: the GPU backend, or NULL when the build has none.
// Returns the exit status (PB_EXIT_* of core/status.h).
int bench_main(int argc, char **argv, const StepBackend *gpu);

// Loads the sweep (--sweep, else default_sweep) and the model (--model, else the sweep's), with
// --prompts / --completions applied. 0, or 2 with a line on stderr.
int bench_load_configs(const CliOptions *o, const char *default_sweep, SweepConfig *sw, ModelConfig *m);

// The step's options from the command line: the one place every command makes them.
void bench_step_options(const CliOptions *o, StepOptions *so);
// The timing settings: the defaults, then the sweep's, then the command line's.
void bench_measure_settings(const CliOptions *o, const SweepConfig *sw, MeasureConfig *mc);

#endif
