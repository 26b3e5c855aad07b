#!/usr/bin/env bash
# memory_plan.sh: the memory rows of issue 10 measured on the GPU: for every row, per strategy,
# the plan's peak (no gradients held / gradients held), what the step allocated, what the driver
# sees (cudaMemGetInfo), and the step time, through `bench plan --device gpu`, into one CSV.
#
#   tools/memory_plan.sh [--out results/memory_plan.csv] [--bench build/packbench] [--min-reps N]
#
# Rows: 512x512, 2048x512, 4096x4096, 16384x128, 16384x16384 (3 prompts x 2 completions),
# 2048x1024 (2 x 8), 4096x512 (1 x 16). Exit status: bench's (0 ok, 1 a step failed or the
# allocation differed from the plan, 2 bad input).
set -uo pipefail
cd "$(dirname "$0")/.."
out=results/memory_plan.csv
bench=build/packbench
reps=1
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || { echo "memory_plan.sh: '$1' needs a value" >&2; exit 2; }
  case "$1" in
    --out) out=$2 ;;
    --bench) bench=$2 ;;
    --min-reps) reps=$2 ;;
    *) echo "memory_plan.sh: unknown argument '$1' (see the top of this file)" >&2; exit 2 ;;
  esac
  shift 2
done
rm -f "$out" # bench plan appends; one header
rc=0
# the issue's three strategies (tree is prefix at two levels)
run() { "$bench" plan --device gpu --strategy padded,packed,prefix --min-reps "$reps" --min-time 0 --out "$out" "$@" || rc=$?; }
run --cells 512x512,2048x512,4096x4096,16384x128,16384x16384 --prompts 3 --completions 2
run --cells 2048x1024 --prompts 2 --completions 8
run --cells 4096x512 --prompts 1 --completions 16
echo "memory_plan.sh: rows in $out (exit $rc)"
exit "$rc"
