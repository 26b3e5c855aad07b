/*
 * cross_entropy.h: fused linear cross-entropy over loss pairs (the role Cut Cross-Entropy
 * plays in the reference). Rows are processed in chunks: gather the chunk's hidden rows,
 * logits = H W^T for the chunk only, softmax + NLL + dlogits in place, dH = dlogits W,
 * dW += dlogits^T H, then add dH into dhidden at the chunk's rows. Never a (rows x V) tensor.
 */
#ifndef PB_CROSS_ENTROPY_H
#define PB_CROSS_ENTROPY_H

#include "matmul.h"

#ifdef __cplusplus
extern "C" {
#endif

// Device scratch the fused op needs for a chunk of chunk_rows rows.
size_t fused_ce_scratch_bytes(int chunk_rows, int C, int V);

// loss (device, one double) = sum_i weights[i] NLL(hidden[rows[i]] W^T, targets[i]) (weights NULL:
// all 1; a weight is the number of paths one loss pair stands for, layout.h) (set, not accumulated:
// zeroed on the stream first; the caller need not clear it);
// dhidden (T, C) += gradient at rows (rows sorted, may repeat: see layout.h);
// dw (V, C) = gradient (overwritten). scratch: fused_ce_scratch_bytes(chunk_rows, C, V) bytes.
void fused_linear_cross_entropy(Matmul *mm, double *loss, bf16_t *dhidden, bf16_t *dw, const bf16_t *hidden,
                                const bf16_t *w, const int32_t *rows, const int32_t *targets, const int32_t *weights,
                                int n_loss, int C, int V, int chunk_rows, void *scratch, cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif
