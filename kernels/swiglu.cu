/*
 * swiglu.cu: the SwiGLU gate of the MLP, h = silu(gate) * up, elementwise over n = T * F
 * (> 2^31 at 7B scale: size_t indices throughout). 16-byte packs of 8 when every pointer is
 * aligned, a scalar tail for n % 8. Backward may run in place (dgate == gate, dup == up): each
 * element is read before it is written by the same thread.
 */
#include "common.cuh"

__device__ __forceinline__ float sigmoidf_(float g) { return 1.0f / (1.0f + __expf(-g)); }

template <int VEC>
__global__ void swiglu_forward_kernel(bf16_t *h, const bf16_t *gate, const bf16_t *up, size_t n_vec) {
    for (size_t v = (size_t)blockIdx.x * blockDim.x + threadIdx.x; v < n_vec; v += (size_t)gridDim.x * blockDim.x) {
        size_t i = v * VEC;
        float g[VEC], u[VEC], o[VEC];
        load_bf16<VEC>(g, gate + i);
        load_bf16<VEC>(u, up + i);
#pragma unroll
        for (int j = 0; j < VEC; j++) o[j] = g[j] * sigmoidf_(g[j]) * u[j];
        store_bf16<VEC>(h + i, o);
    }
}

template <int VEC>
__global__ void swiglu_backward_kernel(bf16_t *dgate, bf16_t *dup, const bf16_t *dh, const bf16_t *gate,
                                       const bf16_t *up, size_t n_vec) {
    for (size_t v = (size_t)blockIdx.x * blockDim.x + threadIdx.x; v < n_vec; v += (size_t)gridDim.x * blockDim.x) {
        size_t i = v * VEC;
        float g[VEC], u[VEC], d[VEC], dg[VEC], du[VEC];
        load_bf16<VEC>(g, gate + i);
        load_bf16<VEC>(u, up + i);
        load_bf16<VEC>(d, dh + i);
#pragma unroll
        for (int j = 0; j < VEC; j++) {
            float sg = sigmoidf_(g[j]);
            du[j] = d[j] * g[j] * sg;
            dg[j] = d[j] * u[j] * sg * (1.0f + g[j] * (1.0f - sg));
        }
        store_bf16<VEC>(dgate + i, dg);
        store_bf16<VEC>(dup + i, du);
    }
}

extern "C" void swiglu_forward(bf16_t *h, const bf16_t *gate, const bf16_t *up, size_t n, cudaStream_t s) {
    const int block = 256;
    size_t head = 0;
    if (is_aligned16(h) && is_aligned16(gate) && is_aligned16(up)) {
        size_t n_vec = n / 8;
        head = n_vec * 8;
        if (n_vec) {
            swiglu_forward_kernel<8><<<grid_for(n_vec, block), block, 0, s>>>(h, gate, up, n_vec);
            cudaCheckLaunch();
        }
    }
    if (head < n) {
        swiglu_forward_kernel<1><<<grid_for(n - head, block), block, 0, s>>>(h + head, gate + head, up + head, n - head);
        cudaCheckLaunch();
    }
}

extern "C" void swiglu_backward(bf16_t *dgate, bf16_t *dup, const bf16_t *dh, const bf16_t *gate, const bf16_t *up,
                                size_t n, cudaStream_t s) {
    const int block = 256;
    size_t head = 0;
    if (is_aligned16(dgate) && is_aligned16(dup) && is_aligned16(dh) && is_aligned16(gate) && is_aligned16(up)) {
        size_t n_vec = n / 8;
        head = n_vec * 8;
        if (n_vec) {
            swiglu_backward_kernel<8><<<grid_for(n_vec, block), block, 0, s>>>(dgate, dup, dh, gate, up, n_vec);
            cudaCheckLaunch();
        }
    }
    if (head < n) {
        swiglu_backward_kernel<1><<<grid_for(n - head, block), block, 0, s>>>(dgate + head, dup + head, dh + head,
                                                                              gate + head, up + head, n - head);
        cudaCheckLaunch();
    }
}
