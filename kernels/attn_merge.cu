/*
 * attn_merge.cu: merges two attentions of the same queries over disjoint key sets through their
 * softmax statistics (DESIGN.md section 7): with lse = logsumexp(lse_a, lse_b),
 *   o = exp(lse_a - lse) o_a + exp(lse_b - lse) o_b,
 * in fp32, o rounded once to bf16. One warp per (row, head); (rows, H, D) token-major.
 * The cuDNN tree forward (attention/cudnn_tree.c) merges each depth's call into the running
 * output this way; its oracles are the CPU attention (tests/attention/test_attn_cudnn.c) and the
 * formula in fp64 (tests/kernels/test_attn_merge.c).
 */
#include <math.h>

#include "common.cuh"

template <int VEC>
__global__ void attn_merge_kernel(bf16_t *o, float *lse, const bf16_t *o_b, const float *lse_b, size_t pairs, int D) {
    const size_t warp = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / PB_WARP;
    const int lane = threadIdx.x % PB_WARP;
    if (warp >= pairs) return;
    const float la = lse[warp], lb = lse_b[warp], m = fmaxf(la, lb);
    // a side without keys has lse -inf and weight 0; both without: o = 0, lse stays -inf
    const float wa = m == -INFINITY ? 0.0f : __expf(la - m), wb = m == -INFINITY ? 0.0f : __expf(lb - m);
    const float sum = wa + wb, inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    bf16_t *y = o + warp * (size_t)D;
    const bf16_t *x = o_b + warp * (size_t)D;
    for (int j = lane * VEC; j < D; j += PB_WARP * VEC) {
        float a[VEC], b[VEC];
        load_bf16<VEC>(a, y + j);
        load_bf16<VEC>(b, x + j);
#pragma unroll
        for (int t = 0; t < VEC; t++) a[t] = (wa * a[t] + wb * b[t]) * inv;
        store_bf16<VEC>(y + j, a);
    }
    __syncwarp();
    if (lane == 0) lse[warp] = sum > 0.0f ? m + logf(sum) : m;
}

extern "C" void attn_merge(bf16_t *o, float *lse, const bf16_t *o_b, const float *lse_b, size_t rows, int H, int D,
                           cudaStream_t s) {
    const size_t pairs = rows * (size_t)H;
    if (pairs == 0) return;
    const int block = 256, per_block = block / PB_WARP;
    const size_t blocks = (pairs + per_block - 1) / per_block;
    if (D % 8 == 0 && is_aligned16(o) && is_aligned16(o_b))
        attn_merge_kernel<8><<<(unsigned)blocks, block, 0, s>>>(o, lse, o_b, lse_b, pairs, D);
    else
        attn_merge_kernel<1><<<(unsigned)blocks, block, 0, s>>>(o, lse, o_b, lse_b, pairs, D);
    cudaCheckLaunch();
}
