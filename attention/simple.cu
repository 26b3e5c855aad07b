/*
 * simple.cu: the "simple" attention backend (attention.h), the GPU oracle for attention.
 *
 * Causal GQA attention, scale 1/sqrt(D), under a Layout's mask rule in its per-key form:
 *   query q sees key k iff k <= q < key_end[k]      (kv_lo[q] == -1: q is padding),
 * which holds for all four layouts, trees of any depth included (strategies/layout.h). The
 * per-query bounds [kv_lo, shared_end) and [seg_lo, q] (exact up to two levels, a superset for
 * deeper trees) only choose which key tiles a block visits.
 * bf16 storage, fp32 math. Four kernels, written for clarity first:
 *
 *   attn_forward_kernel    block = 8 query slots x 1 query head, one warp per query. Key tiles
 *                          of 32 are staged in shared memory (fp32); lane j scores key j, then an
 *                          online softmax folds the tile into the warp's output, each lane owning
 *                          the dims lane, lane+32, ... The natural-log lse is saved (fp32).
 *   attn_row_dot_kernel    Di = sum_d dO * O per query and head (fp32 buffer owned by prepare).
 *   attn_backward_dq_kernel  as forward; P is recomputed from lse, dS = P (dP - Di) scale,
 *                          dq = sum_k dS K.
 *   attn_backward_dkv_kernel block = 8 key slots x 1 kv head, one warp per key. It visits the
 *                          queries that may see its keys, [k, key_end[k]), for every query head of
 *                          its group, staging query tiles; dv = sum_q P dO, dk = sum_q dS Q.
 *
 * The block's key (or query) range is the union of its rows' ranges, walked tile by tile; the
 * exact rule is applied per (query, key) pair, so correctness never depends on the range bounds
 * being tight. No [queries x keys] matrix exists anywhere and GQA K/V are never copied.
 * key_end is the backend's own device copy of the layout's (made in prepare): in depth-first
 * layouts the queries that see a key are one contiguous run, so it also bounds the dK/dV sweep.
 */
#include <cuda_runtime.h>
#include <cuda_bf16.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "attention.h"
}

typedef __nv_bfloat16 bf16;

enum { ATTN_WARPS = 8, ATTN_TILE = 32, ATTN_THREADS = ATTN_WARPS * 32 };

struct AttnBackend {
    AttnShape shape;
    AttnMask mask;   // device pointers, set by prepare
    size_t n_slots;
    float *row_dot;  // (n_slots, Hq) Di = sum dO * O
    int32_t *key_end; // (n_slots) one past the last query that sees each key (the layout's key_end)
};

// ------------------------------------------------------------------------------------------
// device helpers

// lo: kv_lo[q] (-1: q is padding); ke: key_end[k]
__device__ __forceinline__ bool attn_sees(int q, int k, int lo, int ke) {
    return lo >= 0 && k <= q && q < ke;
}

__device__ __forceinline__ float warp_max(float x) {
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}

__device__ __forceinline__ float warp_sum(float x) {
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

// dot of a padded shared row (16-byte aligned) with a shared vector, D % 4 == 0
template <int D>
__device__ __forceinline__ float dot_shared(const float *a, const float *b) {
    const float4 *a4 = (const float4 *)a, *b4 = (const float4 *)b;
    float s = 0.0f;
#pragma unroll 8
    for (int i = 0; i < D / 4; i++) {
        float4 x = a4[i], y = b4[i];
        s += x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w;
    }
    return s;
}

// Stage rows [r0, r0 + ATTN_TILE) of one head of a (n, H, D) bf16 tensor as fp32 rows of
// stride ld; rows outside [r_lo, r_hi) become 0.
template <int D>
__device__ void load_tile(float *dst, int ld, const bf16 *src, int r0, int r_lo, int r_hi, int H, int h) {
    for (int i = threadIdx.x; i < ATTN_TILE * D; i += blockDim.x) {
        int j = i / D, d = i % D, r = r0 + j;
        dst[j * ld + d] = (r >= r_lo && r < r_hi) ? __bfloat162float(src[((size_t)r * H + h) * D + d]) : 0.0f;
    }
}

// The keys any query of this block may see, as two ranges: [a1, b1) from kv_lo to the end of
// the shared part, then [a2, b2) the query's own segment up to itself (seg_lo >= kv_lo, so
// a2 >= a1; b1 >= a1). Every thread of the block calls it (it synchronises); a query with
// lo < 0 (padding) adds nothing. range: 4 ints of shared memory.
struct KeyRanges { int a1, b1, a2, b2; };

static __device__ KeyRanges block_key_ranges(int *range, int lane, int qi, int lo, int se, int sl) {
    if (threadIdx.x == 0) { range[0] = INT_MAX; range[1] = INT_MIN; range[2] = INT_MAX; range[3] = INT_MIN; }
    __syncthreads();
    if (lane == 0 && lo >= 0) {
        atomicMin(&range[0], lo);
        atomicMax(&range[1], min(se, qi + 1));
        atomicMin(&range[2], sl);
        atomicMax(&range[3], qi + 1);
    }
    __syncthreads();
    return KeyRanges{range[0], max(range[1], range[0]), range[2], range[3]};
}

// ------------------------------------------------------------------------------------------
// forward

template <int D>
__global__ void __launch_bounds__(ATTN_THREADS)
attn_forward_kernel(bf16 *out, float *lse, const bf16 *q, const bf16 *k, const bf16 *v, const int32_t *kv_lo,
                    const int32_t *shared_end, const int32_t *seg_lo, const int32_t *key_end, int T, int Hq, int Hkv,
                    float scale) {
    constexpr int LD = D + 4;              // padded row: conflict-free float4 reads per lane
    constexpr int DL = (D + 31) / 32;      // output dims per lane
    __shared__ __align__(16) float ks[ATTN_TILE * LD];
    __shared__ __align__(16) float vs[ATTN_TILE * D];
    __shared__ __align__(16) float qs[ATTN_WARPS][D];
    __shared__ int range[4];

    const int h = blockIdx.y, hk = h / (Hq / Hkv);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int qi = blockIdx.x * ATTN_WARPS + warp;
    const bool valid = qi < T;
    const int lo = valid ? kv_lo[qi] : -1;
    const int se = valid ? shared_end[qi] : 0, sl = valid ? seg_lo[qi] : 0;

    for (int d = lane; d < D; d += 32) qs[warp][d] = valid ? __bfloat162float(q[((size_t)qi * Hq + h) * D + d]) : 0.0f;
    // Keys of the block: [a1, b1) then [max(a2, b1), b2).
    const KeyRanges kr = block_key_ranges(range, lane, qi, lo, se, sl);
    const int a1 = kr.a1, b1 = kr.b1, a2 = kr.a2, b2 = kr.b2;

    float m = -INFINITY, l = 0.0f, acc[DL];
#pragma unroll
    for (int i = 0; i < DL; i++) acc[i] = 0.0f;

    if (a1 != INT_MAX) {
        for (int phase = 0; phase < 2; phase++) {
            const int t_lo = phase ? max(a2, b1) : a1, t_hi = phase ? b2 : b1;
            for (int t0 = t_lo; t0 < t_hi; t0 += ATTN_TILE) {
                __syncthreads(); // the previous tile is consumed
                load_tile<D>(ks, LD, k, t0, t_lo, t_hi, Hkv, hk);
                load_tile<D>(vs, D, v, t0, t_lo, t_hi, Hkv, hk);
                __syncthreads();
                const int kj = t0 + lane;
                float s = -INFINITY;
                if (kj < t_hi && attn_sees(qi, kj, lo, key_end[kj])) s = dot_shared<D>(&ks[lane * LD], qs[warp]) * scale;
                const float mt = warp_max(s);
                if (mt == -INFINITY) continue; // nothing of this tile for this query
                const float mn = fmaxf(m, mt), corr = expf(m - mn), p = expf(s - mn);
                l = l * corr + warp_sum(p);
#pragma unroll
                for (int i = 0; i < DL; i++) acc[i] *= corr;
                for (int j = 0; j < ATTN_TILE; j++) {
                    const float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
                    for (int i = 0; i < DL; i++) {
                        const int d = lane + 32 * i;
                        if (d < D) acc[i] += pj * vs[j * D + d];
                    }
                }
                m = mn;
            }
        }
    }
    if (!valid) return;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
    for (int i = 0; i < DL; i++) {
        const int d = lane + 32 * i;
        if (d < D) out[((size_t)qi * Hq + h) * D + d] = __float2bfloat16(acc[i] * inv);
    }
    if (lane == 0) lse[(size_t)qi * Hq + h] = l > 0.0f ? m + logf(l) : -INFINITY;
}

// ------------------------------------------------------------------------------------------
// backward

// Di = sum_d dO[q, h, d] * O[q, h, d]; one warp per (query, head).
__global__ void attn_row_dot_kernel(float *row_dot, const bf16 *out, const bf16 *dout, size_t rows, int D) {
    const size_t r = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (r >= rows) return;
    float s = 0.0f;
    for (int d = lane; d < D; d += 32) s += __bfloat162float(out[r * D + d]) * __bfloat162float(dout[r * D + d]);
    s = warp_sum(s);
    if (lane == 0) row_dot[r] = s;
}

template <int D>
__global__ void __launch_bounds__(ATTN_THREADS)
attn_backward_dq_kernel(bf16 *dq, const bf16 *q, const bf16 *k, const bf16 *v, const bf16 *dout, const float *lse,
                        const float *row_dot, const int32_t *kv_lo, const int32_t *shared_end,
                        const int32_t *seg_lo, const int32_t *key_end, int T, int Hq, int Hkv, float scale) {
    constexpr int LD = D + 4;
    constexpr int DL = (D + 31) / 32;
    __shared__ __align__(16) float ks[ATTN_TILE * LD];
    __shared__ __align__(16) float vs[ATTN_TILE * LD];
    __shared__ __align__(16) float qs[ATTN_WARPS][D];
    __shared__ __align__(16) float dos[ATTN_WARPS][D];
    __shared__ int range[4];

    const int h = blockIdx.y, hk = h / (Hq / Hkv);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int qi = blockIdx.x * ATTN_WARPS + warp;
    const bool valid = qi < T;
    const int lo = valid ? kv_lo[qi] : -1;
    const int se = valid ? shared_end[qi] : 0, sl = valid ? seg_lo[qi] : 0;
    const float lse_q = lo >= 0 ? lse[(size_t)qi * Hq + h] : -INFINITY;
    const float di = lo >= 0 ? row_dot[(size_t)qi * Hq + h] : 0.0f;

    for (int d = lane; d < D; d += 32) {
        qs[warp][d] = valid ? __bfloat162float(q[((size_t)qi * Hq + h) * D + d]) : 0.0f;
        dos[warp][d] = valid ? __bfloat162float(dout[((size_t)qi * Hq + h) * D + d]) : 0.0f;
    }
    const KeyRanges kr = block_key_ranges(range, lane, qi, lo, se, sl);
    const int a1 = kr.a1, b1 = kr.b1, a2 = kr.a2, b2 = kr.b2;

    float acc[DL];
#pragma unroll
    for (int i = 0; i < DL; i++) acc[i] = 0.0f;

    if (a1 != INT_MAX) {
        for (int phase = 0; phase < 2; phase++) {
            const int t_lo = phase ? max(a2, b1) : a1, t_hi = phase ? b2 : b1;
            for (int t0 = t_lo; t0 < t_hi; t0 += ATTN_TILE) {
                __syncthreads();
                load_tile<D>(ks, LD, k, t0, t_lo, t_hi, Hkv, hk);
                load_tile<D>(vs, LD, v, t0, t_lo, t_hi, Hkv, hk);
                __syncthreads();
                const int kj = t0 + lane;
                const bool ok = kj < t_hi && attn_sees(qi, kj, lo, key_end[kj]) && lse_q != -INFINITY;
                if (!__any_sync(0xffffffffu, ok)) continue;
                float ds = 0.0f;
                if (ok) {
                    const float p = expf(dot_shared<D>(&ks[lane * LD], qs[warp]) * scale - lse_q);
                    const float dp = dot_shared<D>(&vs[lane * LD], dos[warp]);
                    ds = p * (dp - di) * scale;
                }
                for (int j = 0; j < ATTN_TILE; j++) {
                    const float dsj = __shfl_sync(0xffffffffu, ds, j);
#pragma unroll
                    for (int i = 0; i < DL; i++) {
                        const int d = lane + 32 * i;
                        if (d < D) acc[i] += dsj * ks[j * LD + d];
                    }
                }
            }
        }
    }
    if (!valid) return;
#pragma unroll
    for (int i = 0; i < DL; i++) {
        const int d = lane + 32 * i;
        if (d < D) dq[((size_t)qi * Hq + h) * D + d] = __float2bfloat16(acc[i]);
    }
}

template <int D>
__global__ void __launch_bounds__(ATTN_THREADS)
attn_backward_dkv_kernel(bf16 *dk, bf16 *dv, const bf16 *q, const bf16 *k, const bf16 *v, const bf16 *dout,
                         const float *lse, const float *row_dot, const int32_t *kv_lo, const int32_t *key_end, int T,
                         int Hq, int Hkv, float scale) {
    constexpr int LD = D + 4;
    constexpr int DL = (D + 31) / 32;
    __shared__ __align__(16) float qs[ATTN_TILE * LD];
    __shared__ __align__(16) float dos[ATTN_TILE * LD];
    __shared__ __align__(16) float kr[ATTN_WARPS][D];
    __shared__ __align__(16) float vr[ATTN_WARPS][D];
    __shared__ float lse_s[ATTN_TILE], di_s[ATTN_TILE];
    __shared__ int lo_s[ATTN_TILE];
    __shared__ int range[2];

    const int hk = blockIdx.y, group = Hq / Hkv;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int kj = blockIdx.x * ATTN_WARPS + warp;
    const bool valid = kj < T;
    const int hi = valid ? key_end[kj] : 0; // queries [kj, hi) see key kj

    if (threadIdx.x == 0) { range[0] = INT_MAX; range[1] = INT_MIN; }
    for (int d = lane; d < D; d += 32) {
        kr[warp][d] = valid ? __bfloat162float(k[((size_t)kj * Hkv + hk) * D + d]) : 0.0f;
        vr[warp][d] = valid ? __bfloat162float(v[((size_t)kj * Hkv + hk) * D + d]) : 0.0f;
    }
    __syncthreads();
    if (lane == 0 && hi > kj) { atomicMin(&range[0], kj); atomicMax(&range[1], hi); }
    __syncthreads();
    const int qa = range[0], qb = range[1];

    float dk_acc[DL], dv_acc[DL];
#pragma unroll
    for (int i = 0; i < DL; i++) dk_acc[i] = dv_acc[i] = 0.0f;

    if (qa != INT_MAX) {
        for (int g = 0; g < group; g++) {
            const int h = hk * group + g;
            for (int t0 = qa; t0 < qb; t0 += ATTN_TILE) {
                __syncthreads();
                load_tile<D>(qs, LD, q, t0, qa, qb, Hq, h);
                load_tile<D>(dos, LD, dout, t0, qa, qb, Hq, h);
                if (threadIdx.x < ATTN_TILE) {
                    const int r = t0 + threadIdx.x;
                    const bool in = r < qb;
                    lo_s[threadIdx.x] = in ? kv_lo[r] : -1;
                    lse_s[threadIdx.x] = in ? lse[(size_t)r * Hq + h] : -INFINITY;
                    di_s[threadIdx.x] = in ? row_dot[(size_t)r * Hq + h] : 0.0f;
                }
                __syncthreads();
                const int qj = t0 + lane;
                const bool ok = valid && kj < hi && attn_sees(qj, kj, lo_s[lane], hi) &&
                                lse_s[lane] != -INFINITY;
                if (!__any_sync(0xffffffffu, ok)) continue;
                float p = 0.0f, ds = 0.0f;
                if (ok) {
                    p = expf(dot_shared<D>(&qs[lane * LD], kr[warp]) * scale - lse_s[lane]);
                    const float dp = dot_shared<D>(&dos[lane * LD], vr[warp]);
                    ds = p * (dp - di_s[lane]) * scale;
                }
                for (int j = 0; j < ATTN_TILE; j++) {
                    const float pj = __shfl_sync(0xffffffffu, p, j), dsj = __shfl_sync(0xffffffffu, ds, j);
#pragma unroll
                    for (int i = 0; i < DL; i++) {
                        const int d = lane + 32 * i;
                        if (d < D) {
                            dv_acc[i] += pj * dos[j * LD + d];
                            dk_acc[i] += dsj * qs[j * LD + d];
                        }
                    }
                }
            }
        }
    }
    if (!valid) return;
#pragma unroll
    for (int i = 0; i < DL; i++) {
        const int d = lane + 32 * i;
        if (d < D) {
            dk[((size_t)kj * Hkv + hk) * D + d] = __float2bfloat16(dk_acc[i]);
            dv[((size_t)kj * Hkv + hk) * D + d] = __float2bfloat16(dv_acc[i]);
        }
    }
}

// ------------------------------------------------------------------------------------------
// host side

// A failed launch (or an earlier kernel's sticky error) is a device error: the context is suspect.
static PbStatus launch_status(const char *what, char *err, size_t errlen) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return PB_OK;
    snprintf(err, errlen, "attention simple: %s: %s", what, cudaGetErrorString(e));
    return PB_DEVICE_ERROR;
}

static int head_dim_supported(int D) { return D == 16 || D == 32 || D == 64 || D == 128; }

static AttnBackend *simple_create(const AttnShape *shape, const AttnOptions *, char *err, size_t errlen) {
    if (shape->n_head <= 0 || shape->n_kv_head <= 0 || shape->n_head % shape->n_kv_head != 0) {
        snprintf(err, errlen, "attention simple: n_head %d must be a positive multiple of n_kv_head %d",
                 shape->n_head, shape->n_kv_head);
        return NULL;
    }
    if (!head_dim_supported(shape->head_dim)) {
        snprintf(err, errlen, "attention simple: head_dim %d not built (16, 32, 64, 128)", shape->head_dim);
        return NULL;
    }
    AttnBackend *b = (AttnBackend *)calloc(1, sizeof *b);
    if (!b) { snprintf(err, errlen, "attention simple: out of host memory"); return NULL; }
    b->shape = *shape;
    return b;
}

static void simple_release(AttnBackend *b) {
    cudaFree(b->row_dot); // cudaFree(NULL) is a no-op
    cudaFree(b->key_end);
    b->row_dot = NULL;
    b->key_end = NULL;
    b->n_slots = 0;
}

static PbStatus simple_prepare(AttnBackend *b, const AttnMask *mask, AttnMemory *mem, char *err, size_t errlen) {
    simple_release(b);
    memset(mem, 0, sizeof *mem); // nothing lent: everything it uses is its own
    const Layout *l = mask->host;
    if (l->n_slots == 0 || l->n_slots > (size_t)INT_MAX / ATTN_WARPS) {
        snprintf(err, errlen, "attention simple: %zu token slots not supported", l->n_slots);
        return PB_ERROR;
    }
    b->mask = *mask;
    size_t row_dot_bytes = l->n_slots * (size_t)b->shape.n_head * sizeof(float);
    size_t key_end_bytes = l->n_slots * sizeof(int32_t);
    if (cudaMalloc((void **)&b->row_dot, row_dot_bytes) != cudaSuccess ||
        cudaMalloc((void **)&b->key_end, key_end_bytes) != cudaSuccess) {
        cudaGetLastError(); // clear the failed allocation from the last-error slot
        simple_release(b);
        snprintf(err, errlen, "attention simple: out of device memory (%zu bytes)", row_dot_bytes + key_end_bytes);
        return PB_NO_MEMORY;
    }
    cudaError_t e = cudaMemcpy(b->key_end, l->key_end, key_end_bytes, cudaMemcpyHostToDevice);
    if (e != cudaSuccess) {
        simple_release(b);
        snprintf(err, errlen, "attention simple: copy of key_end: %s", cudaGetErrorString(e));
        return PB_ERROR;
    }
    b->n_slots = l->n_slots;
    mem->held = row_dot_bytes + key_end_bytes;
    AttnMemory host;
    if (attn_memory("simple", &b->shape, l, NULL, &host) || host.held != mem->held || host.scratch[ATTN_FWD] ||
        host.scratch[ATTN_BWD]) {
        simple_release(b);
        snprintf(err, errlen, "attention simple: holds %zu bytes, attention/memory.c says %zu", mem->held, host.held);
        return PB_ERROR;
    }
    return PB_OK;
}

template <int D>
static void launch_forward(AttnBackend *b, const bf16 *q, const bf16 *k, const bf16 *v, bf16 *o, float *lse,
                           cudaStream_t s) {
    const int T = (int)b->n_slots, Hq = b->shape.n_head, Hkv = b->shape.n_kv_head;
    dim3 grid((unsigned)((T + ATTN_WARPS - 1) / ATTN_WARPS), (unsigned)Hq);
    attn_forward_kernel<D><<<grid, ATTN_THREADS, 0, s>>>(o, lse, q, k, v, b->mask.kv_lo, b->mask.shared_end,
                                                         b->mask.seg_lo, b->key_end, T, Hq, Hkv,
                                                         1.0f / sqrtf((float)D));
}

static PbStatus simple_forward(AttnBackend *b, const void *q, const void *k, const void *v, void *o, float *lse,
                          cudaStream_t stream, char *err, size_t errlen) {
    if (!b->n_slots) { snprintf(err, errlen, "attention simple: forward before prepare"); return PB_ERROR; }
    const bf16 *q_ = (const bf16 *)q, *k_ = (const bf16 *)k, *v_ = (const bf16 *)v;
    bf16 *o_ = (bf16 *)o;
    switch (b->shape.head_dim) {
    case 16: launch_forward<16>(b, q_, k_, v_, o_, lse, stream); break;
    case 32: launch_forward<32>(b, q_, k_, v_, o_, lse, stream); break;
    case 64: launch_forward<64>(b, q_, k_, v_, o_, lse, stream); break;
    case 128: launch_forward<128>(b, q_, k_, v_, o_, lse, stream); break;
    }
    return launch_status("forward", err, errlen);
}

template <int D>
static void launch_backward(AttnBackend *b, const bf16 *q, const bf16 *k, const bf16 *v, const bf16 *dout,
                            const float *lse, bf16 *dq, bf16 *dk, bf16 *dv, cudaStream_t s) {
    const int T = (int)b->n_slots, Hq = b->shape.n_head, Hkv = b->shape.n_kv_head;
    const float scale = 1.0f / sqrtf((float)D);
    dim3 grid_q((unsigned)((T + ATTN_WARPS - 1) / ATTN_WARPS), (unsigned)Hq);
    attn_backward_dq_kernel<D><<<grid_q, ATTN_THREADS, 0, s>>>(dq, q, k, v, dout, lse, b->row_dot, b->mask.kv_lo,
                                                               b->mask.shared_end, b->mask.seg_lo, b->key_end, T,
                                                               Hq, Hkv, scale);
    dim3 grid_k((unsigned)((T + ATTN_WARPS - 1) / ATTN_WARPS), (unsigned)Hkv);
    attn_backward_dkv_kernel<D><<<grid_k, ATTN_THREADS, 0, s>>>(dk, dv, q, k, v, dout, lse, b->row_dot,
                                                                b->mask.kv_lo, b->key_end, T, Hq, Hkv, scale);
}

static PbStatus simple_backward(AttnBackend *b, const void *q, const void *k, const void *v, const void *o,
                           const void *dout, const float *lse, void *dq, void *dk, void *dv, cudaStream_t stream,
                           char *err, size_t errlen) {
    if (!b->n_slots) { snprintf(err, errlen, "attention simple: backward before prepare"); return PB_ERROR; }
    const size_t rows = b->n_slots * (size_t)b->shape.n_head;
    const unsigned row_blocks = (unsigned)((rows + ATTN_WARPS - 1) / ATTN_WARPS);
    attn_row_dot_kernel<<<row_blocks, ATTN_THREADS, 0, stream>>>(b->row_dot, (const bf16 *)o, (const bf16 *)dout,
                                                                  rows, b->shape.head_dim);
    PbStatus rc = launch_status("row dot", err, errlen);
    if (rc != PB_OK) return rc;
    const bf16 *q_ = (const bf16 *)q, *k_ = (const bf16 *)k, *v_ = (const bf16 *)v, *do_ = (const bf16 *)dout;
    bf16 *dq_ = (bf16 *)dq, *dk_ = (bf16 *)dk, *dv_ = (bf16 *)dv;
    switch (b->shape.head_dim) {
    case 16: launch_backward<16>(b, q_, k_, v_, do_, lse, dq_, dk_, dv_, stream); break;
    case 32: launch_backward<32>(b, q_, k_, v_, do_, lse, dq_, dk_, dv_, stream); break;
    case 64: launch_backward<64>(b, q_, k_, v_, do_, lse, dq_, dk_, dv_, stream); break;
    case 128: launch_backward<128>(b, q_, k_, v_, do_, lse, dq_, dk_, dv_, stream); break;
    }
    return launch_status("backward", err, errlen);
}

static void simple_destroy(AttnBackend *b) {
    if (!b) return;
    simple_release(b);
    free(b);
}

static void simple_set_scratch(AttnBackend *, int, void *) {}

static void simple_describe(AttnBackend *, char *out, size_t len) { snprintf(out, len, "%s", ""); }

extern "C" const AttnOps attn_simple_ops = {
    "simple", simple_create, simple_prepare, simple_set_scratch, simple_forward, simple_backward, simple_describe,
    simple_release, simple_destroy,
};
