#!/bin/sh
# test_gpu_regress.sh: tools/gpu_regress.sh's plumbing on the CPU (tiny model): against a
# baseline ten times as fast as this machine it reports the regression (exit 1); against one
# ten times as slow it passes (exit 0); a missing baseline is bad input (exit 2). Ten, not two:
# CPU step times on a shared 2-core machine were seen to vary by more than 2x between runs.
# Usage: test_gpu_regress.sh BENCH SOURCE_ROOT
set -u
bench=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") root=$2 # absolute: the script changes folder
. "$root/tests/harness/lib.sh"
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
