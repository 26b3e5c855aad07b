/*
 * test_bf16.c: the host bf16 conversions (kernels/bf16_host.h) that every GPU test and the GPU
 * step's params()/grads() copies rely on: round to nearest even at the exact halfway points,
 * carry into the exponent, infinities kept, NaN kept NaN, and every non-NaN bf16 value
 * surviving bf16 -> fp32 -> bf16 unchanged.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../kernels/bf16_host.h"

static int fails = 0;

static float from_bits(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }

static void expect(uint32_t in, uint16_t want, const char *what) {
    uint16_t got = bf16_from_float(from_bits(in));
    if (got != want) { printf("FAIL: %s: 0x%08x -> 0x%04x, want 0x%04x\n", what, in, got, want); fails++; }
}

int main(void) {
    expect(0x3f800000u, 0x3f80, "1.0 exact");
    expect(0x3f808000u, 0x3f80, "halfway, even below: down");
    expect(0x3f818000u, 0x3f82, "halfway, odd below: up");
    expect(0x3f808001u, 0x3f81, "above halfway: up");
    expect(0x3f807fffu, 0x3f80, "below halfway: down");
    expect(0x3fffffffu, 0x4000, "carry into the exponent");
    expect(0xbf818000u, 0xbf82, "negative halfway, odd below");
    expect(0x7f800000u, 0x7f80, "+inf");
    expect(0xff800000u, 0xff80, "-inf");
    if (!isnan(bf16_to_float(bf16_from_float(NAN)))) { printf("FAIL: NaN lost\n"); fails++; }
    if (!isnan(bf16_to_float(bf16_from_float(from_bits(0x7f800001u))))) { printf("FAIL: low-mantissa NaN became inf\n"); fails++; }
    size_t bad = 0;
    for (uint32_t b = 0; b < 65536; b++) {
        float f = bf16_to_float((uint16_t)b);
        if (!isnan(f) && bf16_from_float(f) != b) bad++;
    }
    if (bad) { printf("FAIL: %zu bf16 values do not round-trip\n", bad); fails++; }
    printf("test_bf16: %d failure(s)\n", fails);
    return fails != 0;
}
