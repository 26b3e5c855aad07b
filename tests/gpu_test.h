// gpu_test.h: what every test of the 'gpu' suite starts with: exit 77 (skipped) without a usable GPU.
#ifndef PB_GPU_TEST_H
#define PB_GPU_TEST_H

#include <stdio.h>
#include <stdlib.h>

#include <cuda_runtime.h>

static inline void gpu_test_require(const char *test) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        printf("%s: no usable GPU (%s): skipped\n", test, e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        exit(77);
    }
}

#endif
