/*
 * rmsnorm.cu: RMSNorm forward and backward over rows of C (Qwen2: no mean, no bias).
 * Forward: one block per row; sum of squares reduced over the block in fp32, rstd kept for
 * backward; the second pass re-reads the row (L1-resident: 7 KB at C = 3584).
 * Backward: a block walks rows blockIdx.x, +gridDim.x, ...; per row one block reduction for
 * mean(dnorm * xhat); dinp is read-modify-written (it is the residual stream's gradient).
 * dw is accumulated per block in shared memory (each column owned by one thread, so no
 * conflicts), then added to dw_acc with one fp32 atomicAdd per column per block.
 */
#include "common.cuh"

template <int VEC>
__global__ void rmsnorm_forward_kernel(bf16_t *out, float *rstd, const bf16_t *inp, const bf16_t *w, int C,
                                       float eps) {
    __shared__ float red[PB_WARP];
    size_t row = (size_t)blockIdx.x * (size_t)C;
    float ss = 0.0f, x[VEC], wv[VEC], y[VEC];
    for (int c = threadIdx.x * VEC; c < C; c += blockDim.x * VEC) {
        load_bf16<VEC>(x, inp + row + c);
#pragma unroll
        for (int j = 0; j < VEC; j++) ss += x[j] * x[j];
    }
    ss = block_sum(ss, red);
    float r = rsqrtf(ss / (float)C + eps);
    if (threadIdx.x == 0) rstd[blockIdx.x] = r;
    for (int c = threadIdx.x * VEC; c < C; c += blockDim.x * VEC) {
        load_bf16<VEC>(x, inp + row + c);
        load_bf16<VEC>(wv, w + c);
#pragma unroll
        for (int j = 0; j < VEC; j++) y[j] = x[j] * r * wv[j];
        store_bf16<VEC>(out + row + c, y);
    }
}

// dynamic shared memory: C floats (this block's dw partial sums)
template <int VEC>
__global__ void rmsnorm_backward_kernel(bf16_t *dinp, float *dw_acc, const bf16_t *dout, const bf16_t *inp,
                                        const bf16_t *w, const float *rstd, size_t T, int C) {
    extern __shared__ float dw_part[];
    __shared__ float red[PB_WARP];
    float g[VEC], x[VEC], wv[VEC], d[VEC];
    for (int c = threadIdx.x * VEC; c < C; c += blockDim.x * VEC)
#pragma unroll
        for (int j = 0; j < VEC; j++) dw_part[c + j] = 0.0f;
    for (size_t t = blockIdx.x; t < T; t += gridDim.x) {
        size_t row = t * (size_t)C;
        float r = rstd[t], dot = 0.0f;
        for (int c = threadIdx.x * VEC; c < C; c += blockDim.x * VEC) {
            load_bf16<VEC>(g, dout + row + c);
            load_bf16<VEC>(x, inp + row + c);
            load_bf16<VEC>(wv, w + c);
#pragma unroll
            for (int j = 0; j < VEC; j++) dot += g[j] * wv[j] * x[j] * r;
        }
        dot = block_sum(dot, red) / (float)C;
        for (int c = threadIdx.x * VEC; c < C; c += blockDim.x * VEC) {
            load_bf16<VEC>(g, dout + row + c);
            load_bf16<VEC>(x, inp + row + c);
            load_bf16<VEC>(wv, w + c);
            load_bf16<VEC>(d, dinp + row + c);
#pragma unroll
            for (int j = 0; j < VEC; j++) {
                float xh = x[j] * r;
                d[j] += r * (g[j] * wv[j] - xh * dot);
                dw_part[c + j] += g[j] * xh;
            }
            store_bf16<VEC>(dinp + row + c, d);
        }
    }
    for (int c = threadIdx.x * VEC; c < C; c += blockDim.x * VEC)
#pragma unroll
        for (int j = 0; j < VEC; j++) atomicAdd(dw_acc + c + j, dw_part[c + j]);
}

static int rmsnorm_block(int C, int vec) {
    int b = ceil_div_int(C / vec, PB_WARP) * PB_WARP;
    return b < 64 ? 64 : (b > 512 ? 512 : b);
}

extern "C" void rmsnorm_forward(bf16_t *out, float *rstd, const bf16_t *inp, const bf16_t *w, size_t T, int C,
                                float eps, cudaStream_t s) {
    if (T == 0) return;
    if (C % 8 == 0 && is_aligned16(out) && is_aligned16(inp) && is_aligned16(w)) {
        rmsnorm_forward_kernel<8><<<(unsigned)T, rmsnorm_block(C, 8), 0, s>>>(out, rstd, inp, w, C, eps);
    } else {
        rmsnorm_forward_kernel<1><<<(unsigned)T, rmsnorm_block(C, 1), 0, s>>>(out, rstd, inp, w, C, eps);
    }
    cudaCheckLaunch();
}

extern "C" void rmsnorm_backward(bf16_t *dinp, float *dw_acc, const bf16_t *dout, const bf16_t *inp, const bf16_t *w,
                                 const float *rstd, size_t T, int C, cudaStream_t s) {
    if (T == 0) return;
    int dev = 0, n_sm = 0;
    cudaCheck(cudaGetDevice(&dev));
    cudaCheck(cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, dev));
    size_t blocks = (size_t)n_sm * 4;
    if (blocks > T) blocks = T;
    size_t shmem = (size_t)C * sizeof(float);
    if (shmem > 48 * 1024) {
        checkFail("rmsnorm_backward: C = %d exceeds the 12288 columns this kernel supports", C);
    }
    if (C % 8 == 0 && is_aligned16(dinp) && is_aligned16(dout) && is_aligned16(inp) && is_aligned16(w)) {
        rmsnorm_backward_kernel<8><<<(unsigned)blocks, rmsnorm_block(C, 8), shmem, s>>>(dinp, dw_acc, dout, inp, w,
                                                                                       rstd, T, C);
    } else {
        rmsnorm_backward_kernel<1><<<(unsigned)blocks, rmsnorm_block(C, 1), shmem, s>>>(dinp, dw_acc, dout, inp, w,
                                                                                       rstd, T, C);
    }
    cudaCheckLaunch();
}
