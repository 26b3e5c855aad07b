#!/bin/sh
# run.sh: runs every fuzz target for SECONDS each (default 30), one at a time on one core,
# starting from the committed seed corpus (tests/fuzz/corpus/<target>, never modified: new
# inputs go to a scratch folder). Exit 1 when a target finds a crash, a sanitizer report or
# a broken check (its reproducer is left in BUILD/tests/fuzz/). Build first:
#   CC=clang-14 meson setup build-fuzz -Dfuzz=enabled -Dcuda=disabled -Dcudnn=disabled \
#       -Db_sanitize=address,undefined -Db_lundef=false
#   ninja -C build-fuzz tests/fuzz/fuzz_model_config tests/fuzz/fuzz_hf_config tests/fuzz/fuzz_sweep_config \
#       tests/fuzz/fuzz_cli tests/fuzz/fuzz_results_csv tests/fuzz/fuzz_lengths
# Usage: tests/fuzz/run.sh BUILD [SECONDS]
set -u
build=$(cd "$1" && pwd) seconds=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
failed=0
for t in model_config hf_config sweep_config cli results_csv lengths; do
    bin="$build/tests/fuzz/fuzz_$t"
    [ -x "$bin" ] || { echo "fuzz: $bin not built"; failed=1; continue; }
    mkdir -p "$scratch/$t"
    (cd "$build/tests/fuzz" && "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 "$scratch/$t" "$here/corpus/$t") > "$scratch/$t.log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$t.log")
    if [ "$rc" -eq 0 ]; then
        echo "fuzz_$t: ${execs:-?} executions in ${seconds} s, no finding"
    else
        echo "fuzz_$t: FINDING (exit $rc) after ${execs:-?} executions:"
        grep -E "ERROR|SUMMARY|fuzz: |Test unit written" "$scratch/$t.log" | head -n 8
        failed=1
    fi
done
exit "$failed"
