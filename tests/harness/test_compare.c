/*
 * test_compare.c: verdicts on crafted numbers and crafted CSVs: equal within noise -> SAME and
 * exit 0; a 20% slowdown -> SLOWER and exit 1; a missing time or too much noise -> unknown;
 * garbage -> exit 2; the reference CSV against itself -> SAME. argv[1]: source root.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness/compare.h"
#include "../test_util.h"



static StrategyResult timed(double ms, double iqr) {
    StrategyResult s = { .ms = ms, .iqr_ms = iqr, .min_ms = NAN, .loss = NAN };
    return s;
}

// Runs compare_main on two data files; returns the exit code, the report in out.
static int run_compare(const char *root, const char *base, const char *nw, const char *threshold, char *out, size_t len) {
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/tests/harness/data/%s", root, base);
    snprintf(b, sizeof b, "%s/tests/harness/data/%s", root, nw);
    char *argv[4] = { a, b, "--threshold", (char *)threshold };
    FILE *fp = tmpfile();
    int rc = compare_main(threshold ? 4 : 2, argv, fp);
    rewind(fp);
    size_t n = fread(out, 1, len - 1, fp);
    out[n] = '\0';
    fclose(fp);
    return rc;
}

int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : ".";
    double r;
    StrategyResult a = timed(100, 1), b = timed(104, 1), slow = timed(120, 1), fast = timed(80, 1);
    StrategyResult none = timed(NAN, NAN), noisy = timed(100, 20), nospread = timed(100, NAN);
    CHECK(compare_strategy(&a, &b, 0.05, &r) == VERDICT_SAME && fabs(r - 1.04) < 1e-12, "same %g", r);
    CHECK(compare_strategy(&a, &slow, 0.05, &r) == VERDICT_SLOWER && fabs(r - 1.2) < 1e-12, "slower");
    CHECK(compare_strategy(&a, &fast, 0.05, &r) == VERDICT_FASTER, "faster");
    CHECK(compare_strategy(&a, &none, 0.05, &r) == VERDICT_UNKNOWN && isnan(r), "missing new");
    CHECK(compare_strategy(&none, &a, 0.05, &r) == VERDICT_UNKNOWN, "missing base");
    CHECK(compare_strategy(&none, &none, 0.05, &r) == VERDICT_NONE, "neither");
    CHECK(compare_strategy(&noisy, &slow, 0.05, &r) == VERDICT_UNKNOWN, "noise above the threshold");
    CHECK(compare_strategy(&noisy, &slow, 0.25, &r) == VERDICT_SAME, "wide threshold");
    CHECK(compare_strategy(&nospread, &slow, 0.05, &r) == VERDICT_SLOWER, "no spread known: judged by the ratio");
    // beyond the noise, a verdict however noisy (the CPU timings of test_gpu_regress: 10x apart, 25-50% spread)
    StrategyResult tenfold = timed(1000, 300), tenth = timed(10, 3);
    CHECK(compare_strategy(&noisy, &tenfold, 0.05, &r) == VERDICT_SLOWER, "10x slower, 30%% noise");
    CHECK(compare_strategy(&noisy, &tenth, 0.05, &r) == VERDICT_FASTER, "10x faster, 30%% noise");

    ResultRow *x = malloc(sizeof *x), *y = malloc(sizeof *y);
    results_row_init(x);
    results_row_init(y);
    double ratios[STRATEGY_COUNT];
    CHECK(compare_cell(x, y, 0.05, ratios) == VERDICT_UNKNOWN, "empty cell must be unknown");
    x->s[0] = a; y->s[0] = b; x->s[2] = a; y->s[2] = fast;
    CHECK(compare_cell(x, y, 0.05, ratios) == VERDICT_FASTER, "cell faster");
    y->s[1] = a;
    CHECK(compare_cell(x, y, 0.05, ratios) == VERDICT_UNKNOWN, "cell with a one-sided strategy");
    y->s[1] = none; y->s[0] = slow;
    CHECK(compare_cell(x, y, 0.05, ratios) == VERDICT_SLOWER, "cell slower wins");
    free(x);
    free(y);

    char out[16384];
    CHECK(run_compare(root, "base.csv", "same.csv", NULL, out, sizeof out) == 0 && strstr(out, "2 SAME"), "equal: %s", out);
    CHECK(run_compare(root, "base.csv", "slow20.csv", NULL, out, sizeof out) == 1 && strstr(out, "SLOWER") &&
          strstr(out, "1 SLOWER"), "20%% slower: %s", out);
    CHECK(run_compare(root, "base.csv", "slow20.csv", "25", out, sizeof out) == 0, "20%% within a 25%% threshold");
    CHECK(run_compare(root, "base.csv", "missing.csv", NULL, out, sizeof out) == 0 && strstr(out, "1 unknown"), "missing: %s", out);
    CHECK(run_compare(root, "base.csv", "noisy.csv", NULL, out, sizeof out) == 0 && strstr(out, "1 unknown"), "noisy: %s", out);
    CHECK(run_compare(root, "base.csv", "garbage.csv", NULL, out, sizeof out) == 2, "garbage");
    CHECK(run_compare(root, "base.csv", "badnumber.csv", NULL, out, sizeof out) == 2, "bad number");
    CHECK(run_compare(root, "base.csv", "base.csv", "x", out, sizeof out) == 2, "bad threshold");
    CHECK(run_compare(root, "reference_nll_2_qwen7b.csv", "reference_nll_2_qwen7b.csv", NULL, out, sizeof out) == 0 && strstr(out, "64 SAME"),
          "reference against itself: %s", out);
    printf("test_compare: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
