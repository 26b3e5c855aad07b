/*
 * lengths.h: a user's own batches as cells (--lengths FILE.csv). One row per segment:
 *
 *     batch,id,parent,length,loss
 *     0,0,,1024,0          a root (parent empty or -1)
 *     0,1,0,300,1          a child of segment 0 of batch 0; its tokens carry loss
 *
 * A header line starting with "batch" is optional. Each batch (in order of first appearance)
 * is one cell; ids are unique within a batch, parents name an id of the same batch, rows may
 * come in any order. Ids and parents are integers; length 1..2^24; loss 0 or 1; at most
 * PB_LENGTHS_MAX_ROWS segments in a file (grouping and parent lookup are quadratic in the worst
 * case: the bound keeps a hostile file to about a second of work).
 */
#ifndef PB_LENGTHS_H
#define PB_LENGTHS_H

#include <stddef.h>
#include <stdio.h>

#include "sweep.h"

#define PB_LENGTHS_MAX_ROWS 32768

// The file's batches as the cells of out (sweep.h cells_from_forests). 0, or -1 with one line
// in err ("FILE:LINE: ..." or "FILE: batch N: ...").
int lengths_read(const char *path, CellSource *out, char *err, size_t errlen);
// The same from an open stream (the fuzz target's entry); path names it in messages.
int lengths_read_stream(FILE *fp, const char *path, CellSource *out, char *err, size_t errlen);

#endif
