/*
 * cross_entropy_scratch.h: the fused linear cross-entropy's scratch size, plain C (no CUDA), so
 * the size table can be evaluated where there is no GPU (`bench --list`, tests/cpu). The one
 * definition: kernels/cross_entropy.cu carves its scratch by the same lines.
 */
#ifndef PB_CROSS_ENTROPY_SCRATCH_H
#define PB_CROSS_ENTROPY_SCRATCH_H

#include <stddef.h>

static inline size_t ce_align256(size_t n) { return (n + 255) & ~(size_t)255; }

// Gathered hidden rows (chunk_rows, C) bf16, their gradient, and the chunk's logits (chunk_rows, V) bf16.
static inline size_t ce_rows_bytes(int chunk_rows, int C) { return ce_align256((size_t)chunk_rows * (size_t)C * 2); }
static inline size_t ce_scratch_bytes(int chunk_rows, int C, int V) {
    return 2 * ce_rows_bytes(chunk_rows, C) + ce_align256((size_t)chunk_rows * (size_t)V * 2);
}

#endif
