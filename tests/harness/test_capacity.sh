#!/bin/sh
# test_capacity.sh: `bench capacity` end to end. Without a device it plans only (status
# planned) and its B agrees with `bench plan`'s own peaks (B within 141 GB, B + 1 over it);
# with --device cpu the tiny model is searched and timed at capacity on the fp32 reference:
# completions/s and tokens/s follow from B, K, the lengths and the median; the CSV has its
# columns and one row per strategy, appended under one header (another CSV refused); a budget
# below one prompt is a recorded skip (exit 0);
# bad input exits 2 with one line; --device gpu in a build without a GPU step exits 1.
# Usage: test_capacity.sh BENCH SOURCE_ROOT
set -u
bench=$1 root=$2
. "$root/tests/harness/lib.sh"

# plan only (Qwen2.5-7B, 141 GB), then `bench plan` at B and B + 1
"$bench" capacity --cells 4096x4096 --completions 2 --strategy padded,prefix --out "$tmp/host.csv" > "$tmp/out" 2> "$tmp/err" ||
    fail "capacity (plan only) exit $?: $(head -n 1 "$tmp/err")"
grep -q "planned on the host" "$tmp/out" || fail "no 'planned on the host' line"
want=model,strategy,prompt_len,completion_len,num_completions,budget_gb,recompute,status,batch_size,completions,limit
want=$want,plan_gb,plan_next_gb,measured_gb,median_ms,completions_per_s,tokens_per_s,note,device,git_commit,command
cols "$want" "$tmp/host.csv" > "$tmp/host.tsv" || fail "a column is missing from the capacity CSV"
[ "$(wc -l < "$tmp/host.tsv")" -eq 2 ] || fail "want 2 rows (padded, prefix), got $(wc -l < "$tmp/host.tsv")"
awk -F '\t' '$8 != "planned" || $7 != "full" || $6 != 141 || $19 != "host" || $9 < 1 || $10 != 2 * $9 || $11 != "budget" ||
             $12 > 141 || $13 <= 141 || $14 != "NaN" || $16 != "NaN" { bad = 1 } END { exit bad }' "$tmp/host.tsv" ||
    fail "plan-only rows: $(cat "$tmp/host.tsv")"
pad_b=$(awk -F '\t' '$2 == "padded" { print $9 }' "$tmp/host.tsv")
pre_b=$(awk -F '\t' '$2 == "prefix" { print $9 }' "$tmp/host.tsv")
[ "${pre_b:-0}" -ge "${pad_b:-1}" ] || fail "prefix B $pre_b below padded B $pad_b"
for b in "$pre_b" "$((pre_b + 1))"; do
    "$bench" plan --cells 4096x4096 --prompts "$b" --completions 2 --strategy prefix --out "$tmp/plan.csv" > /dev/null 2>&1 ||
        fail "bench plan --prompts $b"
done
awk -F, -v b="$pre_b" 'NR > 1 && $5 == b && $9 > 141 { bad = 1 } NR > 1 && $5 == b + 1 && $9 <= 141 { bad = 1 }
                       END { exit bad || NR != 3 }' "$tmp/plan.csv" || fail "bench plan disagrees with B = $pre_b: $(cat "$tmp/plan.csv")"

# the tiny model timed on the cpu at capacity
"$bench" capacity --device cpu --model tiny --cells 16x8,5x40 --completions 2 --strategy padded,packed,prefix \
    --memory-budget 0.0855 --min-reps 2 --min-time 0 --out "$tmp/cpu.csv" > "$tmp/out" 2> "$tmp/err" ||
    fail "capacity --device cpu exit $?: $(head -n 1 "$tmp/err")"
cols model,strategy,prompt_len,completion_len,num_completions,status,batch_size,plan_batch_size,completions,median_ms,completions_per_s,tokens_per_s,loss,measured_gb,device,reps,budget_gb,model_tflops,hw_tflops \
    "$tmp/cpu.csv" > "$tmp/cpu.tsv" || fail "cpu CSV columns"
[ "$(wc -l < "$tmp/cpu.tsv")" -eq 6 ] || fail "want 6 rows (2 cells x 3 strategies), got $(wc -l < "$tmp/cpu.tsv")"
awk -F '\t' 'function off(a, b) { return a - b > 1e-3 * b || b - a > 1e-3 * b }
             { s = $10 / 1000; n = $7 * $5 }
             $6 != "ok" || $15 != "cpu" || $7 < 1 || $7 != $8 || $9 != n || $16 < 2 || $17 != 0.0855 || $13 == "NaN" ||
             $14 == "NaN" || off($11, n / s) || off($12, n * ($3 + $4) / s) || !($19 > $18) { print "bad row: " $0; bad = 1 }
             END { exit bad }' "$tmp/cpu.tsv" || fail "cpu rows"
grep -q "timed on the cpu" "$tmp/out" || fail "no 'timed on the cpu' line"
grep -q "prefix / padded: B .*x, completions/s .*x" "$tmp/out" || fail "no prefix / padded ratio line"
# the same search without a device gives the same B
"$bench" capacity --model tiny --cells 16x8,5x40 --completions 2 --strategy padded,packed,prefix --memory-budget 0.0855 \
    --out "$tmp/cpu_plan.csv" > /dev/null 2>&1 || fail "tiny plan only"
[ "$(cols strategy,batch_size "$tmp/cpu_plan.csv")" = "$(cols strategy,batch_size "$tmp/cpu.csv")" ] ||
    fail "B differs between the plan-only and the timed run"

# tree at two levels is prefix's row, not run again
"$bench" capacity --model tiny --cells 16x8 --completions 2 --memory-budget 0.0855 --out "$tmp/all.csv" > "$tmp/out" 2>&1 ||
    fail "all strategies, plan only"
[ "$(cols strategy,batch_size "$tmp/all.csv" | awk '$1 == "prefix" || $1 == "tree" { print $2 }' | uniq | wc -l)" -eq 1 ] &&
    grep -q "^tiny,tree,.*two levels: the tree layout is prefix's" "$tmp/all.csv" || fail "tree's row is not prefix's with its note"

# a second run appends to the file under its one header; another program's CSV is refused
"$bench" capacity --model tiny --cells 16x8 --completions 2 --strategy prefix --memory-budget 0.0855 \
    --out "$tmp/cpu_plan.csv" > /dev/null 2>&1 || fail "appending run"
[ "$(grep -c '^model,strategy,' "$tmp/cpu_plan.csv")" -eq 1 ] && [ "$(wc -l < "$tmp/cpu_plan.csv")" -eq 8 ] ||
    fail "want one header and 7 rows after appending, got $(wc -l < "$tmp/cpu_plan.csv") lines"
"$bench" capacity --model tiny --cells 16x8 --completions 2 --memory-budget 0.0855 --out "$tmp/plan.csv" > /dev/null 2> "$tmp/err"
[ $? -eq 2 ] && grep -q "another header" "$tmp/err" || fail "--out on bench plan's CSV: want exit 2 and the reason"

# a budget below one prompt: recorded skips, exit 0
"$bench" capacity --device cpu --model tiny --cells 16x8 --completions 2 --strategy padded,prefix --memory-budget 0.01 \
    --out "$tmp/skip.csv" > "$tmp/out" 2>&1 || fail "budget below one prompt: exit $?"
[ "$(cols status,batch_size "$tmp/skip.csv" | grep -c "^skipped	0$")" -eq 2 ] || fail "want 2 skipped rows with B 0"
grep -q "does not fit: one prompt plans" "$tmp/skip.csv" || fail "skip without its reason"

# bad input: exit 2 and one line
for args in "--memory-budget 0" "--memory-budget abc" "--memory-budget -3" "--cells 4096x4096 --prompts 3" \
            "--lengths $root/tests/harness/data/random_tiny.csv" "--sweep random" "--cells 12x"; do
    # shellcheck disable=SC2086
    "$bench" capacity $args > /dev/null 2> "$tmp/err"
    rc=$?
    [ "$rc" -eq 2 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "capacity $args: want exit 2 and one line, got $rc: $(cat "$tmp/err")"
done
"$bench" capacity --cells 512x512 --device gpu > /dev/null 2> "$tmp/err"
[ $? -eq 1 ] && grep -q "no GPU step" "$tmp/err" || fail "--device gpu without a GPU step: want exit 1 and the reason"
finish test_capacity
