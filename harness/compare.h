/*
 * compare.h: `bench compare BASE.csv NEW.csv [--threshold PCT]` (nvbench's compare, for our
 * CSV and the reference one). Cells are matched by model, lengths, counts (and exact lengths
 * where both files have them); per cell and strategy the time ratio NEW/BASE, its geometric
 * mean per strategy, and a verdict per cell: FASTER / SLOWER / SAME within the threshold, or
 * unknown when a side lacks the time or the noise (IQR / median) exceeds the threshold.
 */
#ifndef PB_COMPARE_H
#define PB_COMPARE_H

#include <stdio.h>

#include "results.h"

typedef enum Verdict { VERDICT_NONE, VERDICT_SAME, VERDICT_FASTER, VERDICT_UNKNOWN, VERDICT_SLOWER } Verdict;

const char *verdict_name(Verdict v); // "-", "SAME", "FASTER", "unknown", "SLOWER"

// One strategy of one cell. *ratio: NEW/BASE time (NaN when a side lacks it).
Verdict compare_strategy(const StrategyResult *base, const StrategyResult *nw, double threshold, double *ratio);
// The cell's verdict: SLOWER if any strategy is, else unknown if any is (or none compared),
// else FASTER if any is, else SAME.
Verdict compare_cell(const ResultRow *base, const ResultRow *nw, double threshold, double ratios[STRATEGY_COUNT]);

// The whole command: argv after "compare". Prints the report on out, errors on stderr.
// Returns the exit code: 0 no cell slower, 1 some cell slower, 2 bad input.
int compare_main(int argc, char **argv, FILE *out);

#endif
