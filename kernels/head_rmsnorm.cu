/*
 * head_rmsnorm.cu: Qwen3's q/k norm: RMSNorm over each head's D values of (T, H, D), one weight
 * vector (D) shared by all heads, between the q/k projections and RoPE.
 * Every operand may have its own row stride (the _ld forms: q and k inside the step's fused q/k/v
 * buffers). One warp per (token, head) row: D <= 256, so a lane holds at most 8 of the row's values in
 * registers; rows are walked grid-stride. Backward reads the whole row into registers before it
 * writes, so dinp may alias dout (the step does it in place). dw: per block in shared memory
 * (shared atomics, the block's warps hit the same D columns), then one fp32 atomicAdd per
 * column per block into dw_acc.
 */
#include "common.cuh"

#define HN_MAX_PER_LANE 8 // D <= 256
#define HN_WARPS 8

// Row r = t * H + h of (T, H, D) starts at t * ld + h * D of an operand with row stride ld.
__device__ __forceinline__ size_t hn_base(size_t r, int H, int D, size_t ld) {
    return (r / (size_t)H) * ld + (r % (size_t)H) * (size_t)D;
}

__global__ void head_rmsnorm_forward_kernel(bf16_t *out, size_t ld_out, float *rstd, const bf16_t *inp,
                                            size_t ld_inp, const bf16_t *w, size_t rows, int H, int D, float eps) {
    const __nv_bfloat16 *x = reinterpret_cast<const __nv_bfloat16 *>(inp);
    const __nv_bfloat16 *wv = reinterpret_cast<const __nv_bfloat16 *>(w);
    __nv_bfloat16 *y = reinterpret_cast<__nv_bfloat16 *>(out);
    const int lane = threadIdx.x % PB_WARP;
    const size_t warp0 = (size_t)blockIdx.x * HN_WARPS + threadIdx.x / PB_WARP;
    for (size_t r = warp0; r < rows; r += (size_t)gridDim.x * HN_WARPS) {
        const size_t base = hn_base(r, H, D, ld_inp), obase = hn_base(r, H, D, ld_out);
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
            if (c < D) y[obase + c] = __float2bfloat16_rn(v[j] * rs * __bfloat162float(wv[c]));
        }
    }
}

// dynamic shared memory: D floats
__global__ void head_rmsnorm_backward_kernel(bf16_t *dinp, size_t ld_dinp, float *dw_acc, const bf16_t *dout,
                                             size_t ld_dout, const bf16_t *inp, size_t ld_inp, const bf16_t *w,
                                             const float *rstd, size_t rows, int H, int D) {
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
        const size_t gbase = hn_base(r, H, D, ld_dout), xbase = hn_base(r, H, D, ld_inp);
        const size_t dbase = hn_base(r, H, D, ld_dinp);
        const float rs = rstd[r];
        float gw[HN_MAX_PER_LANE], xh[HN_MAX_PER_LANE], dot = 0.0f;
#pragma unroll
        for (int j = 0; j < HN_MAX_PER_LANE; j++) {
            int c = lane + j * PB_WARP;
            float gj = c < D ? __bfloat162float(g[gbase + c]) : 0.0f;
            xh[j] = c < D ? __bfloat162float(x[xbase + c]) * rs : 0.0f;
            gw[j] = c < D ? gj * __bfloat162float(wv[c]) : 0.0f;
            if (c < D) atomicAdd(&dw_part[c], gj * xh[j]);
            dot += gw[j] * xh[j];
        }
        dot = warp_sum(dot) / (float)D; // every lane has read its row: dinp may now overwrite dout
#pragma unroll
        for (int j = 0; j < HN_MAX_PER_LANE; j++) {
            int c = lane + j * PB_WARP;
            if (c < D) dx[dbase + c] = __float2bfloat16_rn(rs * (gw[j] - xh[j] * dot));
        }
    }
    __syncthreads();
    for (int c = threadIdx.x; c < D; c += blockDim.x) atomicAdd(dw_acc + c, dw_part[c]);
}

static void head_rmsnorm_check(int H, int D, size_t ld_a, size_t ld_b, size_t ld_c) {
    if (D <= 0 || D > HN_MAX_PER_LANE * PB_WARP)
        checkFail("head_rmsnorm: head dim %d outside 1..%d", D, HN_MAX_PER_LANE * PB_WARP);
    const size_t row = (size_t)H * D;
    if (ld_a < row || ld_b < row || ld_c < row)
        checkFail("head_rmsnorm: row strides %zu / %zu / %zu below H * D = %zu", ld_a, ld_b, ld_c, row);
}

static unsigned head_rmsnorm_blocks(size_t rows, unsigned cap) {
    size_t b = (rows + HN_WARPS - 1) / HN_WARPS;
    return (unsigned)(b < 1 ? 1 : (b < cap ? b : cap));
}

extern "C" void head_rmsnorm_forward_ld(bf16_t *out, size_t ld_out, float *rstd, const bf16_t *inp, size_t ld_inp,
                                        const bf16_t *w, size_t T, int H, int D, float eps, cudaStream_t s) {
    const size_t rows = T * (size_t)H;
    if (rows == 0) return;
    head_rmsnorm_check(H, D, ld_out, ld_inp, ld_inp);
    head_rmsnorm_forward_kernel<<<head_rmsnorm_blocks(rows, 132u * 64u), HN_WARPS * PB_WARP, 0, s>>>(
        out, ld_out, rstd, inp, ld_inp, w, rows, H, D, eps);
    cudaCheckLaunch();
}

extern "C" void head_rmsnorm_backward_ld(bf16_t *dinp, size_t ld_dinp, float *dw_acc, const bf16_t *dout,
                                         size_t ld_dout, const bf16_t *inp, size_t ld_inp, const bf16_t *w,
                                         const float *rstd, size_t T, int H, int D, cudaStream_t s) {
    const size_t rows = T * (size_t)H;
    if (rows == 0) return;
    head_rmsnorm_check(H, D, ld_dinp, ld_dout, ld_inp);
    // few blocks: each ends with D global atomics
    head_rmsnorm_backward_kernel<<<head_rmsnorm_blocks(rows, 132u * 4u), HN_WARPS * PB_WARP, (size_t)D * sizeof(float),
                                   s>>>(dinp, ld_dinp, dw_acc, dout, ld_dout, inp, ld_inp, w, rstd, rows, H, D);
    cudaCheckLaunch();
}

extern "C" void head_rmsnorm_forward(bf16_t *out, float *rstd, const bf16_t *inp, const bf16_t *w, size_t T, int H,
                                     int D, float eps, cudaStream_t s) {
    const size_t ld = (size_t)H * D;
    head_rmsnorm_forward_ld(out, ld, rstd, inp, ld, w, T, H, D, eps, s);
}

extern "C" void head_rmsnorm_backward(bf16_t *dinp, float *dw_acc, const bf16_t *dout, const bf16_t *inp,
                                      const bf16_t *w, const float *rstd, size_t T, int H, int D, cudaStream_t s) {
    const size_t ld = (size_t)H * D;
    head_rmsnorm_backward_ld(dinp, ld, dw_acc, dout, ld, inp, ld, w, rstd, T, H, D, s);
}
