/*
 * bias_backward.cu: dbias (N) (+)= sum over T rows of dout (T, N), for the GEMMs whose bias
 * gradient cuBLASLt's BGRADB epilogue cannot give (accumulate, or no algorithm for it).
 * Deterministic two passes: blocks of column packs x row ranges write fp32 partial sums
 * (splits x N) to a caller's scratch, then one thread per column adds its splits in order.
 */
#include "common.cuh"

template <int VEC>
__global__ void bias_partial_kernel(float *partial, const bf16_t *dout, size_t T, int N, size_t rows_per_split) {
    int c = (blockIdx.x * blockDim.x + threadIdx.x) * VEC;
    if (c >= N) return;
    size_t lo = (size_t)blockIdx.y * rows_per_split, hi = lo + rows_per_split;
    if (hi > T) hi = T;
    float acc[VEC] = {0}, x[VEC];
    for (size_t t = lo; t < hi; t++) {
        load_bf16<VEC>(x, dout + t * (size_t)N + c);
#pragma unroll
        for (int j = 0; j < VEC; j++) acc[j] += x[j];
    }
    float *dst = partial + (size_t)blockIdx.y * (size_t)N + c;
#pragma unroll
    for (int j = 0; j < VEC; j++) dst[j] = acc[j];
}

__global__ void bias_finish_kernel(bf16_t *dbias, const float *partial, int N, int splits, int accumulate) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= N) return;
    float acc = accumulate ? __bfloat162float(reinterpret_cast<const __nv_bfloat16 *>(dbias)[c]) : 0.0f;
    for (int i = 0; i < splits; i++) acc += partial[(size_t)i * (size_t)N + c];
    reinterpret_cast<__nv_bfloat16 *>(dbias)[c] = __float2bfloat16_rn(acc);
}

extern "C" void bias_backward(bf16_t *dbias, const bf16_t *dout, size_t T, int N, int accumulate, float *scratch,
                              size_t scratch_bytes, cudaStream_t s) {
    if (N <= 0) return;
    int vec = (N % 8 == 0 && is_aligned16(dout)) ? 8 : 1;
    const int block = 128;
    int col_blocks = ceil_div_int(ceil_div_int(N, vec), block);
    size_t splits = (size_t)(528 / col_blocks) + 1;
    size_t max_splits = scratch_bytes / ((size_t)N * sizeof(float));
    if (splits > max_splits) splits = max_splits;
    if (splits > T) splits = T;
    if (splits > 65535) splits = 65535;
    if (splits < 1) {
        if (T > 0) {
            checkFail("bias_backward: scratch of %zu bytes is too small for N = %d", scratch_bytes, N);
        }
        splits = 0; // T == 0: the bias gradient is zero
    }
    size_t rows_per_split = splits ? (T + splits - 1) / splits : 0;
    if (splits) {
        splits = (T + rows_per_split - 1) / rows_per_split;
        dim3 grid((unsigned)col_blocks, (unsigned)splits);
        if (vec == 8) bias_partial_kernel<8><<<grid, block, 0, s>>>(scratch, dout, T, N, rows_per_split);
        else bias_partial_kernel<1><<<grid, block, 0, s>>>(scratch, dout, T, N, rows_per_split);
        cudaCheckLaunch();
    }
    bias_finish_kernel<<<ceil_div_int(N, 256), 256, 0, s>>>(dbias, scratch, N, (int)splits, accumulate);
    cudaCheckLaunch();
}
