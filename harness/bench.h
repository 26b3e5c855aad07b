/*
 * bench.h: the whole `bench` command as a function, so that main() only names the GPU
 * backend (which exists only in CUDA builds) and the tests can run the command on the CPU.
 */
#ifndef PB_BENCH_H
#define PB_BENCH_H

#include "../step/step.h"

// argv as given to main. gpu: the GPU backend, or NULL when the build has none.
// Returns the exit status (PB_EXIT_* of core/status.h).
int bench_main(int argc, char **argv, const StepBackend *gpu);

#endif
