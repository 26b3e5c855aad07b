/*
 * head_rmsnorm.cu: Qwen3's q/k norm: RMSNorm over each head's D values of (T, H, D), one weight
 * vector (D) shared by all heads, between the q/k projections and RoPE.
 * One warp per (token, head) row: D <= 256, so a lane holds at most 8 of the row's values in
 * registers; rows are walked grid-stride. Backward reads the whole row into registers before it
 * writes, so dinp may alias dout (the step does it in place). dw: per block in shared memory
 * (shared atomics, the block's warps hit the same D columns), then one fp32 atomicAdd per
 * column per block into dw_acc.
 */
#include "common.cuh"

#define HN_MAX_PER_LANE 8 // D <= 256
#define HN_WARPS 8

__global__ void head_rmsnorm_forward_kernel(bf16_t *out, float *rstd, const bf16_t *inp, const bf16_t *w,
                                            size_t rows, int D, float eps) {
    const __nv_bfloat16 *x = reinterpret_cast<const __nv_bfloat16 *>(inp);
    const __nv_bfloat16 *wv = reinterpret_cast<const __nv_bfloat16 *>(w);
    __nv_bfloat16 *y = reinterpret_cast<__nv_bfloat16 *>(out);
    const int lane = threadIdx.x % PB_WARP;
    const size_t warp0 = (size_t)blockIdx.x * HN_WARPS + threadIdx.x / PB_WARP;
    for (size_t r = warp0; r < rows; r += (size_t)gridDim.x * HN_WARPS) {
        const size_t base = r * (size_t)D;
        float v[HN_MAX_PER_LANE], ss = 0.0f;
#pragma unroll
        for (int j = 0; j < HN_MAX_PER_LANE; j++) {
            int c = lane + j * PB_WARP;
            v[j] = c < D ? __bfloat162float(x[base + c]) : 0.0f;
            ss += v[j] * v[j];
        }
        float rs = rsqrtf(warp_sum(ss) / (float)D + eps);
        if (lane == 0) rstd[r] = rs;
#pragma unroll
        for (int j = 0; j < HN_MAX_PER_LANE; j++) {
            int c = lane + j * PB_WARP;
            if (c < D) y[base + c] = __float2bfloat16_rn(v[j] * rs * __bfloat162float(wv[c]));
        }
    }
}

// dynamic shared memory: D floats
__global__ void head_rmsnorm_backward_kernel(bf16_t *dinp, float *dw_acc, const bf16_t *dout, const bf16_t *inp,
                                             const bf16_t *w, const float *rstd, size_t rows, int D) {
    extern __shared__ float dw_part[];
    const __nv_bfloat16 *g = reinterpret_cast<const __nv_bfloat16 *>(dout);
    const __nv_bfloat16 *x = reinterpret_cast<const __nv_bfloat16 *>(inp);
    const __nv_bfloat16 *wv = reinterpret_cast<const __nv_bfloat16 *>(w);
    __nv_bfloat16 *dx = reinterpret_cast<__nv_bfloat16 *>(dinp);
    for (int c = threadIdx.x; c < D; c += blockDim.x) dw_part[c] = 0.0f;
    __syncthreads();
    const int lane = threadIdx.x % PB_WARP;
    const size_t warp0 = (size_t)blockIdx.x * HN_WARPS + threadIdx.x / PB_WARP;
    for (size_t r = warp0; r < rows; r += (size_t)gridDim.x * HN_WARPS) {
        const size_t base = r * (size_t)D;
        const float rs = rstd[r];
        float gw[HN_MAX_PER_LANE], xh[HN_MAX_PER_LANE], dot = 0.0f;
#pragma unroll
        for (int j = 0; j < HN_MAX_PER_LANE; j++) {
            int c = lane + j * PB_WARP;
            float gj = c < D ? __bfloat162float(g[base + c]) : 0.0f;
            xh[j] = c < D ? __bfloat162float(x[base + c]) * rs : 0.0f;
            gw[j] = c < D ? gj * __bfloat162float(wv[c]) : 0.0f;
            if (c < D) atomicAdd(&dw_part[c], gj * xh[j]);
            dot += gw[j] * xh[j];
        }
        dot = warp_sum(dot) / (float)D; // every lane has read its row: dinp may now overwrite dout
#pragma unroll
        for (int j = 0; j < HN_MAX_PER_LANE; j++) {
            int c = lane + j * PB_WARP;
            if (c < D) dx[base + c] = __float2bfloat16_rn(rs * (gw[j] - xh[j] * dot));
        }
    }
    __syncthreads();
    for (int c = threadIdx.x; c < D; c += blockDim.x) atomicAdd(dw_acc + c, dw_part[c]);
}

static void head_rmsnorm_check(int D) {
    if (D <= 0 || D > HN_MAX_PER_LANE * PB_WARP)
        checkFail("head_rmsnorm: head dim %d outside 1..%d", D, HN_MAX_PER_LANE * PB_WARP);
}

static unsigned head_rmsnorm_blocks(size_t rows, unsigned cap) {
    size_t b = (rows + HN_WARPS - 1) / HN_WARPS;
    return (unsigned)(b < 1 ? 1 : (b < cap ? b : cap));
}

extern "C" void head_rmsnorm_forward(bf16_t *out, float *rstd, const bf16_t *inp, const bf16_t *w, size_t T, int H,
                                     int D, float eps, cudaStream_t s) {
    const size_t rows = T * (size_t)H;
    if (rows == 0) return;
    head_rmsnorm_check(D);
    head_rmsnorm_forward_kernel<<<head_rmsnorm_blocks(rows, 132u * 64u), HN_WARPS * PB_WARP, 0, s>>>(out, rstd, inp, w,
                                                                                                   rows, D, eps);
    cudaCheckLaunch();
}

extern "C" void head_rmsnorm_backward(bf16_t *dinp, float *dw_acc, const bf16_t *dout, const bf16_t *inp,
                                      const bf16_t *w, const float *rstd, size_t T, int H, int D, cudaStream_t s) {
    const size_t rows = T * (size_t)H;
    if (rows == 0) return;
    head_rmsnorm_check(D);
    // few blocks: each ends with D global atomics
    head_rmsnorm_backward_kernel<<<head_rmsnorm_blocks(rows, 132u * 4u), HN_WARPS * PB_WARP, (size_t)D * sizeof(float),
                                   s>>>(dinp, dw_acc, dout, inp, w, rstd, rows, D);
    cudaCheckLaunch();
}
