/*
 * embedding.cu: token embedding lookup and its gradient.
 * Forward: one block per token row, 16-byte copies. Backward is a gather-sum, not a scatter-add:
 * the caller sorts the token slots by token id (uniq_tok / uniq_off / slots), one block per
 * present token sums its slots' gradient rows in fp32 in slot order: deterministic, no atomics.
 * With accumulate the row's previous value starts the sum (tied LM head).
 */
#include "common.cuh"

template <int VEC>
__global__ void embedding_forward_kernel(bf16_t *out, const int32_t *tokens, const bf16_t *wte, int C) {
    size_t t = blockIdx.x;
    const bf16_t *src = wte + (size_t)tokens[t] * (size_t)C;
    bf16_t *dst = out + t * (size_t)C;
    for (int c = threadIdx.x * VEC; c < C; c += blockDim.x * VEC) {
        if constexpr (VEC == 8) *reinterpret_cast<int4 *>(dst + c) = *reinterpret_cast<const int4 *>(src + c);
        else dst[c] = src[c];
    }
}

template <int VEC>
__global__ void embedding_backward_kernel(bf16_t *dwte, const bf16_t *dout, const int32_t *uniq_tok,
                                          const int32_t *uniq_off, const int32_t *slots, int C, int accumulate) {
    int u = blockIdx.x;
    int lo = uniq_off[u], hi = uniq_off[u + 1];
    bf16_t *dst = dwte + (size_t)uniq_tok[u] * (size_t)C;
    for (int c = threadIdx.x * VEC; c < C; c += blockDim.x * VEC) {
        float acc[VEC] = {0}, x[VEC];
        if (accumulate) load_bf16<VEC>(acc, dst + c);
        for (int i = lo; i < hi; i++) {
            load_bf16<VEC>(x, dout + (size_t)slots[i] * (size_t)C + c);
#pragma unroll
            for (int j = 0; j < VEC; j++) acc[j] += x[j];
        }
        store_bf16<VEC>(dst + c, acc);
    }
}

static int row_block(int C, int vec) {
    int b = ceil_div_int(C / vec, PB_WARP) * PB_WARP;
    return b < 64 ? 64 : (b > 512 ? 512 : b);
}

extern "C" void embedding_forward(bf16_t *out, const int32_t *tokens, const bf16_t *wte, size_t T, int C,
                                  cudaStream_t s) {
    if (T == 0) return;
    if (C % 8 == 0 && is_aligned16(out) && is_aligned16(wte)) {
        embedding_forward_kernel<8><<<(unsigned)T, row_block(C, 8), 0, s>>>(out, tokens, wte, C);
    } else {
        embedding_forward_kernel<1><<<(unsigned)T, row_block(C, 1), 0, s>>>(out, tokens, wte, C);
    }
    cudaCheckLaunch();
}

extern "C" void embedding_backward(bf16_t *dwte, const bf16_t *dout, const int32_t *uniq_tok, const int32_t *uniq_off,
                                   const int32_t *slots, int n_uniq, int C, int accumulate, cudaStream_t s) {
    if (n_uniq <= 0) return;
    if (C % 8 == 0 && is_aligned16(dwte) && is_aligned16(dout)) {
        embedding_backward_kernel<8><<<n_uniq, row_block(C, 8), 0, s>>>(dwte, dout, uniq_tok, uniq_off, slots, C,
                                                                             accumulate);
    } else {
        embedding_backward_kernel<1><<<n_uniq, row_block(C, 1), 0, s>>>(dwte, dout, uniq_tok, uniq_off, slots, C,
                                                                             accumulate);
    }
    cudaCheckLaunch();
}
