/*
 * attn_memory.h: what an attention backend will hold on the device for a layout, computed on
 * the host without a GPU (plain C; builds without CUDA). gpu/memory_plan.c plans the step from
 * these figures, `bench plan` prints them, and each backend's prepare() checks that what it
 * allocates is exactly this (attention.h).
 *
 * held: the backend's own allocations, from prepare to release (plans' length and offset
 * tensors, the simple backend's row-dot buffer). scratch[ATTN_FWD] / scratch[ATTN_BWD]: what
 * the caller lends while one forward / backward call runs (contents not kept between calls).
 *
 * The one figure the host cannot know is the cuDNN workspace: it comes from the execution plan
 * cuDNN picks at run time. The host reserves ATTN_CUDNN_WORKSPACE_RESERVE bytes for it in each
 * scratch, and for a padded (BSHD) call what cuDNN 9.14's engine was seen to ask on the H200: an
 * fp32 (slots, Hq, D) buffer over the call's slots, exactly n_slots * Hq * D * 4 bytes at 6144,
 * 15360, 49152, 73728 and 99072 slots (results/memory_plan.csv; one whole call, so whether the
 * forward or the backward plan asked is not known: the host plans it for both, over the slots
 * each pass's call covers). When a plan asks for more, prepare reports the larger figure and the
 * step plans with it (`bench plan` on a GPU shows the difference), so the GPU's plan is always
 * exact.
 */
#ifndef PB_ATTN_MEMORY_H
#define PB_ATTN_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "../strategies/layout.h"
#include "prefix_path.h"

#define ATTN_CUDNN_WORKSPACE_RESERVE ((size_t)16 << 20)

typedef struct AttnShape {
    int n_head;     // Hq
    int n_kv_head;  // Hkv
    int head_dim;   // D
} AttnShape;

// The cuDNN workspace the host plans for one call of a layout's strategy over `slots` token slots
// in a pass (ATTN_FWD / ATTN_BWD; 256-byte aligned): the reserve, or for a padded call the
// engine's measured fp32 (slots, Hq, D) buffer where that is larger, and in the backward
// ATTN_CUDNN_PADDED_BWD_EXTRA more (cuDNN 9.14 on the H200 asked exactly that much more at every
// padded backward of results/runs/*_d78e661: 6144 to 466944 slots, whole and in parts).
#define ATTN_CUDNN_PADDED_BWD_EXTRA ((size_t)256)
size_t attn_cudnn_workspace_floor(const AttnShape *sh, Strategy s, size_t slots, int pass);

enum { ATTN_FWD, ATTN_BWD };

typedef struct AttnMemory {
    size_t held;        // bytes the backend allocates itself (kept from prepare to release)
    size_t scratch[2];  // bytes lent per forward / backward call, 256-byte aligned parts
    size_t workspace[2]; // the cuDNN workspace share of each pass's scratch (0 for simple)
} AttnMemory;

/* The cuDNN backend's choices the figures depend on: its prefix / tree forward
 * (AttnOptions.prefix: prefix_path.h), how tight its parts are (AttnMask.tight_parts, below) and,
 * for tests, the padded backward's rows per part forced (AttnOptions.padded_part_rows). */
#define ATTN_TIGHT_LEVELS 4 // tight: 0 (few parts) .. ATTN_TIGHT_LEVELS - 1
typedef struct AttnMemoryAsk {
    AttnPrefixMode prefix;
    int tight;            // 0: few parts; 1 .. ATTN_TIGHT_LEVELS - 1: tight, at that level (below)
    int padded_part_rows; // > 0: the padded backward in parts of at most this many rows (the
                          // largest divisor of the row count not above it); 0: by `tight`
} AttnMemoryAsk;

// ask NULL: the defaults (auto, not tight). 0, or -1 for an unknown
// backend name or out of host memory.
int attn_memory(const char *backend, const AttnShape *shape, const Layout *l, const AttnMemoryAsk *ask, AttnMemory *out);

/* The cuDNN backend runs its ragged calls that have a backward (packed: whole; prefix and tree:
 * the depth calls, prefix_path.h) in parts of consecutive sequences: one plan, executed once
 * per part with its pointers moved to the part's first token, so that the buffers a backward call
 * needs (fp32 dQ accumulator, softmax sums, per-head dK/dV, the deeper depths' dq and, merged
 * forward, o and lse) cover one part's
 * tokens, not all slots. A part holds as many sequences as fit in ATTN_CUDNN_PART_TOKENS tokens
 * (at least one; a divisor of the count, so one plan serves every part); `tight` parts are
 * fewer sequences each, as long as the backward's buffers would need more than the padded
 * layout's (attention/memory.c). Tight parts cost more calls, so the step's memory plan asks for
 * them only where they lower its peak (gpu/memory_plan.c).
 *
 * The ragged calls' tight parts are the same at every tight level. The padded layout's one BSHD
 * call needs no per-sequence bound, so its few parts are one: the whole call, forward and
 * backward. Tight, its backward runs in parts of consecutive rows, so that the engine's
 * workspace, the softmax sums and the fp32 dQ accumulator cover one part's rows: at level k the
 * k-th largest divisor of the row count below it (one row where there are fewer); the forward
 * stays one call (its scratch is not at the step's peak, which is in a backward). The step's plan
 * takes the level with the lowest peak, ties to the lower level (fewer calls). Recorded as
 * part[ATTN_PARTED_WHOLE] (rows per part) and span (the part's slots). */
#define ATTN_CUDNN_PART_TOKENS 16384

// The calls in parts: whole, then one per depth of the node tree (depth d: ATTN_PARTED_DEPTH + d).
enum { ATTN_PARTED_WHOLE, ATTN_PARTED_DEPTH, ATTN_PARTED_COUNT = ATTN_PARTED_DEPTH + PB_MAX_DEPTH };

/* One part's extent in tokens, from its first query / key to its last: what its buffers cover. */
typedef struct AttnPartSpan { int64_t q, kv; } AttnPartSpan;

typedef struct AttnParts {
    int part[ATTN_PARTED_COUNT];          // sequences per part; 0: the call does not exist here
    AttnPartSpan span[ATTN_PARTED_COUNT]; // its largest part's span
} AttnParts;

// The parts of the cuDNN backend's calls for this layout (padded: rows per backward part). 0 or -1
// (host memory).
int attn_cudnn_parts(const AttnShape *sh, const Layout *l, const AttnMemoryAsk *ask, AttnParts *out);

#endif
