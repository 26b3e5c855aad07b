#!/bin/sh
# test_gpu_regress.sh: tools/gpu_regress.sh's verdicts on crafted CSVs (--new, no run): equal
# rows pass, a row 5% slower is flagged at the default threshold (3%), a 1% slowdown passes it
# but --threshold 0 flags it, a 4% slowdown within a 10% noise is unknown (exit 0), a faster
# row is FASTER, a baseline with no cell in common is bad input. Then its plumbing on the CPU
# (tiny model): against a baseline ten times as fast as this machine it reports the regression
# (exit 1); against one ten times as slow it passes (exit 0); a missing baseline is bad input
# (exit 2). Ten, not two: CPU step times on a shared 2-core machine were seen to vary by more
# than 2x between runs.
# Usage: test_gpu_regress.sh BENCH SOURCE_ROOT
set -u
bench=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") root=$2 # absolute: the script changes folder
. "$root/tests/harness/lib.sh"

# crafted rows: two cells, times and IQRs per strategy (IQR 0.1% of the time: quiet)
crafted() { # FILE PADDED_128 PADDED_4096 IQR_FRACTION
    { echo "model,method,prompt_len,completion_len,num_completions,batch_size,padded_ms,packed_ms,prefix_ms,padded_iqr_ms,packed_iqr_ms,prefix_iqr_ms,padded_reps,packed_reps,prefix_reps"
      awk -v a="$2" -v b="$3" -v q="$4" 'BEGIN {
          printf "qwen2.5-7b,nll,128,128,2,3,%s,100,80,%g,%g,%g,5,5,5\n", a, a * q, 100 * q, 80 * q
          printf "qwen2.5-7b,nll,4096,4096,2,3,%s,4000,3000,%g,%g,%g,3,3,3\n", b, b * q, 4000 * q, 3000 * q }'
    } > "$1"
}
verdict() { # BASE NEW [ARGS...]: runs the tool on two files, leaves its output in $tmp/out
    b=$1 n=$2; shift 2
    "$root/tools/gpu_regress.sh" --bench "$bench" --base "$b" --new "$n" "$@" > "$tmp/out" 2>&1
}
crafted "$tmp/b.csv" 100 4000 0.001
crafted "$tmp/same.csv" 100 4000 0.001
crafted "$tmp/slow5.csv" 100 4200 0.001
crafted "$tmp/slow1.csv" 101 4000 0.001
crafted "$tmp/noisy.csv" 104 4000 0.1
crafted "$tmp/fast.csv" 90 3600 0.001
verdict "$tmp/b.csv" "$tmp/same.csv"; rc=$?
[ $rc -eq 0 ] && grep -q "0 FASTER, 0 SLOWER, 2 SAME, 0 unknown" "$tmp/out" || fail "equal rows: exit $rc: $(cat "$tmp/out")"
verdict "$tmp/b.csv" "$tmp/slow5.csv"; rc=$?
[ $rc -eq 1 ] && grep -q "4096x4096 .*1.050 SLOWER.* SLOWER$" "$tmp/out" && grep -q "1 SLOWER, 1 SAME" "$tmp/out" ||
    fail "5% slower: exit $rc, want 1: $(cat "$tmp/out")"
verdict "$tmp/b.csv" "$tmp/slow1.csv"; rc=$?
[ $rc -eq 0 ] || fail "1% slower at the default threshold: exit $rc, want 0: $(cat "$tmp/out")"
verdict "$tmp/b.csv" "$tmp/slow1.csv" --threshold 0; rc=$?
[ $rc -eq 1 ] && grep -q "128x128 .*1.010 SLOWER" "$tmp/out" || fail "--threshold 0, 1% slower: exit $rc, want 1: $(cat "$tmp/out")"
verdict "$tmp/b.csv" "$tmp/noisy.csv"; rc=$?
[ $rc -eq 0 ] && grep -q "128x128 .*1.040 unknown.* unknown$" "$tmp/out" || fail "4% within 10% noise: exit $rc, want 0 and unknown: $(cat "$tmp/out")"
verdict "$tmp/b.csv" "$tmp/fast.csv"; rc=$?
[ $rc -eq 0 ] && grep -q "2 FASTER, 0 SLOWER" "$tmp/out" || fail "faster rows: exit $rc: $(cat "$tmp/out")"
sed 's/,4096,4096,/,4096,8192,/; s/,128,128,/,128,256,/' "$tmp/b.csv" > "$tmp/other.csv"
verdict "$tmp/other.csv" "$tmp/same.csv"; rc=$?
[ $rc -eq 2 ] || fail "no cell in common: exit $rc, want 2: $(cat "$tmp/out")"
verdict "$tmp/b.csv" "$tmp/none.csv"; rc=$?
[ $rc -eq 2 ] || fail "missing --new file: exit $rc, want 2"

"$bench" --device cpu --model tiny --prompts 3 --completions 2 --strategy padded,packed,prefix --cells 16x16,32x8 \
    --min-reps 3 --min-time 0 \
    --out "$tmp/base.csv" > /dev/null 2>&1 || fail "baseline run"
# scale every time of the baseline (the *_ms columns: medians, minima and IQRs, so its relative
# noise stays as measured) by $1; the times come before any quoted field
scale() {
    awk -F, -v OFS=, -v k="$1" 'NR == 1 { for (i = 1; i <= NF; i++) ms[i] = ($i ~ /_ms$/) }
        NR > 1 { for (i = 1; i <= NF; i++) if (ms[i] && $i != "") $i *= k } { print }' "$tmp/base.csv" > "$2"
}
scale 0.1 "$tmp/fast.csv"
scale 10 "$tmp/slow.csv"
regress() {
    PB_REGRESS_OUT="$tmp" "$root/tools/gpu_regress.sh" --bench "$bench" --device cpu --model tiny \
        --cells 16x16,32x8 --threshold 20 --base "$1" > "$tmp/out" 2>&1
}
regress "$tmp/fast.csv"; rc=$?
[ $rc -eq 1 ] || fail "regression against a faster baseline: exit $rc, want 1: $(cat "$tmp/out")"
grep -q SLOWER "$tmp/out" || fail "no SLOWER verdict"
regress "$tmp/slow.csv"; rc=$?
[ $rc -eq 0 ] || fail "against a slower baseline: exit $rc, want 0: $(cat "$tmp/out")"
regress "$tmp/missing.csv"; rc=$?
[ $rc -eq 2 ] || fail "missing baseline: exit $rc, want 2"
finish test_gpu_regress
