/*
 * elementwise.cu: small elementwise launchers: residual add, fp32 -> bf16 cast, seeded normal
 * fill, constant fill, zeroing of listed rows. Grid-stride loops with size_t indices.
 * fill_normal_bf16 is counter-based: element i gets Box-Muller of two uniforms drawn from a
 * splitmix64 hash of (seed, i), so the values never depend on the launch shape or the GPU;
 * fill_normal_bf16_at fills elements first .. first + n - 1 of that sequence (one slice of it).
 */
#include "common.cuh"

#define GRID_STRIDE(i, n) \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

template <int VEC>
__global__ void add_inplace_kernel(bf16_t *y, const bf16_t *x, size_t n_vec) {
    GRID_STRIDE(v, n_vec) {
        float a[VEC], b[VEC];
        load_bf16<VEC>(a, y + v * VEC);
        load_bf16<VEC>(b, x + v * VEC);
#pragma unroll
        for (int j = 0; j < VEC; j++) a[j] += b[j];
        store_bf16<VEC>(y + v * VEC, a);
    }
}

__global__ void cast_f32_to_bf16_kernel(bf16_t *out, const float *in, size_t n) {
    GRID_STRIDE(i, n) { reinterpret_cast<__nv_bfloat16 *>(out)[i] = __float2bfloat16_rn(in[i]); }
}

__device__ __forceinline__ uint64_t splitmix64_hash(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

__global__ void fill_normal_kernel(bf16_t *p, size_t n, uint64_t seed, size_t first, float mean, float std) {
    uint64_t key = splitmix64_hash(seed);
    GRID_STRIDE(i, n) {
        uint64_t r = splitmix64_hash(key ^ (uint64_t)(first + i) * 0xD1B54A32D192ED03ull);
        float u1 = ((float)(uint32_t)(r >> 40) + 1.0f) * 0x1.0p-24f; // (0, 1]
        float u2 = (float)(uint32_t)(r & 0xFFFFFFu) * 0x1.0p-24f;    // [0, 1)
        float z = sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
        reinterpret_cast<__nv_bfloat16 *>(p)[i] = __float2bfloat16_rn(mean + std * z);
    }
}

__global__ void fill_const_kernel(bf16_t *p, size_t n, float value) {
    __nv_bfloat16 v = __float2bfloat16_rn(value);
    GRID_STRIDE(i, n) { reinterpret_cast<__nv_bfloat16 *>(p)[i] = v; }
}

extern "C" void add_inplace(bf16_t *y, const bf16_t *x, size_t n, cudaStream_t s) {
    const int block = 256;
    size_t head = 0;
    if (is_aligned16(y) && is_aligned16(x) && n >= 8) {
        size_t n_vec = n / 8;
        head = n_vec * 8;
        add_inplace_kernel<8><<<grid_for(n_vec, block), block, 0, s>>>(y, x, n_vec);
        cudaCheckLaunch();
    }
    if (head < n) {
        add_inplace_kernel<1><<<grid_for(n - head, block), block, 0, s>>>(y + head, x + head, n - head);
        cudaCheckLaunch();
    }
}

extern "C" void cast_f32_to_bf16(bf16_t *out, const float *in, size_t n, cudaStream_t s) {
    if (n == 0) return;
    cast_f32_to_bf16_kernel<<<grid_for(n, 256), 256, 0, s>>>(out, in, n);
    cudaCheckLaunch();
}

extern "C" void fill_normal_bf16_at(bf16_t *p, size_t n, uint64_t seed, size_t first, float mean, float std,
                                   cudaStream_t s) {
    if (n == 0) return;
    fill_normal_kernel<<<grid_for(n, 256), 256, 0, s>>>(p, n, seed, first, mean, std);
    cudaCheckLaunch();
}

extern "C" void fill_normal_bf16(bf16_t *p, size_t n, uint64_t seed, float mean, float std, cudaStream_t s) {
    fill_normal_bf16_at(p, n, seed, 0, mean, std, s);
}

extern "C" void fill_const_bf16(bf16_t *p, size_t n, float value, cudaStream_t s) {
    if (n == 0) return;
    fill_const_kernel<<<grid_for(n, 256), 256, 0, s>>>(p, n, value);
    cudaCheckLaunch();
}
