/*
 * rope.cu: rotary position embedding, rotate-half convention (Qwen2 / HF), on (T, H, D): in place,
 * or (the _ld forms) out of place with row strides, so that the step's RoPE pass is also the split
 * of the fused q/k/v projection output (q and k read at its row stride, written contiguous).
 * Pair (i, i + D/2) of head h at slot t is rotated by angle pos[t] * inv_freq[i] (theta^(-2i/D), or
 * a table from model.h's rope_inv_freq: Llama 3 scaling); backward
 * rotates the gradient by the negative angle (the rotation is orthogonal).
 * Accuracy at long positions: inv_freq is computed in double once per block (shared memory),
 * the angle pos * inv_freq in double and reduced to [-pi, pi] in double, and only then handed
 * to sincosf; an fp32 angle would be off by ~1e-3 rad at pos 32k.
 */
#include "common.cuh"

// sign = +1: forward, -1: backward. out / inp: T rows of H*D values at row strides ld_out / ld_inp
// (out == inp with equal strides: in place; each thread reads its pair before it writes it).
// dynamic shared memory: D/2 doubles (inv_freq), from table when given, else theta^(-2i/D).
template <int VEC>
__global__ void rope_kernel(bf16_t *out, size_t ld_out, const bf16_t *inp, size_t ld_inp, const int32_t *pos,
                            size_t T, int H, int D, double log2_theta, const double *table, float sign) {
    extern __shared__ double inv_freq[];
    int half = D / 2;
    for (int i = threadIdx.x; i < half; i += blockDim.x)
        inv_freq[i] = table ? table[i] : exp2(-(2.0 * i / D) * log2_theta);
    __syncthreads();
    const double two_pi = 6.283185307179586476925286766559;
    int per_head = half / VEC;
    size_t n = T * (size_t)H * (size_t)per_head;
    for (size_t w = (size_t)blockIdx.x * blockDim.x + threadIdx.x; w < n; w += (size_t)gridDim.x * blockDim.x) {
        int i0 = (int)(w % (size_t)per_head) * VEC;
        size_t th = w / (size_t)per_head; // t * H + h
        size_t t = th / (size_t)H, h = th % (size_t)H;
        const bf16_t *p = inp + t * ld_inp + h * (size_t)D + i0;
        bf16_t *q = out + t * ld_out + h * (size_t)D + i0;
        float a[VEC], b[VEC];
        load_bf16<VEC>(a, p);
        load_bf16<VEC>(b, p + half);
        double ps = (double)pos[t];
#pragma unroll
        for (int j = 0; j < VEC; j++) {
            double ang = ps * inv_freq[i0 + j];
            ang -= rint(ang / two_pi) * two_pi;
            float sn, cs;
            sincosf((float)ang, &sn, &cs);
            sn *= sign;
            float x1 = a[j], x2 = b[j];
            a[j] = x1 * cs - x2 * sn;
            b[j] = x2 * cs + x1 * sn;
        }
        store_bf16<VEC>(q, a);
        store_bf16<VEC>(q + half, b);
    }
}

static void rope_launch(bf16_t *out, size_t ld_out, const bf16_t *inp, size_t ld_inp, const int32_t *pos, size_t T,
                        int H, int D, double theta, const double *table, float sign, cudaStream_t s) {
    if (T == 0 || H == 0) return;
    if (D % 2 != 0) {
        checkFail("rope: head dim %d is odd", D);
    }
    if (ld_out < (size_t)H * D || ld_inp < (size_t)H * D)
        checkFail("rope: row strides %zu / %zu below H * D = %zu", ld_out, ld_inp, (size_t)H * D);
    if (out != inp && out < inp + (T - 1) * ld_inp + (size_t)H * D && inp < out + (T - 1) * ld_out + (size_t)H * D)
        checkFail("rope: out of place with overlapping operands");
    int half = D / 2, block = 256;
    size_t shmem = (size_t)half * sizeof(double);
    double l2 = table ? 0.0 : log2(theta);
    // 16-byte packs need every row and head start 16-byte aligned: strides and D multiples of 8
    if (half % 8 == 0 && is_aligned16(out) && is_aligned16(inp) && ld_out % 8 == 0 && ld_inp % 8 == 0) {
        size_t n = T * (size_t)H * (size_t)(half / 8);
        rope_kernel<8><<<grid_for(n, block), block, shmem, s>>>(out, ld_out, inp, ld_inp, pos, T, H, D, l2, table, sign);
    } else {
        size_t n = T * (size_t)H * (size_t)half;
        rope_kernel<1><<<grid_for(n, block), block, shmem, s>>>(out, ld_out, inp, ld_inp, pos, T, H, D, l2, table, sign);
    }
    cudaCheckLaunch();
}

extern "C" void rope_forward(bf16_t *x, const int32_t *pos, size_t T, int H, int D, double theta, cudaStream_t s) {
    const size_t ld = (size_t)H * D;
    rope_launch(x, ld, x, ld, pos, T, H, D, theta, NULL, 1.0f, s);
}

extern "C" void rope_backward(bf16_t *dx, const int32_t *pos, size_t T, int H, int D, double theta, cudaStream_t s) {
    const size_t ld = (size_t)H * D;
    rope_launch(dx, ld, dx, ld, pos, T, H, D, theta, NULL, -1.0f, s);
}

extern "C" void rope_forward_freq(bf16_t *x, const int32_t *pos, size_t T, int H, int D, const double *inv_freq,
                                  cudaStream_t s) {
    const size_t ld = (size_t)H * D;
    rope_launch(x, ld, x, ld, pos, T, H, D, 0.0, inv_freq, 1.0f, s);
}

extern "C" void rope_backward_freq(bf16_t *dx, const int32_t *pos, size_t T, int H, int D, const double *inv_freq,
                                   cudaStream_t s) {
    const size_t ld = (size_t)H * D;
    rope_launch(dx, ld, dx, ld, pos, T, H, D, 0.0, inv_freq, -1.0f, s);
}

extern "C" void rope_forward_ld(bf16_t *out, size_t ld_out, const bf16_t *inp, size_t ld_inp, const int32_t *pos,
                                size_t T, int H, int D, const double *inv_freq, cudaStream_t s) {
    rope_launch(out, ld_out, inp, ld_inp, pos, T, H, D, 0.0, inv_freq, 1.0f, s);
}

extern "C" void rope_backward_ld(bf16_t *dout, size_t ld_out, const bf16_t *dinp, size_t ld_inp, const int32_t *pos,
                                 size_t T, int H, int D, const double *inv_freq, cudaStream_t s) {
    rope_launch(dout, ld_out, dinp, ld_inp, pos, T, H, D, 0.0, inv_freq, -1.0f, s);
}
