#!/bin/sh
# test_plot.sh: plot/heatmap.sh renders the reference CSV to a real, non-trivial PNG, and
# rejects a CSV without the columns it needs; plot/bars.sh renders a random-lengths sweep
# (data/random_tiny.csv, made by bench on the CPU); plot/strategies.sh renders a tree sweep
# and a sweep without tree, and several models' CSVs as one chart;
# plot/capacity.sh a timed and a plan-only capacity CSV, and two CSVs as one; plot/budget.sh a sweep at a budget.
# Usage: test_plot.sh SOURCE_ROOT
set -u
root=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
"$root/plot/heatmap.sh" "$root/tests/harness/data/reference_nll_2_qwen7b.csv" "$tmp/ref.png" || { echo "FAIL: heatmap.sh exit $?"; fails=1; }
magic=$(od -An -c -N 4 "$tmp/ref.png" 2>/dev/null | tr -d ' ')
[ "$magic" = "211PNG" ] || { echo "FAIL: not a PNG ($magic)"; fails=1; }
size=$(wc -c < "$tmp/ref.png" 2>/dev/null || echo 0)
[ "$size" -gt 40000 ] || { echo "FAIL: PNG too small ($size bytes): empty chart?"; fails=1; }
if "$root/plot/heatmap.sh" "$root/tests/harness/data/garbage.csv" "$tmp/bad.png" 2>/dev/null; then
    echo "FAIL: garbage CSV accepted"; fails=1
fi
"$root/plot/bars.sh" "$root/tests/harness/data/random_tiny.csv" "$tmp/bars.png" || { echo "FAIL: bars.sh exit $?"; fails=1; }
[ "$(od -An -c -N 4 "$tmp/bars.png" 2>/dev/null | tr -d ' ')" = "211PNG" ] || { echo "FAIL: bars.sh wrote no PNG"; fails=1; }
[ "$(wc -c < "$tmp/bars.png" 2>/dev/null || echo 0)" -gt 20000 ] || { echo "FAIL: bars PNG too small: empty chart?"; fails=1; }
if "$root/plot/bars.sh" "$root/tests/harness/data/garbage.csv" "$tmp/bad2.png" 2>/dev/null; then
    echo "FAIL: bars.sh accepted a garbage CSV"; fails=1
fi
# plot/strategies.sh: a tree sweep (data/tree_tiny.csv, bench --sweep tiny_tree on the CPU)
"$root/plot/strategies.sh" "$root/tests/harness/data/tree_tiny.csv" "$tmp/tree.png" || { echo "FAIL: strategies.sh exit $?"; fails=1; }
[ "$(od -An -c -N 4 "$tmp/tree.png" 2>/dev/null | tr -d ' ')" = "211PNG" ] || { echo "FAIL: strategies.sh wrote no PNG"; fails=1; }
[ "$(wc -c < "$tmp/tree.png" 2>/dev/null || echo 0)" -gt 20000 ] || { echo "FAIL: strategies PNG too small: empty chart?"; fails=1; }
# a sweep without tree (as grpo_16_qwen7b runs, or a CSV without the tree columns) draws the
# strategies it has: gnuplot refuses a histogram column without one valid point
"$root/plot/strategies.sh" "$root/tests/harness/data/random_tiny.csv" "$tmp/notree.png" || { echo "FAIL: strategies.sh without tree, exit $?"; fails=1; }
[ "$(wc -c < "$tmp/notree.png" 2>/dev/null || echo 0)" -gt 20000 ] || { echo "FAIL: strategies.sh without tree: no chart"; fails=1; }
if "$root/plot/strategies.sh" "$root/tests/harness/data/garbage.csv" "$tmp/bad3.png" 2>/dev/null; then
    echo "FAIL: strategies.sh accepted a garbage CSV"; fails=1
fi
# several CSVs from other models (results.sh's one cell per model family) draw as one chart,
# labelled by model: not the chart of either file alone; CSVs with other columns are refused
awk -F, -v OFS=, 'NR > 1 { $1 = "tiny-b" } { print }' "$root/tests/harness/data/random_tiny.csv" > "$tmp/model_b.csv"
"$root/plot/strategies.sh" "$root/tests/harness/data/random_tiny.csv" "$tmp/model_b.csv" "$tmp/models.png" ||
    { echo "FAIL: strategies.sh with two models, exit $?"; fails=1; }
[ "$(wc -c < "$tmp/models.png" 2>/dev/null || echo 0)" -gt 20000 ] || { echo "FAIL: strategies.sh with two models: no chart"; fails=1; }
cmp -s "$tmp/models.png" "$tmp/notree.png" && { echo "FAIL: strategies.sh: the second model is not in the chart"; fails=1; }
cut -d, -f1-9 "$tmp/model_b.csv" > "$tmp/model_c.csv"
if "$root/plot/strategies.sh" "$root/tests/harness/data/random_tiny.csv" "$tmp/model_c.csv" "$tmp/bad7.png" 2>/dev/null; then
    echo "FAIL: strategies.sh drew CSVs with different columns together"; fails=1
fi
# plot/capacity.sh: a capacity CSV timed on the cpu (data/capacity_tiny.csv, bench capacity
# --device cpu --model tiny) and a plan-only one (data/capacity_host.csv, Qwen2.5-7B at 141 GB)
for f in capacity_tiny capacity_host; do
    "$root/plot/capacity.sh" "$root/tests/harness/data/$f.csv" "$tmp/$f.png" || { echo "FAIL: capacity.sh $f exit $?"; fails=1; }
    [ "$(od -An -c -N 4 "$tmp/$f.png" 2>/dev/null | tr -d ' ')" = "211PNG" ] || { echo "FAIL: capacity.sh $f wrote no PNG"; fails=1; }
    [ "$(wc -c < "$tmp/$f.png" 2>/dev/null || echo 0)" -gt 20000 ] || { echo "FAIL: capacity $f PNG too small: empty chart?"; fails=1; }
done
# the timed chart has two panels, the plan-only one one: the timed PNG is the larger
[ "$(wc -c < "$tmp/capacity_tiny.png")" -gt "$(wc -c < "$tmp/capacity_host.png")" ] ||
    { echo "FAIL: capacity.sh: the timed chart is not larger than the plan-only one"; fails=1; }
if "$root/plot/capacity.sh" "$root/tests/harness/data/garbage.csv" "$tmp/bad4.png" 2>/dev/null; then
    echo "FAIL: capacity.sh accepted a garbage CSV"; fails=1
fi
# several capacity CSVs (results.sh writes one per cell) draw as the one CSV holding their rows;
# CSVs with other columns are refused
d=$root/tests/harness/data/capacity_tiny.csv
head -n 5 "$d" > "$tmp/cap_a.csv"
{ head -n 1 "$d"; tail -n +6 "$d"; } > "$tmp/cap_b.csv"
"$root/plot/capacity.sh" "$tmp/cap_a.csv" "$tmp/cap_b.csv" "$tmp/cap_ab.png" || { echo "FAIL: capacity.sh with two CSVs, exit $?"; fails=1; }
cmp -s "$tmp/cap_ab.png" "$tmp/capacity_tiny.png" || { echo "FAIL: capacity.sh: two CSVs do not draw as their rows in one"; fails=1; }
cut -d, -f1-9 "$tmp/cap_b.csv" > "$tmp/cap_c.csv"
if "$root/plot/capacity.sh" "$tmp/cap_a.csv" "$tmp/cap_c.csv" "$tmp/bad6.png" 2>/dev/null; then
    echo "FAIL: capacity.sh drew CSVs with different columns together"; fails=1
fi
# plot/budget.sh: a sweep CSV (the random one; its budget and policy parsed from the command
# and the optional recompute column, here a copy that has both)
"$root/plot/budget.sh" "$root/tests/harness/data/random_tiny.csv" "$tmp/budget.png" || { echo "FAIL: budget.sh exit $?"; fails=1; }
[ "$(od -An -c -N 4 "$tmp/budget.png" 2>/dev/null | tr -d ' ')" = "211PNG" ] || { echo "FAIL: budget.sh wrote no PNG"; fails=1; }
[ "$(wc -c < "$tmp/budget.png" 2>/dev/null || echo 0)" -gt 20000 ] || { echo "FAIL: budget PNG too small: empty chart?"; fails=1; }
awk 'NR == 1 { print $0 ",recompute"; next } { sub(/--device cpu/, "--device cpu --memory-budget 80"); print $0 ",auto" }' \
    "$root/tests/harness/data/random_tiny.csv" > "$tmp/budget_auto.csv"
"$root/plot/budget.sh" "$tmp/budget_auto.csv" "$tmp/budget_auto.png" || { echo "FAIL: budget.sh with a recompute column"; fails=1; }
cmp -s "$tmp/budget.png" "$tmp/budget_auto.png" && { echo "FAIL: budget.sh: budget and policy not in the chart"; fails=1; }
if "$root/plot/budget.sh" "$root/tests/harness/data/garbage.csv" "$tmp/bad5.png" 2>/dev/null; then
    echo "FAIL: budget.sh accepted a garbage CSV"; fails=1
fi
echo "test_plot: PNG $size bytes, $fails failure(s)"
[ "$fails" -eq 0 ]
