#!/bin/sh
# test_results_tool.sh: tools/results.sh with a stand-in bench (no GPU): the job list, usage
# errors (exit 2), jobs run once with their CSV under --dir and --resume on sweeps, a finished
# job skipped on the next run, a job that needs more time than the deadline leaves not started
# (exit 1), an interrupted job is not done (exit 1), a failing one is exit 3, capacity starts
# its CSV afresh, under a deadline a sweep gets --time-limit (the seconds left less 20) and
# capacity does not, the memory plan job runs tools/memory_plan.sh with this bench and an
# absolute CSV path, and two workers get GPUs 0 and 1.
# Usage: test_results_tool.sh SOURCE_ROOT
set -u
root=$1
. "$root/tests/harness/lib.sh"
tool="$root/tools/results.sh"
stub="$tmp/bench"
cat > "$stub" <<'STUB'
#!/bin/sh
# stand-in bench: --help names --time-limit; logs "gpu ARGS", writes one line to --out;
# --model qwen3-8b fails, --model llama-3.1-8b acts interrupted (130)
[ "$1" = --help ] && { echo "  --time-limit S        ..."; exit 0; }
log=$(dirname "$0")/calls
echo "gpu=$CUDA_VISIBLE_DEVICES $*" >> "$log"
out=""
while [ $# -gt 0 ]; do [ "$1" = --out ] && out=$2; shift; done
echo "row" >> "$out"
sleep 1 # long enough for a second worker to take the next job
case " $(tail -n 1 "$log") " in
    *" qwen3-8b "*) exit 1 ;;
    *" llama-3.1-8b "*) exit 130 ;;
esac
exit 0
STUB
chmod +x "$stub"
d="$tmp/res"
rt() { "$tool" --bench "$stub" --dir "$d" --gpus 1 "$@" 2> "$tmp/err"; }

[ "$("$tool" --list | wc -l)" -eq 20 ] || fail "--list: not 20 jobs"
"$tool" --list | grep -q '^grid_full .*nll_2_qwen7b.csv$' || fail "--list lacks grid_full"
"$tool" --bench "$stub" --dir "$d" nope 2> /dev/null; [ $? -eq 2 ] || fail "unknown job not exit 2"
"$tool" --bogus 2> /dev/null; [ $? -eq 2 ] || fail "unknown option not exit 2"
"$tool" --bench "$tmp/missing" --dir "$d" 2> /dev/null; [ $? -eq 2 ] || fail "missing bench not exit 2"
"$tool" --bench "$stub" --deadline soon 2> /dev/null; [ $? -eq 2 ] || fail "bad deadline not exit 2"

rt grid_full model_qwen2.5-14b || fail "two jobs: exit $? ($(cat "$tmp/err"))"
[ "$(wc -l < "$tmp/calls")" -eq 2 ] || fail "two jobs: $(wc -l < "$tmp/calls") calls"
head -n 1 "$tmp/calls" | grep -q -- "--sweep nll_2_qwen7b .*--recompute full .*--resume --out $d/nll_2_qwen7b.csv" ||
    fail "grid_full's call: $(head -n 1 "$tmp/calls")"
sed -n 2p "$tmp/calls" | grep -q -- "--model qwen2.5-14b --cells 2048x512 .*--out $d/models_qwen2.5-14b.csv" ||
    fail "model call: $(sed -n 2p "$tmp/calls")"
[ "$(sort "$d/done.txt" | tr '\n' ' ')" = "grid_full model_qwen2.5-14b " ] || fail "done.txt: $(cat "$d/done.txt")"
rt grid_full model_qwen2.5-14b || fail "re-run: exit $?"
[ "$(wc -l < "$tmp/calls")" -eq 2 ] || fail "re-run ran a finished job again"

rt --deadline 30 system grpo16; [ $? -eq 1 ] || fail "deadline: not exit 1"
grep -q "system: not started" "$tmp/err" || fail "deadline: system started ($(cat "$tmp/err"))"
[ "$(wc -l < "$tmp/calls")" -eq 2 ] || fail "deadline: a job ran"

rt model_llama-3.1-8b; [ $? -eq 1 ] || fail "interrupted job: not exit 1"
grep -q "model_llama-3.1-8b: stopped at the deadline" "$tmp/err" || fail "interrupted: $(cat "$tmp/err")"
grep -qx model_llama-3.1-8b "$d/done.txt" && fail "interrupted job recorded as done"
rt model_qwen3-8b; [ $? -eq 3 ] || fail "failing job: not exit 3"
grep -q "model_qwen3-8b: FAILED (exit 1" "$tmp/err" || fail "failing: $(cat "$tmp/err")"

echo old > "$d/capacity_4096x4096.csv"
rt capacity_4096x4096 || fail "capacity: exit $?"
[ "$(cat "$d/capacity_4096x4096.csv")" = row ] || fail "capacity CSV not started afresh: $(cat "$d/capacity_4096x4096.csv")"
tail -n 1 "$tmp/calls" | grep -q "^gpu=0 capacity --device gpu --cells 4096x4096 " || fail "capacity call: $(tail -n 1 "$tmp/calls")"

# memory_plan: the script, with the bench and the CSV as absolute paths (it runs from the root),
# its three bench plan calls under GPU 0, no --time-limit, done when it exits 0
rm -f "$tmp/calls"
abs=$(cd "$(dirname "$tool")" && pwd)/results.sh
(cd "$tmp" && "$abs" --bench ./bench --dir mp --gpus 1 --deadline 600 memory_plan 2> "$tmp/err") || fail "memory_plan: exit $? ($(cat "$tmp/err"))"
[ "$(grep -c "^gpu=0 plan --device gpu --strategy padded,packed,prefix .*--out $tmp/mp/memory_plan.csv" "$tmp/calls")" -eq 3 ] ||
    fail "memory_plan calls: $(cat "$tmp/calls")"
grep -q -- --time-limit "$tmp/calls" && fail "memory_plan got --time-limit"
grep -qx memory_plan "$tmp/mp/done.txt" || fail "memory_plan not done"
[ "$(wc -l < "$tmp/mp/memory_plan.csv")" -eq 3 ] || fail "memory_plan CSV: $(cat "$tmp/mp/memory_plan.csv")"

rm -f "$tmp/calls"
"$tool" --bench "$stub" --dir "$tmp/tl" --gpus 1 --deadline 600 random capacity_16384x128 2> "$tmp/err" || fail "deadline 600: exit $?"
grep -q -- "--sweep random .*--time-limit 5[0-9][0-9] --out " "$tmp/calls" || fail "sweep under a deadline: $(grep random "$tmp/calls")"
grep "^gpu=0 capacity" "$tmp/calls" | grep -q -- --time-limit && fail "capacity got --time-limit: $(grep capacity "$tmp/calls")"

rm -f "$tmp/calls"
"$tool" --bench "$stub" --dir "$tmp/two" --gpus 2 model_qwen2.5-0.5b model_mistral-7b-v0.3 grid_auto80 random 2> "$tmp/err" ||
    fail "two workers: exit $? ($(cat "$tmp/err"))"
[ "$(wc -l < "$tmp/calls")" -eq 4 ] || fail "two workers: $(wc -l < "$tmp/calls" 2>/dev/null) calls"
[ "$(cut -d' ' -f1 "$tmp/calls" | sort -u | tr '\n' ' ')" = "gpu=0 gpu=1 " ] || fail "two workers: GPUs $(cut -d' ' -f1 "$tmp/calls" | sort -u | tr '\n' ' ')"
[ "$(wc -l < "$tmp/two/done.txt")" -eq 4 ] || fail "two workers: done.txt"

finish test_results_tool
