// bench_cpu.c: the bench command without a GPU backend, for the harness tests (same bench_main).
#include "../../harness/bench.h"

int main(int argc, char **argv) { return bench_main(argc, argv, NULL); }
