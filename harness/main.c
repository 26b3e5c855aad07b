// main.c: packbench's entry point; everything else is bench_main (harness/bench.c).
#include "bench.h"
#include "pb_config.h"

int main(int argc, char **argv) {
#if PB_HAVE_CUDA
    return bench_main(argc, argv, &gpu_step_backend);
#else
    return bench_main(argc, argv, NULL);
#endif
}
