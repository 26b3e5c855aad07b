/*
 * swiglu.cu: the SwiGLU gate of the MLP, h = silu(gate) * up, over `rows` rows of F columns
 * (rows x F > 2^31 at 7B scale: size_t indices throughout). gate and up share a row stride, h
 * has its own: the step's fused gate/up GEMM writes rows [gate | up] of 2F (swiglu_*_rows);
 * the flat forms are one row of n. Rows and columns are walked in a 2-D grid (no per-element
 * index division). 16-byte packs of 8 when every pointer, F and the strides allow it, else
 * scalar (the flat forms: packs, then a scalar tail for n % 8). Backward may run in place
 * (dgate == gate, dup == up): each element is read before it is written by the same thread.
 */
#include "common.cuh"

__device__ __forceinline__ float sigmoidf_(float g) { return 1.0f / (1.0f + __expf(-g)); }

// Rows walk grid-stride in y, columns grid-stride in x (VEC at a time; VEC divides F in the packed
// form): no index division in the loop.
template <int VEC>
__global__ void swiglu_forward_kernel(bf16_t *h, size_t ld_h, const bf16_t *gate, const bf16_t *up, size_t ld_g,
                                      size_t rows, size_t F) {
    const size_t step = (size_t)gridDim.x * blockDim.x * VEC;
    for (size_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const bf16_t *g0 = gate + r * ld_g, *u0 = up + r * ld_g;
        bf16_t *h0 = h + r * ld_h;
        for (size_t c = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * VEC; c < F; c += step) {
            float g[VEC], u[VEC], o[VEC];
            load_bf16<VEC>(g, g0 + c);
            load_bf16<VEC>(u, u0 + c);
#pragma unroll
            for (int j = 0; j < VEC; j++) o[j] = g[j] * sigmoidf_(g[j]) * u[j];
            store_bf16<VEC>(h0 + c, o);
        }
    }
}

template <int VEC>
__global__ void swiglu_backward_kernel(bf16_t *dgate, bf16_t *dup, const bf16_t *dh, size_t ld_h, const bf16_t *gate,
                                       const bf16_t *up, size_t ld_g, size_t rows, size_t F) {
    const size_t step = (size_t)gridDim.x * blockDim.x * VEC;
    for (size_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const size_t gr = r * ld_g;
        const bf16_t *d0 = dh + r * ld_h;
        for (size_t c = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * VEC; c < F; c += step) {
            float g[VEC], u[VEC], d[VEC], dg[VEC], du[VEC];
            load_bf16<VEC>(g, gate + gr + c);
            load_bf16<VEC>(u, up + gr + c);
            load_bf16<VEC>(d, d0 + c);
#pragma unroll
            for (int j = 0; j < VEC; j++) {
                float sg = sigmoidf_(g[j]);
                du[j] = d[j] * g[j] * sg;
                dg[j] = d[j] * u[j] * sg * (1.0f + g[j] * (1.0f - sg));
            }
            store_bf16<VEC>(dgate + gr + c, dg);
            store_bf16<VEC>(dup + gr + c, du);
        }
    }
}

static int packable(size_t F, size_t ld_a, size_t ld_b) { return F % 8 == 0 && ld_a % 8 == 0 && ld_b % 8 == 0; }

// x: the columns' blocks (grid_for's cap); y: one row per block row, at most 65535 (then grid-stride).
static dim3 swiglu_grid(size_t rows, size_t col_items, int block) {
    return dim3(grid_for(col_items, block), (unsigned)(rows < 65535 ? rows : 65535));
}

// rows x F of h (row stride ld_h) from gate and up (row stride ld_g).
static void forward_launch(bf16_t *h, size_t ld_h, const bf16_t *gate, const bf16_t *up, size_t ld_g, size_t rows,
                           size_t F, cudaStream_t s) {
    if (rows == 0 || F == 0) return;
    const int block = 256;
    if (packable(F, ld_h, ld_g) && is_aligned16(h) && is_aligned16(gate) && is_aligned16(up))
        swiglu_forward_kernel<8><<<swiglu_grid(rows, F / 8, block), block, 0, s>>>(h, ld_h, gate, up, ld_g, rows, F);
    else
        swiglu_forward_kernel<1><<<swiglu_grid(rows, F, block), block, 0, s>>>(h, ld_h, gate, up, ld_g, rows, F);
    cudaCheckLaunch();
}

// dgate and dup at gate's row stride ld_g (they may be gate and up), dh at ld_h.
static void backward_launch(bf16_t *dgate, bf16_t *dup, const bf16_t *dh, size_t ld_h, const bf16_t *gate,
                            const bf16_t *up, size_t ld_g, size_t rows, size_t F, cudaStream_t s) {
    if (rows == 0 || F == 0) return;
    const int block = 256;
    if (packable(F, ld_h, ld_g) && is_aligned16(dgate) && is_aligned16(dup) && is_aligned16(dh) && is_aligned16(gate) &&
        is_aligned16(up))
        swiglu_backward_kernel<8><<<swiglu_grid(rows, F / 8, block), block, 0, s>>>(dgate, dup, dh, ld_h, gate, up, ld_g,
                                                                                      rows, F);
    else
        swiglu_backward_kernel<1><<<swiglu_grid(rows, F, block), block, 0, s>>>(dgate, dup, dh, ld_h, gate, up, ld_g,
                                                                                  rows, F);
    cudaCheckLaunch();
}

extern "C" void swiglu_forward(bf16_t *h, const bf16_t *gate, const bf16_t *up, size_t n, cudaStream_t s) {
    size_t head = 0;
    if (is_aligned16(h) && is_aligned16(gate) && is_aligned16(up)) {
        head = n / 8 * 8;
        forward_launch(h, head, gate, up, head, 1, head, s);
    }
    if (head < n) forward_launch(h + head, n - head, gate + head, up + head, n - head, 1, n - head, s);
}

extern "C" void swiglu_backward(bf16_t *dgate, bf16_t *dup, const bf16_t *dh, const bf16_t *gate, const bf16_t *up,
                                size_t n, cudaStream_t s) {
    size_t head = 0;
    if (is_aligned16(dgate) && is_aligned16(dup) && is_aligned16(dh) && is_aligned16(gate) && is_aligned16(up)) {
        head = n / 8 * 8;
        backward_launch(dgate, dup, dh, head, gate, up, head, 1, head, s);
    }
    if (head < n)
        backward_launch(dgate + head, dup + head, dh + head, n - head, gate + head, up + head, n - head, 1, n - head, s);
}

extern "C" void swiglu_forward_rows(bf16_t *h, const bf16_t *gu, size_t rows, size_t F, cudaStream_t s) {
    forward_launch(h, F, gu, gu + F, 2 * F, rows, F, s);
}

extern "C" void swiglu_backward_rows(bf16_t *dgu, const bf16_t *dh, const bf16_t *gu, size_t rows, size_t F,
                                     cudaStream_t s) {
    backward_launch(dgu, dgu + F, dh, F, gu, gu + F, 2 * F, rows, F, s);
}
