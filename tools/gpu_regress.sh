#!/usr/bin/env bash
# gpu_regress.sh: the GPU regression check. Builds packbench (through ./bench), runs a fixed
# subset of the nll_2_qwen7b grid on the GPU, and compares it with the committed results
# through `./bench compare`. Exit status: 0 no regression, 1 a cell is slower than the
# threshold allows, 2 bad input, anything else: the build or the run failed.
#
#   tools/gpu_regress.sh [--threshold PCT] [--cells LIST] [--base results/nll_2_qwen7b.csv]
#                        [--device gpu] [--model qwen2.5-7b] [--bench ./bench]
#
# --device, --model and --bench exist so the plumbing can be tested without a GPU.
set -uo pipefail
cd "$(dirname "$0")/.."

threshold=5
cells=128x128,2048x512,4096x4096
base=results/nll_2_qwen7b.csv
device=gpu
model=qwen2.5-7b
bench=./bench
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || { echo "gpu_regress.sh: '$1' needs a value (see --help)" >&2; exit 2; }
  case "$1" in
    --threshold) threshold=$2 ;;
    --cells) cells=$2 ;;
    --base) base=$2 ;;
    --device) device=$2 ;;
    --model) model=$2 ;;
    --bench) bench=$2 ;;
    *) echo "gpu_regress.sh: unknown argument '$1' (see the top of this file)" >&2; exit 2 ;;
  esac
  shift 2
done
[ -f "$base" ] || { echo "gpu_regress.sh: no baseline '$base'" >&2; exit 2; }

out=${PB_REGRESS_OUT:-$(mktemp -d)}/regress.csv
"$bench" --device "$device" --model "$model" --prompts 3 --completions 2 --strategy padded,packed,prefix \
         --cells "$cells" --out "$out" || { rc=$?; echo "gpu_regress.sh: the run failed ($rc)" >&2; exit $((rc == 1 ? 3 : rc)); }
"$bench" compare "$base" "$out" --threshold "$threshold"
