/*
 * embedding_csr.h: the embedding backward's CSR of a layout, built on the host (plain C, tested
 * without CUDA through the step): the unique tokens ascending, each with the slots that hold it,
 * so the GPU adds each token's rows without atomics.
 */
#ifndef PB_EMBEDDING_CSR_H
#define PB_EMBEDDING_CSR_H

#include <stdint.h>

#include "../strategies/layout.h"

#ifdef __cplusplus
extern "C" {
#endif

// uniq_tok[n], uniq_off[n + 1] and slots[n_real]: the number of unique tokens n, or -1 (out of
// host memory, or the layout's real slots are not n_real).
int build_embedding_csr(const Layout *l, int V, int32_t *uniq_tok, int32_t *uniq_off, int32_t *slots);

#ifdef __cplusplus
}
#endif

#endif
