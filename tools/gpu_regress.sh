#!/usr/bin/env bash
# gpu_regress.sh: the GPU regression check. Builds packbench (through ./bench), runs a fixed
# subset of the nll_2_qwen7b grid on the GPU (or takes a finished run, --new), and compares it
# per cell and strategy with the committed rows through `./bench compare`: the ratio NEW/BASE
# and a verdict, FASTER / SLOWER beyond both the threshold and the noise (IQR / median, the
# noisier side's), SAME within the threshold, unknown when the noise exceeds the threshold and
# hides the difference (or a side lacks the time). Exit status: 0 no regression, 1 a cell is
# SLOWER, 2 bad input (no baseline, no cell in common), anything else: the build or the run
# failed.
#
#   tools/gpu_regress.sh [--threshold PCT] [--cells LIST] [--base results/nll_2_qwen7b.csv]
#                        [--new FILE.csv] [--device gpu] [--model qwen2.5-7b] [--bench ./bench]
#
# --threshold: default 3 (percent): the same binary was seen 2% apart between two runs on the
# H200 (dev/NOTES.md, clocks), so a 3% slowdown is the smallest this flags by default; 0 flags
# any slowdown beyond the noise. --new: compare that CSV instead of running (no GPU needed).
# --device, --model and --bench exist so the plumbing can be tested without a GPU.
set -uo pipefail
cd "$(dirname "$0")/.."

threshold=3
cells=128x128,2048x512,4096x4096
base=results/nll_2_qwen7b.csv
new=""
device=gpu
model=qwen2.5-7b
bench=./bench
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || { echo "gpu_regress.sh: '$1' needs a value (see the top of this file)" >&2; exit 2; }
  case "$1" in
    --threshold) threshold=$2 ;;
    --cells) cells=$2 ;;
    --base) base=$2 ;;
    --new) new=$2 ;;
    --device) device=$2 ;;
    --model) model=$2 ;;
    --bench) bench=$2 ;;
    *) echo "gpu_regress.sh: unknown argument '$1' (see the top of this file)" >&2; exit 2 ;;
  esac
  shift 2
done
[ -f "$base" ] || { echo "gpu_regress.sh: no baseline '$base'" >&2; exit 2; }

# where the rows came from: the commit and the stopping rule of a side's first row (either
# column may be missing, e.g. in the reference CSV or rows written before the rule existed)
origin() {
  local c r
  c=$(awk -v cols=git_commit -f plot/csvcols.awk "$1" 2> /dev/null | head -n 1)
  r=$(awk -v cols=measure_rule -f plot/csvcols.awk "$1" 2> /dev/null | head -n 1)
  echo "commit ${c:-NaN}, rule ${r:-NaN}" | sed 's/NaN/not recorded/g'
}

if [ -z "$new" ]; then
  new=${PB_REGRESS_OUT:-$(mktemp -d)}/regress.csv
  "$bench" --device "$device" --model "$model" --prompts 3 --completions 2 --strategy padded,packed,prefix \
           --cells "$cells" --out "$new" || { rc=$?; echo "gpu_regress.sh: the run failed ($rc)" >&2; exit $((rc == 1 ? 3 : rc)); }
fi
[ -f "$new" ] || { echo "gpu_regress.sh: no new run '$new'" >&2; exit 2; }
echo "gpu_regress.sh: BASE $base ($(origin "$base")); NEW $new ($(origin "$new"))"
"$bench" compare "$base" "$new" --threshold "$threshold"
