/*
 * sweep.h: the cells of a sweep. A cell is B prompts with K completions each and the exact
 * length of every prompt and completion: a grid cell gives them all the same lengths, a
 * random cell draws each one (seeded by the sweep seed and the cell index, so a cell's
 * lengths do not depend on --shard or --resume). Cells are made one at a time when they are
 * run (cell_make), never all up front: a sweep of 2^20 cells of 2^16 prompts costs one cell's
 * lengths. Selection: --shard i/n keeps cells with index % n == i; --resume drops cells
 * already in the output CSV (measured with the same settings, see resume.h).
 */
#ifndef PB_SWEEP_H
#define PB_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include "../strategies/forest.h"
#include "../strategies/layout_estimate.h"
#include "config.h"
#include "results.h"

typedef struct Cell {
    int index;            // position in the sweep
    int prompts, k;       // B, K
    int prompt_len;       // nominal: the grid value, or the rounded mean of a random cell
    int completion_len;
    int random;           // 1: lengths differ (written to the CSV's prompt_lens/completion_lens)
    int32_t *prompt_lens; // [B]
    int32_t *comp_lens;   // [B*K], group-major
    /* A forest cell (kind tree, --lengths): n_segs > 0 and the structure below; prompt_lens and
     * comp_lens are NULL. Its nominal numbers for the CSV: prompts = roots, k = paths per root
     * (rounded), prompt_len = mean path length without its leaf, completion_len = mean leaf. */
    int n_segs;
    int32_t *seg_len, *seg_parent;
    uint8_t *seg_loss;
} Cell;

// Where cells come from: a sweep config or a --cells list; no cell is materialised here.
typedef struct CellSource {
    int n;                   // cells
    int prompts, k;          // B, K (after the command line's overrides)
    SweepKind kind;
    int n_completion_lens;   // grid: cell i is (plens[i / n_completion_lens], clens[i % ...])
    int *plens, *clens;      // grid lists; --cells: one pair per cell (n_completion_lens = 1)
    int explicit_cells;      // 1: from --cells
    int min_len, max_len;    // random
    uint64_t seed;
    SweepConfig tree;        // kind tree: its levels (config.h)
    Cell *forests;           // --lengths: the file's cells, made when it is read (lengths.h)
} CellSource;

// From a sweep config (prompts and completions as in s). 0 or -1 with err.
int cells_from_sweep(const SweepConfig *s, CellSource *out, char *err, size_t errlen);
// From "--cells 512x512,2048x128": prompt x completion lengths. 0 or -1 with err (one line).
int cells_from_spec(const char *spec, int prompts, int k, CellSource *out, char *err, size_t errlen);
// From the forest cells of a --lengths file (taken over: src frees them).
void cells_from_forests(Cell *cells, int n, CellSource *out);
void cells_source_free(CellSource *src);

// The largest layout a cell of src can need is the padded one: B*K rows of its longest
// prompt + completion. 0 when that is at most PB_MAX_SLOTS for every cell (in 64 bits), else
// -1 with a line naming the largest cell. *max_p, *max_c (may be NULL): its lengths.
int cells_check_size(const CellSource *src, int *max_p, int *max_c, char *err, size_t errlen);

// Cell index of src (0 <= index < src->n) with its lengths allocated. 0, or -1 (out of memory).
int cell_make(const CellSource *src, int index, Cell *out);
// A cell with every prompt p and every completion c long (the worst case of a random sweep).
int cell_make_uniform(int index, int prompts, int k, int p, int c, Cell *out);
void cell_free(Cell *c);
// A forest cell from its segments (copied); fills the nominal numbers. 0 or -1 with err.
int cell_set_forest(Cell *c, int n, const int32_t *len, const int32_t *parent, const uint8_t *loss, char *err,
                    size_t errlen);
/* The cell's batch with token ids seeded by seed: a forest cell's segments, or a group cell's
 * ids as groups_make draws them, as its depth-2 forest. 0, or -1 with a reason in why. */
int cell_batch(const Cell *c, int vocab, uint64_t seed, Forest *f, char *why, size_t n);
// What the cell's layout of strategy s will hold (layout_estimate.h), nothing built. 0 or -1.
int cell_estimate(const Cell *c, Strategy s, LayoutCounts *out);
// A forest cell's segments as "len:parent:loss", space separated, malloc'd (NULL for group
// cells). 0, or -1 out of memory.
int cell_forest_text(const Cell *c, char **out);

// "i/n" with 0 <= i < n. 0 or -1.
int shard_parse(const char *s, int *i, int *n);
int cell_in_shard(const Cell *c, int shard_i, int shard_n);
// The exact lengths as the CSV writes them (NULL strings for grid cells): space separated,
// malloc'd (free both). 0, or -1 out of memory.
int cell_lens_text(const Cell *c, char **prompts, char **comps);
// Fills the key columns of row (model, lengths, counts, exact lengths) from the cell.
int cell_row_key(const Cell *c, const char *model, ResultRow *row);

#endif
