#!/usr/bin/env bash
# gpu_regress.sh: the GPU regression check. Builds packbench, runs a fixed subset of the
# nll_2_qwen7b grid on the GPU, and compares it with the committed results through
# `./bench compare`. Exit status: 0 no regression, 1 a cell is slower than the threshold allows,
# 2 bad input, other: the build or the run failed.
#
#   tools/gpu_regress.sh [--threshold PCT] [--cells LIST] [--base results/nll_2_qwen7b.csv]
set -euo pipefail
cd "$(dirname "$0")/.."

threshold=5
cells=128x128,2048x512,4096x4096
base=results/nll_2_qwen7b.csv
while [ $# -gt 0 ]; do
  case "$1" in
    --threshold) threshold=$2; shift 2 ;;
    --cells) cells=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "gpu_regress.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -f "$base" ] || { echo "gpu_regress.sh: no baseline '$base'" >&2; exit 2; }

out=${PB_REGRESS_OUT:-$(mktemp -d)}/regress.csv
./bench --device gpu --model qwen2.5-7b --prompts 3 --completions 2 --strategy all \
        --cells "$cells" --out "$out"
./bench compare "$base" "$out" --threshold "$threshold"
