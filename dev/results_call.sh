#!/bin/bash
# results_call.sh [DEADLINE_S]: one device call of the results runs (tools/results.sh) with the
# binary B (default .device/cand_x/packbench: a clean build of 45a2287, dev/NOTES.md) into the
# folder R (default .device/runs_x), for DEADLINE_S seconds (default 540): the tree sweeps
# first (issue 14), then results.sh's order (the grid, models, recompute, the 80 GB auto grid,
# capacity, random); once the grid is done, the regression check against it (R/regress.txt).
# With JOB names after DEADLINE_S, those jobs instead, in the order given (results.sh runs its
# own order): e.g. a capacity job (runs whole, not resumable) first, a resumable sweep after it.
# R comes back as $OUT/runs.tgz: unpack it over R's parent before the next call.
#   run(command="bash dev/results_call.sh 540", carry=[".device"]); tar xzf runs.tgz -C .device
export PATH=$PATH:/usr/local/cuda/bin
D=${1:-540}
[ $# -gt 0 ] && shift
B=${B:-.device/cand_x/packbench} R=${R:-.device/runs_x}
mkdir -p "$OUT" "$R"
nvidia-smi --query-gpu=index,name,driver_version,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu,memory.used \
    --format=csv > "$R/smi_$(date +%s).txt" 2>&1
if grep -qx grid_full "$R/done.txt" 2>/dev/null && [ ! -f "$R/regress.txt" ]; then
    mkdir -p "$R/regress"
    { PB_REGRESS_OUT=$R/regress tools/gpu_regress.sh --bench "$B" --base "$R/nll_2_qwen7b.csv"; echo "exit $?"
      tools/gpu_regress.sh --bench "$B" --base "$R/nll_2_qwen7b.csv" --new "$R/regress/regress.csv" --threshold 0; echo "exit $?"
    } > "$R/regress.txt" 2>&1
fi
if [ $# -gt 0 ]; then
    for j in "$@"; do
        [ $((D - SECONDS)) -gt 60 ] || break
        tools/results.sh --bench "$B" --dir "$R" --deadline $((D - SECONDS)) "$j"; echo "results.sh $j exit $?"
    done
else
    tools/results.sh --bench "$B" --dir "$R" --deadline $((D - SECONDS)) system multiturn grpo16; echo "results.sh (trees) exit $?"
    if [ $((D - SECONDS)) -gt 60 ]; then tools/results.sh --bench "$B" --dir "$R" --deadline $((D - SECONDS)); echo "results.sh exit $?"; fi
fi
tail -n 20 "$R/summary.txt"
tar czf "$OUT/runs.tgz" -C "$(dirname "$R")" "$(basename "$R")"
