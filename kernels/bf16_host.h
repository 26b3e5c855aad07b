/*
 * bf16_host.h: bf16 <-> fp32 on the host (bit patterns as uint16_t), for copying weights and
 * gradients out of the GPU step and for the tests' inputs and oracles. fp32 -> bf16 rounds to
 * nearest even, as the device's __float2bfloat16 does; NaN stays NaN.
 */
#ifndef PB_BF16_HOST_H
#define PB_BF16_HOST_H

#include <stdint.h>
#include <string.h>

static inline uint16_t bf16_from_float(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float bf16_to_float(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#endif
