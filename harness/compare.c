// compare.c: matched cells, NEW/BASE ratios, verdicts and geometric means (see compare.h).
#include "compare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quote.h"

const char *verdict_name(Verdict v) {
    static const char *const names[] = { "-", "SAME", "FASTER", "unknown", "SLOWER" };
    return names[v];
}

static double noise_of(const StrategyResult *s) {
    return (isfinite(s->iqr_ms) && s->ms > 0) ? s->iqr_ms / s->ms : 0.0; // unknown spread: none
}

Verdict compare_strategy(const StrategyResult *base, const StrategyResult *nw, double threshold, double *ratio) {
    int hb = base->ms > 0, hn = nw->ms > 0; // NaN compares false: a missing time
    *ratio = NAN;
    if (!hb && !hn) return VERDICT_NONE;
    if (!hb || !hn) return VERDICT_UNKNOWN;
    *ratio = nw->ms / base->ms;
    if (!isfinite(*ratio) || *ratio == 0) { *ratio = NAN; return VERDICT_UNKNOWN; } // beyond double range
    // A difference beyond both the threshold and the noise is a verdict, however noisy the runs
    // (a step 10x slower with 30% spread is slower); within the noise it is unknown when the
    // noise exceeds the threshold, else SAME.
    double noise = fmax(noise_of(base), noise_of(nw)), band = fmax(threshold, noise);
    if (*ratio > 1.0 + band) return VERDICT_SLOWER;
    if (*ratio < 1.0 - band) return VERDICT_FASTER;
    if (noise > threshold) return VERDICT_UNKNOWN;
    return VERDICT_SAME;
}

Verdict compare_cell(const ResultRow *base, const ResultRow *nw, double threshold, double ratios[STRATEGY_COUNT]) {
    int any[VERDICT_SLOWER + 1] = {0};
    for (int s = 0; s < STRATEGY_COUNT; s++) any[compare_strategy(&base->s[s], &nw->s[s], threshold, &ratios[s])]++;
    if (any[VERDICT_SLOWER]) return VERDICT_SLOWER;
    if (any[VERDICT_UNKNOWN] || !(any[VERDICT_SAME] + any[VERDICT_FASTER])) return VERDICT_UNKNOWN;
    if (any[VERDICT_FASTER]) return VERDICT_FASTER;
    return VERDICT_SAME;
}

static int usage(void) {
    fprintf(stderr, "usage: bench compare BASE.csv NEW.csv [--threshold PCT]   (PCT default 5)\n");
    return 2;
}

static int parse_threshold(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || (*end && strcmp(end, "%")) || !(v >= 0) || v >= 100) return -1;
    *out = v / 100.0;
    return 0;
}

int compare_main(int argc, char **argv, FILE *out) {
    const char *files[2] = {0};
    int n_files = 0;
    double threshold = 0.05;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--threshold") && i + 1 < argc) {
            if (parse_threshold(argv[++i], &threshold)) {
                char q[PB_QUOTE_BUF];
                fprintf(stderr, "bench compare: bad --threshold %s (percent, 0..100)\n", pb_quote(argv[i], PB_QUOTE_VALUE, q, sizeof q));
                return 2;
            }
        } else if (!strncmp(argv[i], "--threshold=", 12)) {
            if (parse_threshold(argv[i] + 12, &threshold)) {
                char q[PB_QUOTE_BUF];
                fprintf(stderr, "bench compare: bad --threshold %s (percent, 0..100)\n", pb_quote(argv[i] + 12, PB_QUOTE_VALUE, q, sizeof q));
                return 2;
            }
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 0;
        } else if (argv[i][0] == '-' || n_files == 2) {
            char q[PB_QUOTE_BUF];
            fprintf(stderr, "bench compare: unexpected argument %s\n", pb_quote(argv[i], PB_QUOTE_VALUE, q, sizeof q));
            return usage();
        } else {
            files[n_files++] = argv[i];
        }
    }
    if (n_files != 2) return usage();

    ResultRow *rows[2] = {0};
    size_t n[2] = {0};
    char err[600];
    char shown[2][PB_QUOTE_BUF];
    for (int f = 0; f < 2; f++) {
        pb_escape(files[f], PB_QUOTE_PATH, shown[f], sizeof shown[f]);
        if (results_read(files[f], &rows[f], &n[f], err, sizeof err) ||
            results_check_figures(shown[f], rows[f], n[f], err, sizeof err)) {
            fprintf(stderr, "bench compare: %s\n", err);
            results_rows_free(rows[0], n[0]);
            if (f == 1) results_rows_free(rows[1], n[1]);
            return 2;
        }
    }

    fprintf(out, "compare NEW %s against BASE %s (threshold %.1f%%): time ratio NEW/BASE\n\n", shown[1], shown[0], 100 * threshold);
    fprintf(out, "%-34s %-16s %-16s %-16s %-16s %s\n", "cell (model prompt x completion)", "padded", "packed", "prefix",
            "tree", "verdict");
    double log_sum[STRATEGY_COUNT] = {0};
    int log_n[STRATEGY_COUNT] = {0}, counts[VERDICT_SLOWER + 1] = {0}, only_new = 0;
    char *matched = calloc(n[0] + 1, 1);
    for (size_t j = 0; j < n[1]; j++) {
        const ResultRow *nw = &rows[1][j], *base = NULL;
        for (size_t i = 0; i < n[0] && !base; i++)
            if (!matched[i] && results_same_cell(&rows[0][i], nw)) { base = &rows[0][i]; matched[i] = 1; }
        if (!base) { only_new++; continue; }
        double ratios[STRATEGY_COUNT];
        Verdict v = compare_cell(base, nw, threshold, ratios);
        counts[v]++;
        char cell[64], col[STRATEGY_COUNT][32];
        snprintf(cell, sizeof cell, "%.16s %dx%d K%d B%d", nw->model, nw->prompt_len, nw->completion_len,
                 nw->num_completions, nw->batch_size);
        for (int s = 0; s < STRATEGY_COUNT; s++) {
            double r;
            Verdict vs = compare_strategy(&base->s[s], &nw->s[s], threshold, &r);
            if (isfinite(ratios[s])) {
                snprintf(col[s], sizeof col[s], ratios[s] < 1e4 && ratios[s] > 1e-3 ? "%.3f %s" : "%.3e %s", ratios[s],
                         vs == VERDICT_SAME ? "" : verdict_name(vs));
                log_sum[s] += log(ratios[s]);
                log_n[s]++;
            } else {
                snprintf(col[s], sizeof col[s], "%s", vs == VERDICT_NONE ? "-" : "unknown");
            }
        }
        fprintf(out, "%-34s %-16s %-16s %-16s %-16s %s\n", cell, col[0], col[1], col[2], col[3], verdict_name(v));
    }
    int only_base = 0;
    for (size_t i = 0; i < n[0]; i++) only_base += !matched[i];
    free(matched);
    fprintf(out, "\n%-34s", "geometric mean NEW/BASE");
    for (int s = 0; s < STRATEGY_COUNT; s++) {
        char g[32] = "-";
        double gm = log_n[s] ? exp(log_sum[s] / log_n[s]) : 0;
        if (log_n[s]) snprintf(g, sizeof g, gm < 1e4 && gm > 1e-3 ? "%.3f (%d)" : "%.3e (%d)", gm, log_n[s]);
        fprintf(out, " %-16s", g);
    }
    int matched_n = counts[VERDICT_SAME] + counts[VERDICT_FASTER] + counts[VERDICT_UNKNOWN] + counts[VERDICT_SLOWER];
    fprintf(out, "\ncells: %d matched: %d FASTER, %d SLOWER, %d SAME, %d unknown; only in BASE %d, only in NEW %d\n",
            matched_n, counts[VERDICT_FASTER], counts[VERDICT_SLOWER], counts[VERDICT_SAME], counts[VERDICT_UNKNOWN],
            only_base, only_new);
    results_rows_free(rows[0], n[0]);
    results_rows_free(rows[1], n[1]);
    if (matched_n == 0) {
        fprintf(stderr, "bench compare: no cell of %s matches a cell of %s\n", shown[1], shown[0]);
        return 2;
    }
    return counts[VERDICT_SLOWER] ? 1 : 0;
}
