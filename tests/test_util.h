/*
 * test_util.h: what every test program shares: CHECK, which counts a failure and prints where
 * (the first 30 of them), test_finish for the closing line and exit status, and the one random
 * group builder. One test program is one translation unit, so the counter is file-static.
 */
#ifndef PB_TEST_UTIL_H
#define PB_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>

#include "../core/rng.h"
#include "../strategies/layout.h"

static int failures;

#define CHECK(cond, ...) do { if (!(cond)) { if (++failures <= 30) { printf("FAIL %s:%d: ", __FILE__, __LINE__); \
    printf(__VA_ARGS__); printf("\n"); } } } while (0)

// "NAME: N failure(s)"; the exit status (0 or 1).
static inline int test_finish(const char *name) {
    printf("%s: %d failure(s)\n", name, failures);
    return failures ? 1 : 0;
}

// B <= 16 groups of K completions, prompt lengths in [1, max_p], completion lengths in
// [1, max_c], drawn from len_seed; token ids from token_seed. 0, or -1 (bad sizes, no memory).
static inline int test_random_groups(GroupBatch *g, int B, int K, int max_p, int max_c, int vocab,
                                     uint64_t len_seed, uint64_t token_seed) {
    int32_t pl[16], cl[16 * PB_MAX_COMPLETIONS];
    if (B < 1 || B > 16 || K < 1 || K > PB_MAX_COMPLETIONS) return -1;
    Rng r;
    rng_seed(&r, len_seed);
    for (int b = 0; b < B; b++) pl[b] = (int32_t)rng_range(&r, 1, max_p);
    for (int i = 0; i < B * K; i++) cl[i] = (int32_t)rng_range(&r, 1, max_c);
    return groups_make(g, B, K, pl, cl, vocab, token_seed);
}

#endif
