/*
 * sweep.h: the cells of a sweep. A cell is B prompts with K completions each and the exact
 * length of every prompt and completion: a grid cell gives them all the same lengths, a
 * random cell draws each one (seeded by the sweep seed and the cell index, so a cell's
 * lengths do not depend on --shard or --resume). Selection: --shard i/n keeps cells with
 * index % n == i; --resume drops cells already in the output CSV.
 */
#ifndef PB_SWEEP_H
#define PB_SWEEP_H

#include <stddef.h>
#include <stdint.h>

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
} Cell;

typedef struct CellList { int n; Cell *cells; } CellList;

// All cells of a sweep (prompts and completions as in s). 0 or -1 with err.
int sweep_cells(const SweepConfig *s, CellList *out, char *err, size_t errlen);
// Cells from "--cells 512x512,2048x128": prompt x completion lengths. 0 or -1 with err.
int sweep_cells_parse(const char *spec, int prompts, int k, CellList *out, char *err, size_t errlen);
void cells_free(CellList *l);

// "i/n" with 0 <= i < n. 0 or -1.
int shard_parse(const char *s, int *i, int *n);
int cell_in_shard(const Cell *c, int shard_i, int shard_n);
// Whether rows (an existing output CSV) already hold this cell of this model.
int cell_done(const Cell *c, const char *model, const ResultRow *rows, size_t n);
// The exact lengths as the CSV writes them ("" for grid cells): space separated.
void cell_lens_text(const Cell *c, char *prompts, size_t n1, char *comps, size_t n2);

#endif
