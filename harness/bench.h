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
#include "sweep.h"

// argv as given to main. gpu: the GPU backend, or NULL when the build has none.
// Returns the exit status (PB_EXIT_* of core/status.h).
int bench_main(int argc, char **argv, const StepBackend *gpu);

// Loads the sweep (--sweep, else default_sweep) and the model (--model, else the sweep's), with
// --prompts / --completions applied. 0, or 2 with a line on stderr.
int bench_load_configs(const CliOptions *o, const char *default_sweep, SweepConfig *sw, ModelConfig *m);

// The stopping rule of a run (measure.h): defaults, the sweep file's keys, then the flags; on
// the cpu no noise target unless --noise.
void bench_measure_settings(const CliOptions *o, const SweepConfig *sw, int on_gpu, MeasureConfig *mc);
// The cells of a run (--lengths, --cells or the sweep's, with the overrides), size-checked. 0,
// or 2 with a line on stderr.
int bench_make_cells(const CliOptions *o, const SweepConfig *sw, CellSource *cells);
// The step's options from the command line: the one place every command makes them.
void bench_step_options(const CliOptions *o, StepOptions *so);

#endif
