#!/bin/sh
# test_sweep_gpus.sh: tools/sweep_gpus.sh on the CPU with two "GPUs": each shard gets its
# cells, the merged CSV holds every cell once under one header, a re-run with --resume adds
# nothing, and a missing --out is a usage error.
# Usage: test_sweep_gpus.sh BENCH SOURCE_ROOT
set -u
bench=$1 root=$2
. "$root/tests/harness/lib.sh"
run() { "$root/tools/sweep_gpus.sh" --bench "$bench" --gpus 2 --device cpu --min-reps 1 --min-time 0 "$@"; }

run --out "$tmp/all.csv" 2> "$tmp/err" || fail "exit $?: $(cat "$tmp/err")"
[ "$(cols cell "$tmp/all.shard-0.csv" | tr '\n' ' ')" = "0 2 " ] || fail "shard 0 cells"
[ "$(cols cell "$tmp/all.shard-1.csv" | tr '\n' ' ')" = "1 3 " ] || fail "shard 1 cells"
[ "$(cols cell "$tmp/all.csv" | sort | tr '\n' ' ')" = "0 1 2 3 " ] || fail "merged cells: $(cols cell "$tmp/all.csv" | tr '\n' ' ')"
[ "$(grep -c '^model,' "$tmp/all.csv")" -eq 1 ] || fail "merged file has not exactly one header"
[ "$(cols loss_check "$tmp/all.csv" | sort -u)" = "ok" ] || fail "loss checks"

run --resume --out "$tmp/all.csv" 2> "$tmp/err" || fail "resume exit $?"
[ "$(cols cell "$tmp/all.csv" | wc -l)" -eq 4 ] || fail "resume changed the row count"

"$root/tools/sweep_gpus.sh" --bench "$bench" --gpus 2 > /dev/null 2>&1
[ $? -eq 2 ] || fail "missing --out not a usage error"

finish test_sweep_gpus
