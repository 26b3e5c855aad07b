#!/bin/sh
# results.sh: every run behind results/ (the README's figures), with one binary, resumable.
# Runs the jobs below in order (one worker per GPU when the host has several), each sweep with
# --resume so a job cut short continues where it stopped when the same command runs again; a
# job that finished is recorded in DIR/done.txt and not run again. Charts: plot/ (README).
#
#   tools/results.sh [--bench PATH] [--dir DIR] [--deadline S] [--gpus N] [--list] [JOB ...]
#
# --bench: the packbench binary or ./bench (default ./bench); every row carries its git_commit.
# --dir: where the CSVs and logs go (default out/results). --deadline S: stop starting jobs
# that need more than the seconds left; a sweep is told the seconds left less 20
# (bench --time-limit, where the bench has it: it starts no cell it predicts would end later,
# so no cell is cut); at S seconds the running ones are interrupted (SIGINT: bench stops after
# the current step and keeps every finished cell; KILL 25 s later).
# --gpus N: workers (default the GPUs nvidia-smi lists, else 1). --list: print the jobs.
# JOB ...: only these jobs. Exit status: 0 every job asked for is done, 1 some are left (the
# deadline), 2 bad usage, 3 a job failed (its log says why).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
bench="$root/bench" dir=out/results deadline=0 gpus="" list=0

# name, seconds a job needs before it is started (a sweep: about its largest cell; capacity
# runs whole), CSV, bench arguments, or a script under tools/ that takes --bench and --out and
# runs whole (memory_plan.sh: the plan against the allocator, bench plan --device gpu). Rule:
# --warmup auto --max-time 3 (README, Timing).
R="--warmup auto --max-time 3 --resume"
C="--memory-budget 141 --min-reps 1 --min-time 0 --max-time 0"
M="--cells 2048x512 --prompts 3 --completions 2 --strategy padded,packed,prefix $R"
job_list() {
    cat <<EOF
grid_full|90|nll_2_qwen7b.csv|--device gpu --sweep nll_2_qwen7b --strategy padded,packed,prefix --recompute full $R
system|90|system.csv|--device gpu --sweep system --strategy all $R
multiturn|90|multiturn.csv|--device gpu --sweep multiturn --strategy all $R
grpo16|90|grpo_16_qwen7b.csv|--device gpu --sweep grpo_16_qwen7b --strategy padded,packed,prefix $R
model_qwen2.5-0.5b|40|models_qwen2.5-0.5b.csv|--device gpu --model qwen2.5-0.5b $M
model_llama-3.1-8b|40|models_llama-3.1-8b.csv|--device gpu --model llama-3.1-8b $M
model_mistral-7b-v0.3|40|models_mistral-7b-v0.3.csv|--device gpu --model mistral-7b-v0.3 $M
model_qwen3-8b|40|models_qwen3-8b.csv|--device gpu --model qwen3-8b $M
model_qwen2.5-14b|40|models_qwen2.5-14b.csv|--device gpu --model qwen2.5-14b $M
rows_2048x1024x8|60|rows_2048x1024x8.csv|--device gpu --cells 2048x1024 --prompts 2 --completions 8 --strategy padded,packed,prefix $R
rows_4096x512x16|60|rows_4096x512x16.csv|--device gpu --cells 4096x512 --prompts 1 --completions 16 --strategy padded,packed,prefix $R
recompute_none|60|recompute_none_512_2048.csv|--device gpu --cells 512x512,2048x512 --prompts 3 --completions 2 --strategy padded,packed,prefix --recompute none $R
recompute_auto|60|recompute_auto_512_2048.csv|--device gpu --cells 512x512,2048x512 --prompts 3 --completions 2 --strategy padded,packed,prefix --recompute auto $R
grid_auto80|90|nll_2_qwen7b_auto80.csv|--device gpu --sweep nll_2_qwen7b --strategy padded,packed,prefix --recompute auto --memory-budget 80 $R
capacity_2048x1024x8|330|capacity_2048x1024x8.csv|capacity --device gpu --cells 2048x1024 --completions 8 --strategy padded,packed,prefix $C
capacity_4096x4096|420|capacity_4096x4096.csv|capacity --device gpu --cells 4096x4096 --completions 2 --strategy padded,packed,prefix $C
capacity_1024x8192|420|capacity_1024x8192.csv|capacity --device gpu --cells 1024x8192 --completions 2 --strategy padded,packed,prefix $C
capacity_16384x128|420|capacity_16384x128.csv|capacity --device gpu --cells 16384x128 --completions 2 --strategy padded,packed,prefix $C
random|90|random_2_qwen7b.csv|--device gpu --sweep random --strategy padded,packed,prefix $R
memory_plan|300|memory_plan.csv|tools/memory_plan.sh
EOF
}

usage() { echo "results.sh: $1 (see the top of this file)" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --bench|--dir|--deadline|--gpus) [ $# -ge 2 ] || usage "'$1' needs a value" ;;
    esac
    case "$1" in
        --bench) bench=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --deadline) deadline=$2; shift 2 ;;
        --gpus) gpus=$2; shift 2 ;;
        --list) list=1; shift ;;
        -*) usage "unknown option '$1'" ;;
        *) break ;;
    esac
done
case "$deadline" in ''|*[!0-9]*) usage "--deadline '$deadline' is not a number of seconds" ;; esac
if [ $list -eq 1 ]; then job_list | awk -F'|' '{ printf "%-24s %4ss  %s\n", $1, $2, $3 }'; exit 0; fi
for j in "$@"; do
    job_list | cut -d'|' -f1 | grep -qx -- "$j" || usage "no job '$j' (--list shows them)"
done
[ -x "$bench" ] || usage "bench '$bench' is not an executable"
if [ -z "$gpus" ]; then
    gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ') || gpus=0
    [ "$gpus" -gt 0 ] || gpus=1
fi
case "$gpus" in ''|*[!0-9]*|0) usage "--gpus '$gpus' is not a positive number" ;; esac

# bench --time-limit (an older bench, e.g. 01453bd's, gets the SIGINT alone)
has_limit=0
"$bench" --help 2>/dev/null | grep -q -- '--time-limit' && has_limit=1
mkdir -p "$dir" || exit 3
touch "$dir/done.txt"
queue="$dir/.queue.$$" lock="$dir/.lock.$$" asked="$dir/.asked.$$"
if [ $# -gt 0 ]; then printf '%s\n' "$@"; else job_list | cut -d'|' -f1; fi > "$asked" # the jobs asked for
job_list | while IFS='|' read -r name need csv args; do
    grep -qx -- "$name" "$asked" || continue
    grep -qx -- "$name" "$dir/done.txt" || echo "$name|$need|$csv|$args"
done > "$queue"
start=$(date +%s)

next_job() { # prints the queue's first line and drops it (mkdir is the lock)
    until mkdir "$lock" 2>/dev/null; do sleep 0.1; done
    head -n 1 "$queue"
    tail -n +2 "$queue" > "$queue.t" && mv "$queue.t" "$queue"
    rmdir "$lock"
}

worker() {
    g=$1
    while :; do
        line=$(next_job)
        [ -n "$line" ] || break
        IFS='|' read -r name need csv args <<EOF
$line
EOF
        log="$dir/$name.log"
        if [ "$deadline" -gt 0 ]; then
            left=$((deadline - ($(date +%s) - start)))
            if [ $left -lt "$need" ]; then
                echo "$name: not started, ${left}s left of ${need}s needed" | tee -a "$dir/summary.txt" >&2
                continue
            fi
            limit="timeout -s INT -k 25 $left"
            case "$args" in
                capacity*|tools/*) ;;
                *) if [ $has_limit -eq 1 ] && [ $((left - 20)) -gt 0 ]; then args="$args --time-limit $((left - 20))"; fi ;;
            esac
        else
            limit=""
        fi
        case "$args" in capacity*) rm -f "$dir/$csv" ;; esac # capacity appends: start the cell afresh
        t0=$(date +%s)
        case "$args" in
            tools/*) # a script (it starts its CSV afresh), given absolute paths: it runs from the root
                prog=$root/$args b=$bench o=$dir/$csv
                case "$b" in /*) ;; *) b=$PWD/$b ;; esac
                case "$o" in /*) ;; *) o=$PWD/$o ;; esac
                set -- --bench "$b" --out "$o" ;;
            *) prog=$bench
                # shellcheck disable=SC2086 # args is a list of words
                set -- $args --out "$dir/$csv" ;;
        esac
        echo "=== $(date -u +%FT%TZ) gpu $g: $prog $*" >> "$log"
        # shellcheck disable=SC2086 # limit is a list of words
        CUDA_VISIBLE_DEVICES=$g $limit "$prog" "$@" >> "$log" 2>&1
        rc=$?
        case $rc in
            0) echo "$name" >> "$dir/done.txt"; what=done ;;
            124|130|137) what="stopped at the deadline" ;;
            *) what="FAILED (exit $rc, $log)"; : > "$dir/.failed.$$" ;;
        esac
        echo "$name: $what, $(($(date +%s) - t0)) s on gpu $g" | tee -a "$dir/summary.txt" >&2
    done
}

g=0
while [ $g -lt "$gpus" ]; do
    worker $g &
    g=$((g + 1))
done
wait
status=0
while read -r j; do
    grep -qx -- "$j" "$dir/done.txt" || status=1
done < "$asked"
rm -f "$queue" "$asked"
[ -e "$dir/.failed.$$" ] && { rm -f "$dir/.failed.$$"; status=3; }
exit $status
