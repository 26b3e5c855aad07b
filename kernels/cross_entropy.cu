/*
 * cross_entropy.cu: fused linear cross-entropy over loss pairs (rows[i], targets[i]).
 * Per chunk of at most chunk_rows pairs, with scratch for that chunk only:
 *   Hc (n, C)      = hidden[rows]                          gather_rows_kernel
 *   logits (n, V)  = Hc W^T                                matmul_forward
 *   loss += lse - logit[target]; logits := softmax - onehot   ce_rows_kernel (fp32 math, in place)
 *   dHc (n, C)     = dlogits W                             matmul_backward_input
 *   dW (V, C)     (+)= dlogits^T Hc (first chunk overwrites) matmul_backward_weight
 *   dhidden[rows] += dHc                                   scatter_add_rows_kernel
 * rows are sorted, so equal rows are adjacent: the head of each run within the chunk sums the
 * run in order and does one read-modify-write: deterministic, no atomics. A run cut by a chunk
 * boundary is finished by the next chunk, which runs after this one on the stream.
 * The loss is a double in device memory: zeroed here, then one atomicAdd per loss row.
 */
#include "common.cuh"
#include "cross_entropy.h"
#include "cross_entropy_scratch.h"

#define CE_BLOCK 512

template <int VEC>
__global__ void gather_rows_kernel(bf16_t *dst, const bf16_t *src, const int32_t *rows, int C) {
    const bf16_t *s = src + (size_t)rows[blockIdx.x] * (size_t)C;
    bf16_t *d = dst + (size_t)blockIdx.x * (size_t)C;
    for (int c = threadIdx.x * VEC; c < C; c += blockDim.x * VEC) {
        if constexpr (VEC == 8) *reinterpret_cast<int4 *>(d + c) = *reinterpret_cast<const int4 *>(s + c);
        else d[c] = s[c];
    }
}

// One block per loss row: online max / sum of exp per thread, merged over the block. The pair's
// weight (NULL: 1) scales its loss term and its gradient.
template <int VEC>
__global__ void ce_rows_kernel(bf16_t *logits, const int32_t *targets, const int32_t *weights, int V, double *loss) {
    __shared__ float red[PB_WARP];
    bf16_t *row = logits + (size_t)blockIdx.x * (size_t)V;
    int target = targets[blockIdx.x];
    const float weight = weights ? (float)weights[blockIdx.x] : 1.0f;
    float target_logit = 0.0f;
    if (threadIdx.x == 0) target_logit = __bfloat162float(reinterpret_cast<const __nv_bfloat16 *>(row)[target]);
    float m = -INFINITY, sum = 0.0f, x[VEC];
    for (int c = threadIdx.x * VEC; c < V; c += blockDim.x * VEC) {
        load_bf16<VEC>(x, row + c);
#pragma unroll
        for (int j = 0; j < VEC; j++) {
            if (x[j] > m) {
                sum = sum * __expf(m - x[j]) + 1.0f;
                m = x[j];
            } else {
                sum += __expf(x[j] - m);
            }
        }
    }
    float block_m = block_max(m, red);
    sum = m == -INFINITY ? 0.0f : sum * __expf(m - block_m);
    float lse = block_m + logf(block_sum(sum, red)); // block_sum's barriers also order the reads above
    if (threadIdx.x == 0) atomicAdd(loss, (double)weight * (double)(lse - target_logit));
    for (int c = threadIdx.x * VEC; c < V; c += blockDim.x * VEC) {
        load_bf16<VEC>(x, row + c);
#pragma unroll
        for (int j = 0; j < VEC; j++) x[j] = weight * (__expf(x[j] - lse) - (c + j == target ? 1.0f : 0.0f));
        store_bf16<VEC>(row + c, x);
    }
}

// One block per chunk row; only the head of a run of equal rows works.
template <int VEC>
__global__ void scatter_add_rows_kernel(bf16_t *dhidden, const bf16_t *dh, const int32_t *rows, int n, int C) {
    int i = blockIdx.x;
    int32_t r = rows[i];
    if (i > 0 && rows[i - 1] == r) return;
    int end = i + 1;
    while (end < n && rows[end] == r) end++;
    bf16_t *d = dhidden + (size_t)r * (size_t)C;
    for (int c = threadIdx.x * VEC; c < C; c += blockDim.x * VEC) {
        float acc[VEC], x[VEC];
        load_bf16<VEC>(acc, d + c);
        for (int j = i; j < end; j++) {
            load_bf16<VEC>(x, dh + (size_t)j * (size_t)C + c);
#pragma unroll
            for (int v = 0; v < VEC; v++) acc[v] += x[v];
        }
        store_bf16<VEC>(d + c, acc);
    }
}

extern "C" size_t fused_ce_scratch_bytes(int chunk_rows, int C, int V) { return ce_scratch_bytes(chunk_rows, C, V); }

static int row_threads(int C, int vec) {
    int b = ceil_div_int(C / vec, PB_WARP) * PB_WARP;
    return b < 64 ? 64 : (b > 512 ? 512 : b);
}

extern "C" void fused_linear_cross_entropy(Matmul *mm, double *loss, bf16_t *dhidden, bf16_t *dw, const bf16_t *hidden,
                                           const bf16_t *w, const int32_t *rows, const int32_t *targets,
                                           const int32_t *weights, int n_loss, int C, int V, int chunk_rows,
                                           void *scratch, cudaStream_t s) {
    cudaCheck(cudaMemsetAsync(loss, 0, sizeof(double), s));
    if (n_loss <= 0) {
        cudaCheck(cudaMemsetAsync(dw, 0, (size_t)V * (size_t)C * sizeof(bf16_t), s));
        return;
    }
    if (chunk_rows <= 0) {
        checkFail("fused_linear_cross_entropy: chunk_rows %d", chunk_rows);
    }
    size_t hc_bytes = ce_rows_bytes(chunk_rows, C);
    bf16_t *hc = (bf16_t *)scratch;
    bf16_t *dhc = (bf16_t *)((char *)scratch + hc_bytes);
    bf16_t *logits = (bf16_t *)((char *)scratch + 2 * hc_bytes);
    // Row strides of C and V elements keep 16-byte alignment when C, V are multiples of 8.
    int vec_c = C % 8 == 0 && is_aligned16(scratch) && is_aligned16(hidden) && is_aligned16(dhidden);
    int vec_v = V % 8 == 0 && is_aligned16(scratch);
    for (int c0 = 0; c0 < n_loss; c0 += chunk_rows) {
        int n = n_loss - c0 < chunk_rows ? n_loss - c0 : chunk_rows;
        if (vec_c) gather_rows_kernel<8><<<n, row_threads(C, 8), 0, s>>>(hc, hidden, rows + c0, C);
        else gather_rows_kernel<1><<<n, row_threads(C, 1), 0, s>>>(hc, hidden, rows + c0, C);
        cudaCheckLaunch();
        matmul_forward(mm, logits, hc, w, NULL, n, C, V, 0, s);
        const int32_t *wc = weights ? weights + c0 : NULL;
        if (vec_v) ce_rows_kernel<8><<<n, CE_BLOCK, 0, s>>>(logits, targets + c0, wc, V, loss);
        else ce_rows_kernel<1><<<n, CE_BLOCK, 0, s>>>(logits, targets + c0, wc, V, loss);
        cudaCheckLaunch();
        matmul_backward_input(mm, dhc, logits, w, n, C, V, 0, s);
        matmul_backward_weight(mm, dw, NULL, logits, hc, n, C, V, c0 > 0, s);
        if (vec_c) scatter_add_rows_kernel<8><<<n, row_threads(C, 8), 0, s>>>(dhidden, dhc, rows + c0, n, C);
        else scatter_add_rows_kernel<1><<<n, row_threads(C, 1), 0, s>>>(dhidden, dhc, rows + c0, n, C);
        cudaCheckLaunch();
    }
}
