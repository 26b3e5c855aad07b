/*
 * rope.cu: rotary position embedding, rotate-half convention (Qwen2 / HF), in place on (T, H, D).
 * Pair (i, i + D/2) of head h at slot t is rotated by angle pos[t] * inv_freq[i] (theta^(-2i/D), or
 * a table from model.h's rope_inv_freq: Llama 3 scaling); backward
 * rotates the gradient by the negative angle (the rotation is orthogonal).
 * q (T, Hq, D) and k (T, Hkv, D) go through one launch (k may be absent). A thread owns VEC
 * frequencies i0 .. i0 + VEC - 1 of one slot and every S-th head of the slot's Hq + Hkv: it
 * computes their cos / sin once and applies them to all its heads, HB heads' 16-byte loads in
 * flight at a time. Block: blockDim.x = G * S threads per slot (G = D / 2 / VEC frequency packs,
 * S head groups, about a warp per slot), blockDim.y slots; no 64-bit division.
 * Accuracy at long positions: the angle pos * inv_freq is formed in double and reduced to
 * about [-pi, pi] in double (inv_freq in double too), and only then handed to sincosf; an fp32
 * angle would be off by ~1e-3 rad at pos 32k.
 */
#include "common.cuh"

#define ROPE_HB 4            // heads whose loads a thread issues before it rotates them
#define ROPE_SLOT_THREADS 32 // threads per slot aimed at (G * S)
#define ROPE_BLOCK 128 // ~94 registers a thread: 5 blocks of 128 fit an SM, 2 of 256

// sign = +1: forward, -1: backward. table: the D/2 inverse frequencies, else theta^(-2i/D).
template <int VEC>
__global__ void rope_kernel(bf16_t *q, bf16_t *k, const int32_t *pos, size_t T, int Hq, int Hkv, int D,
                            double log2_theta, const double *table, float sign) {
    const size_t t = (size_t)blockIdx.x * blockDim.y + threadIdx.y;
    if (t >= T) return;
    const int half = D / 2, G = half / VEC, S = (int)blockDim.x / G, H = Hq + Hkv;
    const int i0 = ((int)threadIdx.x % G) * VEC, h0 = (int)threadIdx.x / G;
    const double two_pi = 6.283185307179586476925286766559, inv_two_pi = 0.15915494309189533576888376337251;
    const double ps = (double)pos[t];
    float cs[VEC], sn[VEC];
#pragma unroll
    for (int j = 0; j < VEC; j++) {
        const double f = table ? table[i0 + j] : exp2(-(2.0 * (i0 + j) / D) * log2_theta);
        double ang = ps * f;
        ang -= rint(ang * inv_two_pi) * two_pi;
        sincosf((float)ang, &sn[j], &cs[j]);
        sn[j] *= sign;
    }
    bf16_t *qt = q + t * (size_t)Hq * (size_t)D + i0;
    bf16_t *kt = k ? k + t * (size_t)Hkv * (size_t)D + i0 : NULL;
    for (int h = h0; h < H; h += S * ROPE_HB) {
        bf16_t *p[ROPE_HB];
        Bf16Pack<VEC> a[ROPE_HB], b[ROPE_HB];
#pragma unroll
        for (int u = 0; u < ROPE_HB; u++) {
            const int hh = h + u * S;
            p[u] = hh < Hq ? qt + hh * D : (hh < H ? kt + (hh - Hq) * D : NULL);
            if (p[u]) {
                a[u] = load_pack<VEC>(p[u]);
                b[u] = load_pack<VEC>(p[u] + half);
            }
        }
#pragma unroll
        for (int u = 0; u < ROPE_HB; u++) {
            if (!p[u]) continue;
            float x1[VEC], x2[VEC], y1[VEC], y2[VEC];
            unpack_bf16<VEC>(x1, a[u]);
            unpack_bf16<VEC>(x2, b[u]);
#pragma unroll
            for (int j = 0; j < VEC; j++) {
                y1[j] = x1[j] * cs[j] - x2[j] * sn[j];
                y2[j] = x2[j] * cs[j] + x1[j] * sn[j];
            }
            store_bf16<VEC>(p[u], y1);
            store_bf16<VEC>(p[u] + half, y2);
        }
    }
}

static void rope_launch(bf16_t *q, bf16_t *k, const int32_t *pos, size_t T, int Hq, int Hkv, int D, double theta,
                        const double *table, float sign, cudaStream_t s) {
    if (!k) Hkv = 0;
    const int H = Hq + Hkv;
    if (T == 0 || H == 0) return;
    if (D % 2 != 0 || D <= 0) {
        checkFail("rope: head dim %d is not a positive even number", D);
    }
    const int half = D / 2;
    const int vec8 = half % 8 == 0 && is_aligned16(q) && (!k || is_aligned16(k));
    const int G = vec8 ? half / 8 : half;
    int S = G >= ROPE_SLOT_THREADS ? 1 : ROPE_SLOT_THREADS / G;
    if (S > H) S = H;
    if (G * S > 1024) {
        checkFail("rope: head dim %d needs %d threads per slot (at most 1024)", D, G * S);
    }
    const int per_slot = G * S, slots = per_slot >= ROPE_BLOCK ? 1 : ROPE_BLOCK / per_slot;
    const dim3 block((unsigned)per_slot, (unsigned)slots);
    const size_t grid = (T + (size_t)slots - 1) / (size_t)slots;
    if (grid > 0x7fffffffu) {
        checkFail("rope: %zu slots are more than one launch covers", T);
    }
    const double l2 = table ? 0.0 : log2(theta);
    if (vec8) rope_kernel<8><<<(unsigned)grid, block, 0, s>>>(q, k, pos, T, Hq, Hkv, D, l2, table, sign);
    else rope_kernel<1><<<(unsigned)grid, block, 0, s>>>(q, k, pos, T, Hq, Hkv, D, l2, table, sign);
    cudaCheckLaunch();
}

extern "C" void rope_forward(bf16_t *x, const int32_t *pos, size_t T, int H, int D, double theta, cudaStream_t s) {
    rope_launch(x, NULL, pos, T, H, 0, D, theta, NULL, 1.0f, s);
}

extern "C" void rope_backward(bf16_t *dx, const int32_t *pos, size_t T, int H, int D, double theta, cudaStream_t s) {
    rope_launch(dx, NULL, pos, T, H, 0, D, theta, NULL, -1.0f, s);
}

extern "C" void rope_forward_freq(bf16_t *x, const int32_t *pos, size_t T, int H, int D, const double *inv_freq,
                                  cudaStream_t s) {
    rope_launch(x, NULL, pos, T, H, 0, D, 0.0, inv_freq, 1.0f, s);
}

extern "C" void rope_backward_freq(bf16_t *dx, const int32_t *pos, size_t T, int H, int D, const double *inv_freq,
                                   cudaStream_t s) {
    rope_launch(dx, NULL, pos, T, H, 0, D, 0.0, inv_freq, -1.0f, s);
}

extern "C" void rope_qk_forward_freq(bf16_t *q, bf16_t *k, const int32_t *pos, size_t T, int Hq, int Hkv, int D,
                                     const double *inv_freq, cudaStream_t s) {
    rope_launch(q, k, pos, T, Hq, Hkv, D, 0.0, inv_freq, 1.0f, s);
}

extern "C" void rope_qk_backward_freq(bf16_t *dq, bf16_t *dk, const int32_t *pos, size_t T, int Hq, int Hkv, int D,
                                      const double *inv_freq, cudaStream_t s) {
    rope_launch(dq, dk, pos, T, Hq, Hkv, D, 0.0, inv_freq, -1.0f, s);
}
