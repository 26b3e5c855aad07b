/*
 * common.cuh: device helpers shared by the kernels of this folder (not a public header).
 * bf16 storage, fp32 math: tensors move as 16-byte packs of 8 bf16 where the pointers and the
 * row length allow it, else one element at a time (VEC = 8 or 1, chosen by the launcher).
 * Block reductions are warp shuffles then one shared slot per warp.
 */
#ifndef PB_KERNELS_COMMON_CUH
#define PB_KERNELS_COMMON_CUH

#include <stddef.h>
#include <stdint.h>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "check.h"
#include "kernels.h"

#define PB_WARP 32

// Loads VEC consecutive bf16 as fp32 (VEC 8: one 16-byte load; p must be 16-byte aligned).
template <int VEC>
__device__ __forceinline__ void load_bf16(float *dst, const bf16_t *p) {
    if constexpr (VEC == 8) {
        int4 raw = *reinterpret_cast<const int4 *>(p);
        const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&raw);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float2 f = __bfloat1622float2(h[i]);
            dst[2 * i] = f.x;
            dst[2 * i + 1] = f.y;
        }
    } else {
#pragma unroll
        for (int i = 0; i < VEC; i++) dst[i] = __bfloat162float(reinterpret_cast<const __nv_bfloat16 *>(p)[i]);
    }
}

// Stores VEC fp32 as bf16 (round to nearest even).
template <int VEC>
__device__ __forceinline__ void store_bf16(bf16_t *p, const float *src) {
    if constexpr (VEC == 8) {
        int4 raw;
        __nv_bfloat162 *h = reinterpret_cast<__nv_bfloat162 *>(&raw);
#pragma unroll
        for (int i = 0; i < 4; i++) h[i] = __floats2bfloat162_rn(src[2 * i], src[2 * i + 1]);
        *reinterpret_cast<int4 *>(p) = raw;
    } else {
#pragma unroll
        for (int i = 0; i < VEC; i++) reinterpret_cast<__nv_bfloat16 *>(p)[i] = __float2bfloat16_rn(src[i]);
    }
}

// VEC bf16 held packed in registers (a row prefetched while the previous one is reduced): half
// the registers of the fp32 values. load_pack: one 16-byte load for VEC 8 (p 16-byte aligned).
template <int VEC>
struct alignas(VEC == 8 ? 16 : 2) Bf16Pack {
    bf16_t h[VEC];
};

template <int VEC>
__device__ __forceinline__ Bf16Pack<VEC> load_pack(const bf16_t *p) {
    Bf16Pack<VEC> r;
    if constexpr (VEC == 8) {
        *reinterpret_cast<int4 *>(&r) = *reinterpret_cast<const int4 *>(p);
    } else {
#pragma unroll
        for (int i = 0; i < VEC; i++) r.h[i] = p[i];
    }
    return r;
}

template <int VEC>
__device__ __forceinline__ void unpack_bf16(float *dst, const Bf16Pack<VEC> &r) {
    load_bf16<VEC>(dst, r.h);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = PB_WARP / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = PB_WARP / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the block, returned to every thread. shared: PB_WARP floats. blockDim.x % 32 == 0.
__device__ __forceinline__ float block_sum(float v, float *shared) {
    int lane = threadIdx.x % PB_WARP, warp = threadIdx.x / PB_WARP, n_warps = blockDim.x / PB_WARP;
    v = warp_sum(v);
    __syncthreads(); // shared may still be read by a previous reduction
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = lane < n_warps ? shared[lane] : 0.0f;
    return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float *shared) {
    int lane = threadIdx.x % PB_WARP, warp = threadIdx.x / PB_WARP, n_warps = blockDim.x / PB_WARP;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = lane < n_warps ? shared[lane] : -INFINITY;
    return warp_max(v);
}

static inline int is_aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

// Blocks for a grid-stride loop over n work items: enough to fill the GPU, capped.
static inline unsigned grid_for(size_t n, int block) {
    size_t want = (n + (size_t)block - 1) / (size_t)block;
    size_t cap = (size_t)132 * 32; // 32 blocks per SM on an H100/H200 is plenty for a stride loop
    if (want < 1) want = 1;
    return (unsigned)(want < cap ? want : cap);
}

static inline int ceil_div_int(int a, int b) { return (a + b - 1) / b; }

#endif
