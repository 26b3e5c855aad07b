/*
 * rope.cu: rotary position embedding, rotate-half convention (Qwen2 / HF), on (T, H, D): in place,
 * or (the _ld forms) out of place with row strides, so that the step's RoPE pass is also the split
 * of the fused q/k/v projection output (q and k read at its row stride, written contiguous).
 * Pair (i, i + D/2) of head h at slot t is rotated by angle pos[t] * inv_freq[i] (theta^(-2i/D), or
 * a table from model.h's rope_inv_freq: Llama 3 scaling); backward
 * rotates the gradient by the negative angle (the rotation is orthogonal).
 * q (Hq heads) and k (Hkv heads) go through one launch (k may be absent), each operand with its
 * own input, output and row strides. A thread owns VEC frequencies i0 .. i0 + VEC - 1 of one slot
 * and every S-th head of the slot's Hq + Hkv: it computes their cos / sin once and applies them to
 * all its heads, HB heads' 16-byte loads in flight at a time. Block: blockDim.x = G * S threads
 * per slot (G = D / 2 / VEC frequency packs, S head groups, about a warp per slot), blockDim.y
 * slots; no 64-bit division.
 * Accuracy at long positions: the angle pos * inv_freq is formed in double and reduced to
 * about [-pi, pi] in double (inv_freq in double too), and only then handed to sincosf; an fp32
 * angle would be off by ~1e-3 rad at pos 32k.
 */
#include "common.cuh"

#define ROPE_HB 4            // heads whose loads a thread issues before it rotates them
#define ROPE_SLOT_THREADS 32 // threads per slot aimed at (G * S)
#define ROPE_BLOCK 128 // ~94 registers a thread: 5 blocks of 128 fit an SM, 2 of 256

// One operand: T rows of H heads of D values, read at inp (row stride ld_inp) and written at out
// (ld_out); out == inp with equal strides is in place (a thread reads its pair before it writes it).
struct RopeOperand {
    bf16_t *out;
    size_t ld_out;
    const bf16_t *inp;
    size_t ld_inp;
    int H;
};

// sign = +1: forward, -1: backward. table: the D/2 inverse frequencies, else theta^(-2i/D).
template <int VEC>
__global__ void rope_kernel(RopeOperand q, RopeOperand k, const int32_t *pos, size_t T, int D, double log2_theta,
                            const double *table, float sign) {
    const size_t t = (size_t)blockIdx.x * blockDim.y + threadIdx.y;
    if (t >= T) return;
    const int half = D / 2, G = half / VEC, S = (int)blockDim.x / G, H = q.H + k.H;
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
    const bf16_t *qi = q.inp + t * q.ld_inp + i0, *ki = k.H ? k.inp + t * k.ld_inp + i0 : NULL;
    bf16_t *qo = q.out + t * q.ld_out + i0, *ko = k.H ? k.out + t * k.ld_out + i0 : NULL;
    for (int h = h0; h < H; h += S * ROPE_HB) {
        bf16_t *o[ROPE_HB];
        Bf16Pack<VEC> a[ROPE_HB], b[ROPE_HB];
#pragma unroll
        for (int u = 0; u < ROPE_HB; u++) {
            const int hh = h + u * S;
            const bf16_t *p = hh < q.H ? qi + hh * D : (hh < H ? ki + (hh - q.H) * D : NULL);
            o[u] = hh < q.H ? qo + hh * D : (hh < H ? ko + (hh - q.H) * D : NULL);
            if (p) {
                a[u] = load_pack<VEC>(p);
                b[u] = load_pack<VEC>(p + half);
            }
        }
#pragma unroll
        for (int u = 0; u < ROPE_HB; u++) {
            if (!o[u]) continue;
            float x1[VEC], x2[VEC], y1[VEC], y2[VEC];
            unpack_bf16<VEC>(x1, a[u]);
            unpack_bf16<VEC>(x2, b[u]);
#pragma unroll
            for (int j = 0; j < VEC; j++) {
                y1[j] = x1[j] * cs[j] - x2[j] * sn[j];
                y2[j] = x2[j] * cs[j] + x1[j] * sn[j];
            }
            store_bf16<VEC>(o[u], y1);
            store_bf16<VEC>(o[u] + half, y2);
        }
    }
}

// An operand's checks: strides cover its rows, out of place does not overlap; 16-byte packs
// need every row and head start 16-byte aligned (pointers, strides and D multiples of 8).
static int operand_vec8(const RopeOperand *x, size_t T, int D) {
    const size_t w = (size_t)x->H * D;
    if (x->ld_out < w || x->ld_inp < w)
        checkFail("rope: row strides %zu / %zu below H * D = %zu", x->ld_out, x->ld_inp, w);
    if (x->out != x->inp && x->out < x->inp + (T - 1) * x->ld_inp + w && x->inp < x->out + (T - 1) * x->ld_out + w)
        checkFail("rope: out of place with overlapping operands");
    return is_aligned16(x->out) && is_aligned16(x->inp) && x->ld_out % 8 == 0 && x->ld_inp % 8 == 0;
}

static void rope_launch(RopeOperand q, RopeOperand k, const int32_t *pos, size_t T, int D, double theta,
                        const double *table, float sign, cudaStream_t s) {
    if (!k.out || !k.inp) k.H = 0;
    const int H = q.H + k.H;
    if (T == 0 || H == 0) return;
    if (D % 2 != 0 || D <= 0) {
        checkFail("rope: head dim %d is not a positive even number", D);
    }
    const int half = D / 2;
    const int q8 = operand_vec8(&q, T, D), k8 = k.H ? operand_vec8(&k, T, D) : 1; // both checked, always
    const int vec8 = half % 8 == 0 && q8 && k8;
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
    if (vec8) rope_kernel<8><<<(unsigned)grid, block, 0, s>>>(q, k, pos, T, D, l2, table, sign);
    else rope_kernel<1><<<(unsigned)grid, block, 0, s>>>(q, k, pos, T, D, l2, table, sign);
    cudaCheckLaunch();
}

static RopeOperand in_place(bf16_t *x, int H, int D) {
    const size_t ld = (size_t)H * D;
    return RopeOperand{x, ld, x, ld, x ? H : 0};
}

static const RopeOperand no_operand = {NULL, 0, NULL, 0, 0};

extern "C" void rope_forward(bf16_t *x, const int32_t *pos, size_t T, int H, int D, double theta, cudaStream_t s) {
    rope_launch(in_place(x, H, D), no_operand, pos, T, D, theta, NULL, 1.0f, s);
}

extern "C" void rope_backward(bf16_t *dx, const int32_t *pos, size_t T, int H, int D, double theta, cudaStream_t s) {
    rope_launch(in_place(dx, H, D), no_operand, pos, T, D, theta, NULL, -1.0f, s);
}

extern "C" void rope_forward_freq(bf16_t *x, const int32_t *pos, size_t T, int H, int D, const double *inv_freq,
                                  cudaStream_t s) {
    rope_launch(in_place(x, H, D), no_operand, pos, T, D, 0.0, inv_freq, 1.0f, s);
}

extern "C" void rope_backward_freq(bf16_t *dx, const int32_t *pos, size_t T, int H, int D, const double *inv_freq,
                                   cudaStream_t s) {
    rope_launch(in_place(dx, H, D), no_operand, pos, T, D, 0.0, inv_freq, -1.0f, s);
}

extern "C" void rope_qk_forward_freq(bf16_t *q, bf16_t *k, const int32_t *pos, size_t T, int Hq, int Hkv, int D,
                                     const double *inv_freq, cudaStream_t s) {
    rope_launch(in_place(q, Hq, D), in_place(k, Hkv, D), pos, T, D, 0.0, inv_freq, 1.0f, s);
}

extern "C" void rope_qk_backward_freq(bf16_t *dq, bf16_t *dk, const int32_t *pos, size_t T, int Hq, int Hkv, int D,
                                      const double *inv_freq, cudaStream_t s) {
    rope_launch(in_place(dq, Hq, D), in_place(dk, Hkv, D), pos, T, D, 0.0, inv_freq, -1.0f, s);
}

extern "C" void rope_qk_forward_ld(bf16_t *q, size_t ld_q, bf16_t *k, size_t ld_k, const bf16_t *q_inp,
                                   const bf16_t *k_inp, size_t ld_inp, const int32_t *pos, size_t T, int Hq, int Hkv,
                                   int D, const double *inv_freq, cudaStream_t s) {
    rope_launch(RopeOperand{q, ld_q, q_inp, ld_inp, Hq}, RopeOperand{k, ld_k, k_inp, ld_inp, Hkv}, pos, T, D, 0.0,
                inv_freq, 1.0f, s);
}

extern "C" void rope_qk_backward_ld(bf16_t *dq_out, bf16_t *dk_out, size_t ld_out, const bf16_t *dq, size_t ld_q,
                                    const bf16_t *dk, size_t ld_k, const int32_t *pos, size_t T, int Hq, int Hkv,
                                    int D, const double *inv_freq, cudaStream_t s) {
    rope_launch(RopeOperand{dq_out, ld_out, dq, ld_q, Hq}, RopeOperand{dk_out, ld_out, dk, ld_k, Hkv}, pos, T, D, 0.0,
                inv_freq, -1.0f, s);
}
