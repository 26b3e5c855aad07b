#!/bin/sh
# test_summary.sh: plot/summary.sh against numbers worked out by hand. The data:
# - data/summary_grid.csv: four rows of a real bench sweep (results/runs/nll_2_qwen7b_01453bd
#   _partial.csv) with round numbers written into the columns summary reads: 128x128 at its
#   FLOP ideal, 512x512 at 0.926 of it (1.25 / 1.35), 128x4096 with prefix slower than padded
#   (1000 / 1020 ms, 0.9707 of ideal: just above 0.97) and 0.25 GB above it, 4096x128 with
#   padded oom (its padded columns keep numbers, 2500 ms, 60 GB, 999 TFLOP/s, speedup 2.5,
#   that must not count), another commit, stopping rule and loss_check (mismatch, 0.05).
# - data/summary_ref.csv: the reference's columns; its 128x128 row has decoys beside it with
#   the same prompt and completion length and another num_completions or batch_size (9999 ms,
#   99 GB); 256x256 is a cell the sweep lacks; 128x4096 prefix is faster than ours.
# - data/summary_tree.csv: tree_tiny.csv's two rows (a file from before measure_rule) with
#   round numbers: 56x6 has tree slower than prefix and at 0.667 of its ideal, 32x6 tree at
#   0.9497 of it and 0.0005 GB above prefix.
# - data/summary_twins.csv: three rows of results/multiturn.csv, two with the same lengths.
# Usage: test_summary.sh SOURCE_ROOT
set -u
root=$1
. "$root/tests/harness/lib.sh"
S=$root/plot/summary.sh
D=$root/tests/harness/data
# has FILE LINE...: every LINE is a whole line of FILE
has() {
    f=$1; shift
    for l in "$@"; do grep -Fxq -- "$l" "$f" || fail "$(basename "$f"): no line '$l'"; done
}
# table FILE: FILE's table (up to the blank line) equals stdin
table() {
    sed '/^$/q' "$1" | sed '/^$/d' > "$tmp/table"
    cat > "$tmp/want"
    cmp -s "$tmp/table" "$tmp/want" || { fail "$(basename "$1"): the table differs (< got, > wanted):"; diff "$tmp/table" "$tmp/want"; }
}

# the grid with the reference
"$S" --ref "$D/summary_ref.csv" "$D/summary_grid.csv" > "$tmp/grid" 2> "$tmp/err" || fail "grid --ref: exit $?"
[ -s "$tmp/err" ] && fail "grid --ref: wrote to stderr: $(cat "$tmp/err")"
table "$tmp/grid" <<'EOF'
| cell | padded ms (ref) | packed ms (ref) | prefix ms (ref) | pad/prefix (ideal) | padded / prefix GB (ref) |
|---|---|---|---|---|---|
| 128 x 128 | 200 (250) | 210 (231) | 160 (208) | 1.25 (1.25) | 30.00 / 29.50 (34.00 / 33.50) |
| 128 x 4096 | 1000 (1100) | 1010 (1313) | 1020 (1000) | 0.98 (1.01) | 33.00 / 33.25 (40.00 / 40.00) |
| 512 x 512 | 500 (700) | 500 (650) | 400 (480) | 1.25 (1.35) | 32.00 / 31.00 (31.00 / 29.50) |
| 4096 x 128 | oom (3000) | 2000 (2400) | 1000 (1500) | - (1.90) | oom / 35.00 (50.00 / 40.00) |
EOF
# speedups over the reference: padded 1.25 1.4 1.1; packed 1.1 1.3 1.3 1.2; prefix 1.3 1.2
# 0.98 1.5; all eleven sorted: 0.98 1.1 1.1 1.2 1.2 [1.25] 1.3 1.3 1.3 1.4 1.5
has "$tmp/grid" \
    '- **padded**: 400-500 model TFLOP/s (3 cells, 1 oom); against the reference 1.10x / 1.25x / 1.40x (min / median / max), 1 of 3 cells at 1.3x or more' \
    '- **packed**: 380-490 model TFLOP/s (4 cells); against the reference 1.10x / 1.25x / 1.30x (min / median / max), 2 of 4 cells at 1.3x or more' \
    '- **prefix**: 390-480 model TFLOP/s (4 cells); against the reference 0.98x / 1.25x / 1.50x (min / median / max), 2 of 4 cells at 1.3x or more' \
    '- **All strategies against the reference**: 11 (cell, strategy) pairs, 0.98x / 1.25x / 1.50x (min / median / max), 5 at 1.3x or more, 1 slower than the reference' \
    '- **Prefix against its FLOP ideal** (speedup_pad_prefix / ideal_speedup_pad_prefix, 3 cells): 0.926 / 0.971 / 1.000 (min / median / max)' \
    '  - below 0.97 (1 cell): 512x512 0.926' \
    '  - prefix slower than padded (1 cell, padded / prefix ms): 128x4096 0.980' \
    '  - prefix above padded (1 cell): 128x4096 +0.25 GB' \
    '  - against the reference: 8 of 11 (cell, strategy) pairs use less; largest saving 10.00 GB (4096x128 packed: 40.00 vs 50.00); largest excess 1.50 GB (512x512 prefix: 31.00 vs 29.50)' \
    '- **Loss**: largest loss_max_rel_diff 5.00e-02 (4096x128) over 4 of 4 rows; loss_check 3 ok, 1 mismatch' \
    '- **Commits** (git_commit): `aaaaaaaaaaaa` (3 rows), `bbbbbbbbbbbb` (1 row)' \
    '- **Stopping rules** (measure_rule): `warmup=auto min_reps=3 max_reps=100 noise=0.01 min_time=1s max_time=3s` (3 rows), `warmup=1 min_reps=2 max_reps=100 noise=0.01 min_time=1s max_time=10s` (1 row)'
grep -q tree "$tmp/grid" && fail "grid: tree columns or lines, but tree was skipped in every row"

# without the reference: no parentheses of it, no line about it
"$S" "$D/summary_grid.csv" > "$tmp/noref" || fail "grid: exit $?"
has "$tmp/noref" '| cell | padded ms | packed ms | prefix ms | pad/prefix (ideal) | padded / prefix GB |' \
    '| 128 x 128 | 200 | 210 | 160 | 1.25 (1.25) | 30.00 / 29.50 |' \
    '- **padded**: 400-500 model TFLOP/s (3 cells, 1 oom)'
grep -q 'reference' "$tmp/noref" && fail "noref: mentions the reference"

# --cells: in the order asked; a cell the sweep lacks shows the reference's numbers or "-";
# the bullets still cover every row
"$S" --ref "$D/summary_ref.csv" --cells 512x512,999x1,256x256 "$D/summary_grid.csv" > "$tmp/cells" || fail "--cells: exit $?"
table "$tmp/cells" <<'EOF'
| cell | padded ms (ref) | packed ms (ref) | prefix ms (ref) | pad/prefix (ideal) | padded / prefix GB (ref) |
|---|---|---|---|---|---|
| 512 x 512 | 500 (700) | 500 (650) | 400 (480) | 1.25 (1.35) | 32.00 / 31.00 (31.00 / 29.50) |
| 999 x 1 | - (-) | - (-) | - (-) | - | - / - (- / -) |
| 256 x 256 | - (300) | - (310) | - (250) | - | - / - (35.00 / 34.00) |
EOF
has "$tmp/cells" '- **prefix**: 390-480 model TFLOP/s (4 cells); against the reference 0.98x / 1.25x / 1.50x (min / median / max), 2 of 4 cells at 1.3x or more'

# the published reference file itself
"$S" --ref "$D/reference_nll_2_qwen7b.csv" --cells 128x128 "$D/summary_grid.csv" > "$tmp/pub" || fail "published ref: exit $?"
has "$tmp/pub" '| 128 x 128 | 200 (158) | 210 (164) | 160 (133) | 1.25 (1.25) | 30.00 / 29.50 (34.19 / 34.10) |'

# a tree sweep: tree ms, pad/tree and tree GB in the table, tree's lines
"$S" "$D/summary_tree.csv" > "$tmp/tree" || fail "tree: exit $?"
table "$tmp/tree" <<'EOF'
| cell | padded ms | packed ms | prefix ms | tree ms | pad/prefix (ideal) | pad/tree (ideal) | padded / prefix / tree GB |
|---|---|---|---|---|---|---|---|
| 32 x 6 | 80.0 | 70.0 | 40.0 | 21.1 | 2.00 (2.00) | 3.80 (4.00) | 0.003 / 0.002 / 0.0025 |
| 56 x 6 | 100 | 90.0 | 50.0 | 60.0 | 2.00 (2.50) | 1.67 (2.50) | 0.004 / 0.003 / 0.0025 |
EOF
# tree / ideal: 80/21.06/4 = 0.94967 (below 0.95, though 0.950 to three decimals), 100/60/2.5 =
# 0.667; prefix / tree at 56x6: 50/60
has "$tmp/tree" \
    '- **tree**: 0.0021-0.0025 model TFLOP/s (2 cells)' \
    '- **Prefix against its FLOP ideal** (speedup_pad_prefix / ideal_speedup_pad_prefix, 2 cells): 0.800 / 0.900 / 1.000 (min / median / max)' \
    '  - below 0.97 (1 cell): 56x6 0.800' \
    '  - prefix slower than padded: none' \
    '- **Tree against its FLOP ideal** (padded_ms / tree_ms / ideal_speedup_pad_tree, 2 cells): 0.667 / 0.808 / 0.950 (min / median / max)' \
    '  - below 0.95 (2 cells): 56x6 0.667, 32x6 0.9497' \
    '  - tree slower than prefix (1 cell, prefix / tree ms): 56x6 0.833' \
    '  - prefix above padded: none' \
    '  - tree above prefix (1 cell): 32x6 +0.0005 GB' \
    '- **Stopping rules** (measure_rule): not recorded (2 rows)'

# twins (data/summary_twins.csv: results/multiturn.csv's cells 0, 4, 2 in that file order):
# cells 2 and 4 have the same path / leaf lengths (3328 / 512, the long turn above or below the
# branch), so their labels add the cell index and they sort by it; cell 0's label has none
"$S" "$D/summary_twins.csv" > "$tmp/twins" 2> "$tmp/err" || fail "twins: exit $?"
table "$tmp/twins" <<'EOF'
| cell | padded ms | packed ms | prefix ms | tree ms | pad/prefix (ideal) | pad/tree (ideal) | padded / prefix / tree GB |
|---|---|---|---|---|---|---|---|
| 1792 x 512 | 3155 | 3194 | 1975 | 1488 | 1.60 (1.62) | 2.12 (2.19) | 32.41 / 31.58 / 31.29 |
| 3328 x 512 (cell 2) | 5511 | 5543 | 3151 | 2714 | 1.75 (1.75) | 2.03 (2.09) | 33.91 / 32.25 / 31.90 |
| 3328 x 512 (cell 4) | 5514 | 5493 | 3151 | 1860 | 1.75 (1.75) | 2.96 (3.07) | 33.91 / 32.25 / 31.28 |
EOF
has "$tmp/twins" '  - tree slower than prefix: none'

# errors: exit 2, one line on stderr, nothing on stdout
head -1 "$D/summary_grid.csv" > "$tmp/header_only.csv"
for args in '' '--frob x.csv' '--ref' "--ref '' $D/summary_grid.csv" "--cells 12x $D/summary_grid.csv" \
    "--cells 1x2,,3x4 $D/summary_grid.csv" "--cells '' $D/summary_grid.csv" "$D/summary_grid.csv $D/summary_tree.csv" \
    "$tmp/nonexistent.csv" "$D" "$D/garbage.csv" "$D/reference_nll_2_qwen7b.csv" "$tmp/header_only.csv" \
    "--ref $D/garbage.csv $D/summary_grid.csv" "--ref $tmp/nonexistent.csv $D/summary_grid.csv"; do
    eval "\"\$S\" $args" > "$tmp/out" 2> "$tmp/err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "summary.sh $args: exit $rc, not 2"
    [ -s "$tmp/out" ] && fail "summary.sh $args: wrote to stdout"
    [ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "summary.sh $args: not one line on stderr: $(cat "$tmp/err")"
done
"$S" "$D/reference_nll_2_qwen7b.csv" 2>&1 >/dev/null | grep -q "column 'padded_status'" ||
    fail "the reference CSV as IN: the error does not name the missing column"
finish test_summary
