/*
 * dev_cells.h: the preamble of the dev programs that read a model and a sweep from their two
 * arguments (dev_ideal, dev_tree_calls): usage check, configs, the sweep's cells.
 */
#ifndef PB_DEV_CELLS_H
#define PB_DEV_CELLS_H

#include <stdio.h>

#include "../../harness/config.h"
#include "../../harness/sweep.h"

// 0, or 2 (usage or config error) with one line on stderr naming `what`.
static inline int dev_load_cells(int argc, char **argv, const char *what, ModelConfig *m, SweepConfig *s,
                                 CellSource *cells) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.conf SWEEP.conf\n", argv[0]);
        return 2;
    }
    char err[600];
    if (config_load_model(argv[1], m, err, sizeof err) || config_load_sweep(argv[2], s, err, sizeof err) ||
        cells_from_sweep(s, cells, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", what, err);
        return 2;
    }
    return 0;
}

#endif
