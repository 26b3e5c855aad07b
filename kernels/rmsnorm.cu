/*
 * rmsnorm.cu: RMSNorm forward and backward over rows of C (Qwen2: no mean, no bias).
 * One block per row, the row held in registers: a thread owns the same NV packs of VEC columns
 * in every row (column (k * blockDim + thread) * VEC), so the weight is loaded once per block
 * and each input is read from memory once. Blocks stay resident (as many as fit on the GPU)
 * and walk rows blockIdx.x, +gridDim.x, ...; the next rows' loads are issued before the block
 * reduction of the current one (forward: two rows ahead, backward: one), so memory stays busy
 * while the block synchronises.
 * Forward: sum of squares in fp32 over the block, rstd kept for backward.
 * Backward: one block reduction per row for mean(dnorm * xhat); dinp is read-modify-written
 * (it is the residual stream's gradient). dw: each thread accumulates its own columns over its
 * block's rows in fp32 registers, then one atomicAdd per column per block (float4 where dw_acc
 * is 16-byte aligned) into dw_acc.
 * Shapes: C <= 512 * VEC * 2 with at most 512 threads, else up to 1024 threads x 4 packs
 * (VEC 8: C <= 32768; the scalar path, C % 8 != 0 or misaligned pointers: C <= 4096).
 */
#include "common.cuh"

// This thread's columns of a row: col[k] = (k * blockDim.x + threadIdx.x) * VEC, live when < C
// (C % VEC == 0, so a pack is wholly inside the row or wholly outside).
template <int VEC, int NV>
__device__ __forceinline__ void row_columns(int *col, bool *on, int C) {
#pragma unroll
    for (int k = 0; k < NV; k++) {
        col[k] = (k * (int)blockDim.x + (int)threadIdx.x) * VEC;
        on[k] = col[k] < C;
    }
}

template <int VEC, int NV>
__device__ __forceinline__ void load_row(Bf16Pack<VEC> *dst, const bf16_t *row, const int *col, const bool *on) {
#pragma unroll
    for (int k = 0; k < NV; k++)
        if (on[k]) dst[k] = load_pack<VEC>(row + col[k]);
}

template <int VEC, int NV>
__global__ void __launch_bounds__(NV == 4 ? 1024 : 512)
    rmsnorm_forward_kernel(bf16_t *out, float *rstd, const bf16_t *inp, const bf16_t *w, size_t T, int C, float eps) {
    __shared__ float red[PB_WARP];
    int col[NV];
    bool on[NV];
    row_columns<VEC, NV>(col, on, C);
    // xp: row t, xq: row t + gridDim.x (two rows in flight: one row of loads per block is too
    // little to cover the memory latency with the few blocks that fit)
    Bf16Pack<VEC> wp[NV], xp[NV], xq[NV];
    load_row<VEC, NV>(wp, w, col, on);
    size_t t = blockIdx.x; // < T: the grid has at most T blocks
    load_row<VEC, NV>(xp, inp + t * (size_t)C, col, on);
    if (t + gridDim.x < T) load_row<VEC, NV>(xq, inp + (t + gridDim.x) * (size_t)C, col, on);
    for (; t < T; t += gridDim.x) {
        float x[NV][VEC], ss = 0.0f;
#pragma unroll
        for (int k = 0; k < NV; k++) {
            if (!on[k]) continue;
            unpack_bf16<VEC>(x[k], xp[k]);
#pragma unroll
            for (int j = 0; j < VEC; j++) ss += x[k][j] * x[k][j];
            xp[k] = xq[k];
        }
        const size_t tn = t + 2 * (size_t)gridDim.x;
        if (tn < T) load_row<VEC, NV>(xq, inp + tn * (size_t)C, col, on);
        ss = block_sum(ss, red);
        const float r = rsqrtf(ss / (float)C + eps);
        if (threadIdx.x == 0) rstd[t] = r;
#pragma unroll
        for (int k = 0; k < NV; k++) {
            if (!on[k]) continue;
            float y[VEC], wv[VEC];
            unpack_bf16<VEC>(wv, wp[k]);
#pragma unroll
            for (int j = 0; j < VEC; j++) y[j] = x[k][j] * r * wv[j];
            store_bf16<VEC>(out + t * (size_t)C + col[k], y);
        }
    }
}

// dw_vec: dw_acc is 16-byte aligned (VEC 8: the float4 atomics). Registers: the current row's
// packs, the next row's and the weight stay packed bf16; dw is fp32.
template <int VEC, int NV>
__global__ void __launch_bounds__(NV == 4 ? 1024 : 512)
    rmsnorm_backward_kernel(bf16_t *dinp, float *dw_acc, const bf16_t *dout, const bf16_t *inp, const bf16_t *w,
                            const float *rstd, size_t T, int C, int dw_vec) {
    __shared__ float red[PB_WARP];
    int col[NV];
    bool on[NV];
    row_columns<VEC, NV>(col, on, C);
    Bf16Pack<VEC> wp[NV];
    float dw[NV][VEC];
    load_row<VEC, NV>(wp, w, col, on);
#pragma unroll
    for (int k = 0; k < NV; k++)
#pragma unroll
        for (int j = 0; j < VEC; j++) dw[k][j] = 0.0f;
    Bf16Pack<VEC> gp[NV], xp[NV], dp[NV];
    size_t t = blockIdx.x; // < T
    load_row<VEC, NV>(gp, dout + t * (size_t)C, col, on);
    load_row<VEC, NV>(xp, inp + t * (size_t)C, col, on);
    load_row<VEC, NV>(dp, dinp + t * (size_t)C, col, on);
    float r = rstd[t];
    for (; t < T; t += gridDim.x) {
        float dot = 0.0f;
        Bf16Pack<VEC> gc[NV], xc[NV], dc[NV];
#pragma unroll
        for (int k = 0; k < NV; k++) {
            if (!on[k]) continue;
            float g[VEC], x[VEC], wv[VEC];
            unpack_bf16<VEC>(g, gp[k]);
            unpack_bf16<VEC>(x, xp[k]);
            unpack_bf16<VEC>(wv, wp[k]);
#pragma unroll
            for (int j = 0; j < VEC; j++) dot += (g[j] * wv[j]) * (x[j] * r);
            gc[k] = gp[k], xc[k] = xp[k], dc[k] = dp[k];
        }
        // the next row's loads fly during the reduction (rows are disjoint: no hazard with the
        // stores below even if dinp aliased dout)
        const size_t tn = t + gridDim.x;
        float rn = 0.0f;
        if (tn < T) {
            load_row<VEC, NV>(gp, dout + tn * (size_t)C, col, on);
            load_row<VEC, NV>(xp, inp + tn * (size_t)C, col, on);
            load_row<VEC, NV>(dp, dinp + tn * (size_t)C, col, on);
            rn = rstd[tn];
        }
        dot = block_sum(dot, red) / (float)C;
#pragma unroll
        for (int k = 0; k < NV; k++) {
            if (!on[k]) continue;
            float g[VEC], x[VEC], wv[VEC], d[VEC];
            unpack_bf16<VEC>(g, gc[k]);
            unpack_bf16<VEC>(x, xc[k]);
            unpack_bf16<VEC>(wv, wp[k]);
            unpack_bf16<VEC>(d, dc[k]);
#pragma unroll
            for (int j = 0; j < VEC; j++) {
                const float xh = x[j] * r;
                d[j] += r * (g[j] * wv[j] - xh * dot);
                dw[k][j] += g[j] * xh;
            }
            store_bf16<VEC>(dinp + t * (size_t)C + col[k], d);
        }
        r = rn;
    }
#pragma unroll
    for (int k = 0; k < NV; k++) {
        if (!on[k]) continue;
        float *acc = dw_acc + col[k];
        if constexpr (VEC == 8) {
            if (dw_vec) {
                atomicAdd(reinterpret_cast<float4 *>(acc), make_float4(dw[k][0], dw[k][1], dw[k][2], dw[k][3]));
                atomicAdd(reinterpret_cast<float4 *>(acc + 4), make_float4(dw[k][4], dw[k][5], dw[k][6], dw[k][7]));
                continue;
            }
        }
#pragma unroll
        for (int j = 0; j < VEC; j++) atomicAdd(acc + j, dw[k][j]);
    }
}

// Threads per row (a multiple of 32) and packs per thread (*nv): the fewest packs that need at
// most 512 threads, else 4 packs of up to 1024 threads; 0 when C is longer.
static int rmsnorm_block(int C, int vec, int *nv) {
    for (int n = 1; n <= 4; n *= 2) {
        int b = ceil_div_int(ceil_div_int(C, vec * n), PB_WARP) * PB_WARP;
        if (b <= 512 || (n == 4 && b <= 1024)) {
            *nv = n;
            return b;
        }
    }
    return 0;
}

// Blocks that are resident at once (at most T): the kernels walk the rows grid-stride.
template <typename Kernel>
static unsigned resident_grid(Kernel kernel, int block, size_t T) {
    int dev = 0, n_sm = 0, per_sm = 0;
    cudaCheck(cudaGetDevice(&dev));
    cudaCheck(cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, dev));
    cudaCheck(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, block, 0));
    size_t b = (size_t)n_sm * (size_t)(per_sm > 0 ? per_sm : 1);
    return (unsigned)(b < T ? b : T);
}

template <int VEC, int NV>
static void forward_launch(bf16_t *out, float *rstd, const bf16_t *inp, const bf16_t *w, size_t T, int C, float eps,
                           int block, cudaStream_t s) {
    auto kernel = rmsnorm_forward_kernel<VEC, NV>;
    kernel<<<resident_grid(kernel, block, T), block, 0, s>>>(out, rstd, inp, w, T, C, eps);
    cudaCheckLaunch();
}

template <int VEC, int NV>
static void backward_launch(bf16_t *dinp, float *dw_acc, const bf16_t *dout, const bf16_t *inp, const bf16_t *w,
                            const float *rstd, size_t T, int C, int block, cudaStream_t s) {
    auto kernel = rmsnorm_backward_kernel<VEC, NV>;
    kernel<<<resident_grid(kernel, block, T), block, 0, s>>>(dinp, dw_acc, dout, inp, w, rstd, T, C,
                                                             is_aligned16(dw_acc));
    cudaCheckLaunch();
}

static int rmsnorm_shape(int C, int vec8, int *nv, const char *what) {
    int block = rmsnorm_block(C, vec8 ? 8 : 1, nv);
    if (block == 0) {
        checkFail("%s: C = %d exceeds the %d columns this kernel supports%s", what, C, vec8 ? 32768 : 4096,
                  vec8 ? "" : " unvectorised (C % 8 != 0 or misaligned pointers)");
    }
    return block;
}

extern "C" void rmsnorm_forward(bf16_t *out, float *rstd, const bf16_t *inp, const bf16_t *w, size_t T, int C,
                                float eps, cudaStream_t s) {
    if (T == 0) return;
    const int vec8 = C % 8 == 0 && is_aligned16(out) && is_aligned16(inp) && is_aligned16(w);
    int nv = 1;
    const int block = rmsnorm_shape(C, vec8, &nv, "rmsnorm_forward");
    if (vec8) {
        if (nv == 1) forward_launch<8, 1>(out, rstd, inp, w, T, C, eps, block, s);
        else if (nv == 2) forward_launch<8, 2>(out, rstd, inp, w, T, C, eps, block, s);
        else forward_launch<8, 4>(out, rstd, inp, w, T, C, eps, block, s);
    } else {
        if (nv == 1) forward_launch<1, 1>(out, rstd, inp, w, T, C, eps, block, s);
        else if (nv == 2) forward_launch<1, 2>(out, rstd, inp, w, T, C, eps, block, s);
        else forward_launch<1, 4>(out, rstd, inp, w, T, C, eps, block, s);
    }
}

extern "C" void rmsnorm_backward(bf16_t *dinp, float *dw_acc, const bf16_t *dout, const bf16_t *inp, const bf16_t *w,
                                 const float *rstd, size_t T, int C, cudaStream_t s) {
    if (T == 0) return;
    const int vec8 = C % 8 == 0 && is_aligned16(dinp) && is_aligned16(dout) && is_aligned16(inp) && is_aligned16(w);
    int nv = 1;
    const int block = rmsnorm_shape(C, vec8, &nv, "rmsnorm_backward");
    if (vec8) {
        if (nv == 1) backward_launch<8, 1>(dinp, dw_acc, dout, inp, w, rstd, T, C, block, s);
        else if (nv == 2) backward_launch<8, 2>(dinp, dw_acc, dout, inp, w, rstd, T, C, block, s);
        else backward_launch<8, 4>(dinp, dw_acc, dout, inp, w, rstd, T, C, block, s);
    } else {
        if (nv == 1) backward_launch<1, 1>(dinp, dw_acc, dout, inp, w, rstd, T, C, block, s);
        else if (nv == 2) backward_launch<1, 2>(dinp, dw_acc, dout, inp, w, rstd, T, C, block, s);
        else backward_launch<1, 4>(dinp, dw_acc, dout, inp, w, rstd, T, C, block, s);
    }
}
