#!/bin/sh
# test_plot.sh: plot/heatmap.sh renders the reference CSV to a real, non-trivial PNG, and
# rejects a CSV without the columns it needs; plot/bars.sh renders a random-lengths sweep
# (data/random_tiny.csv, made by bench on the CPU); plot/strategies.sh renders a tree sweep. Usage: test_plot.sh SOURCE_ROOT
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
if "$root/plot/strategies.sh" "$root/tests/harness/data/garbage.csv" "$tmp/bad3.png" 2>/dev/null; then
    echo "FAIL: strategies.sh accepted a garbage CSV"; fails=1
fi
echo "test_plot: PNG $size bytes, $fails failure(s)"
[ "$fails" -eq 0 ]
