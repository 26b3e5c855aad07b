#!/bin/sh
# test_estimate.sh: `bench estimate` end to end on the committed grid: with one timed step per
# strategy and no overhead, every strategy of a cell costs twice its measured median and the
# assumed 20 ms of warm-up work (the cell's FLOPs at its row's TFLOP/s: the FLOP count and the
# file agree); --warmup auto skips no warm-up before it has seen three, then skips those the
# warm-ups seen say are small against the noise target, and none when they are large; cells come cheapest
# first with the time each would be done; a cell the file lacks takes its strategy's median
# rate; bad input is one line and exit 2.
# Usage: test_estimate.sh BENCH SOURCE_ROOT
set -u
bench=$1 root=$2
. "$root/tests/harness/lib.sh"
rates="$root/results/nll_2_qwen7b.csv"
"$bench" estimate --rates "$rates" --cells 4096x4096,2048x512 --strategy padded,packed,prefix --min-reps 1 --max-reps 1 \
    --overhead 0 > "$tmp/out" 2> "$tmp/err" || fail "estimate exit $?: $(cat "$tmp/err")"
want=$(cols prompt_len,completion_len,padded_ms,packed_ms,prefix_ms "$rates" | awk -F '\t' '
    ($1 == 2048 && $2 == 512) || ($1 == 4096 && $2 == 4096) { printf "%d %d %.1f %.1f %.1f\n", $1, $2, (2 * $3 + 20) / 1000, (2 * $4 + 20) / 1000, (2 * $5 + 20) / 1000 }')
got=$(awk -F '|' '/^\| +[0-9]/ { gsub(/ /, ""); split($4, a, "("); split($5, b, "("); split($6, c, "("); print $2, $3, a[1], b[1], c[1] }' "$tmp/out")
[ "$got" = "$want" ] || fail "two steps at the measured medians: got '$got', want '$want'"
grep -q "^cells: 2 of 2 matched" "$tmp/out" || fail "matched count: $(cat "$tmp/out")"
grep -q "^total: .* on one GPU" "$tmp/out" || fail "no total line"
"$bench" estimate --rates "$rates" --cells 300x300 --strategy padded > "$tmp/out" 2>&1 || fail "unmatched cell exit $?"
grep -q "^cells: 0 of 1 matched" "$tmp/out" || fail "unmatched cell: $(cat "$tmp/out")"
"$bench" estimate --cells 128x128 > "$tmp/out" 2>&1; rc=$?
[ $rc -eq 2 ] && [ "$(wc -l < "$tmp/out")" -eq 1 ] && grep -q "rates FILE.csv needed" "$tmp/out" || fail "no --rates: exit $rc: $(cat "$tmp/out")"
"$bench" estimate --rates "$tmp/none.csv" --cells 128x128 > "$tmp/out" 2>&1; rc=$?
[ $rc -eq 2 ] && [ "$(wc -l < "$tmp/out")" -eq 1 ] || fail "missing rates file: exit $rc: $(cat "$tmp/out")"
# --warmup auto on the grid's rows with every warm-up's excess over the fastest step set to
# EXCESS ms (the *_warmup_ms columns = *_min_ms + EXCESS): 1 ms is under a quarter of the 1%
# noise target of every step from about 0.4 s, so after three cells of each strategy with a
# warm-up the long ones run without; 1000 ms is over it for every step shorter than 400 s,
# so no cell skips one
excess() { # EXCESS OUT
    awk -F, -v OFS=, -v e="$1" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i
            for (i = 1; i <= NF; i++) if ($i ~ /_warmup_ms$/) { s = $i; sub(/_warmup_ms$/, "_min_ms", s); w[i] = col[s] } }
        NR > 1 { for (i in w) if ($i != "" && $(w[i]) != "") $i = $(w[i]) + e } { print }' "$rates" > "$2"
}
excess 1 "$tmp/quiet.csv"
excess 1000 "$tmp/slow_warm.csv"
"$bench" estimate --rates "$tmp/quiet.csv" --strategy padded,prefix --warmup auto --overhead 0 > "$tmp/out" 2>&1 || fail "auto exit $?"
grep -q "rule warmup=auto " "$tmp/out" || fail "auto: rule not shown"
[ "$(awk -F '|' '/^\| +[0-9]/ { n++; if (n <= 3 && ($4 ~ /\*/ || $6 ~ /\*/)) bad = 1 } END { print bad + 0 }' "$tmp/out")" = 0 ] ||
    fail "auto skipped a warm-up in the first three cells"
grep -q "^| *16384 | *16384 | *[0-9.]* (1\*) | *- | *[0-9.]* (1\*)" "$tmp/out" ||
    fail "auto, 1 ms warm-up excess: 16384 x 16384 still warmed up: $(grep "16384 |  16384" "$tmp/out")"
"$bench" estimate --rates "$tmp/slow_warm.csv" --strategy padded,prefix --warmup auto --overhead 0 > "$tmp/out" 2>&1 || fail "auto (1 s excess) exit $?"
[ "$(grep -c '^| *[0-9].*\*)' "$tmp/out")" = 0 ] || fail "auto, 1 s warm-up excess: a warm-up skipped: $(grep '\*)' "$tmp/out" | head -n 2)"
finish test_estimate
