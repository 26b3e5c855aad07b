#!/bin/sh
# test_end_to_end.sh: bench on the CPU, all strategies: the tiny sweep runs, every row's loss
# columns agree (relative 1e-5) and loss_check says ok; --resume skips done cells; --shard
# splits the cells; a ragged random sweep (real padding) agrees too; SIGINT leaves a valid CSV;
# one progress line with an ETA per cell; the clock and --max-time columns; the stopping
# rule's columns; cells run cheapest first; the row of each process's first cell names the
# strategy whose warm-up opened the process (warmup_first); --time-limit leaves the cells that
# would end after it to --resume.
# Usage: test_end_to_end.sh BENCH SOURCE_ROOT
set -u
bench=$1 root=$2
. "$root/tests/harness/lib.sh"

# check_losses CSV ROWS: ROWS data rows, statuses ok, losses finite and equal within 1e-5
check_losses() {
    n=$(cols cell "$1" | wc -l)
    [ "$n" -eq "$2" ] || fail "$1: $n rows, want $2"
    cols padded_status,packed_status,prefix_status,padded_loss,packed_loss,prefix_loss,loss_check "$1" | awk -F '\t' '
        { if ($1 != "ok" || $2 != "ok" || $3 != "ok" || $7 != "ok") { print "row " NR ": " $0; bad = 1 }
          for (i = 5; i <= 6; i++) { d = $i - $4; if (d < 0) d = -d; a = $4 < 0 ? -$4 : $4
              if (!(a > 0) || d > 1e-5 * a) { print "row " NR ": losses " $4 " " $5 " " $6; bad = 1 } } }
        END { exit bad }' || fail "$1: losses or statuses"
}

# 1. the default CPU run, as a user types it
"$bench" --device cpu --strategy all --out "$tmp/tiny.csv" > "$tmp/stdout" 2> "$tmp/stderr" || { fail "tiny sweep exit $?"; cat "$tmp/stderr"; }
check_losses "$tmp/tiny.csv" 4
grep -q "| prompt |" "$tmp/stdout" || fail "no table on stdout"
grep -q "\[4/4\]" "$tmp/stderr" || fail "no progress on stderr"
grep -q "^\[4/4\] cells done in .* ETA 0s$" "$tmp/stderr" || fail "no 'cells done ... ETA' line after the last cell"
[ "$(grep -c "cells done in .* PFLOP left at .* TFLOP/s so far: ETA" "$tmp/stderr")" -eq 4 ] || fail "not one ETA line per cell"
# the CPU has no clocks (empty), reports whether --max-time cut the timing, and what runs
[ "$(cols padded_clocks,padded_sm_mhz_min,padded_stopped_at_max_time,prefix_error,attention "$tmp/tiny.csv" | sort -u)" = "$(printf 'NaN\tNaN\tno\tNaN\tNaN')" ] ||
    fail "clock / max-time / error / attention columns on the cpu: $(cols padded_clocks,padded_sm_mhz_min,padded_stopped_at_max_time,prefix_error,attention "$tmp/tiny.csv" | sort -u)"
# the roofline (H200 ceilings) and the GEMM choice are GPU figures: empty on the cpu
[ "$(cols padded_roofline_eff,prefix_roofline_eff,gemm_select "$tmp/tiny.csv" | sort -u)" = "$(printf 'NaN\tNaN\tNaN')" ] ||
    fail "roofline_eff / gemm_select on the cpu: $(cols padded_roofline_eff,prefix_roofline_eff,gemm_select "$tmp/tiny.csv" | sort -u)"
head -n 1 "$tmp/tiny.csv" | grep -q "^model,method,prompt_len,completion_len,num_completions,batch_size,padded_ms,packed_ms,prefix_ms,padded_gb,packed_gb,prefix_gb,speedup_pad_pack,speedup_pack_prefix,speedup_pad_prefix,padded_tokens,packed_tokens,prefix_tokens," || fail "header"

# the stopping rule in every row: the cpu's default has no noise target (min-reps and
# min-time alone: the rule holds, "noise"); the warm-up's time is kept apart
[ "$(cols noise_target,measure_rule,padded_stop,prefix_stop "$tmp/tiny.csv" | sort -u)" = "$(printf '0\twarmup=1 min_reps=3 max_reps=100 noise=0 min_time=0.2s max_time=5s\tnoise\tnoise')" ] ||
    fail "rule columns on the cpu: $(cols noise_target,measure_rule,padded_stop,prefix_stop "$tmp/tiny.csv" | sort -u)"
cols padded_warmup_ms,prefix_warmup_ms,padded_noise,padded_iqr_ms,padded_ms "$tmp/tiny.csv" | awk -F '\t' '
    { if (!($1 > 0) || !($2 > 0) || $3 == "NaN" || ($3 - $4 / $5) > 1e-6 || ($4 / $5 - $3) > 1e-6) bad = 1 }
    END { exit bad }' || fail "warm-up or noise columns: $(cols padded_warmup_ms,prefix_warmup_ms,padded_noise,padded_iqr_ms,padded_ms "$tmp/tiny.csv")"
# a noise target and a cap on the reps: each strategy stops on one or the other, within the cap
"$bench" --device cpu --cells 8x8,16x8 --noise 0.5 --min-reps 2 --max-reps 4 --min-time 0 --out "$tmp/rule.csv" > /dev/null 2>&1 ||
    fail "--noise run exit"
[ "$(cols noise_target,measure_rule "$tmp/rule.csv" | sort -u)" = "$(printf '0.5\twarmup=1 min_reps=2 max_reps=4 noise=0.5 min_time=0s max_time=5s')" ] ||
    fail "rule columns with --noise: $(cols noise_target,measure_rule "$tmp/rule.csv" | sort -u)"
cols padded_stop,padded_reps,padded_noise,prefix_stop,prefix_reps,prefix_noise "$tmp/rule.csv" | awk -F '\t' '
    { for (i = 1; i <= 4; i += 3) if (!(($i == "noise" && $(i + 2) <= 0.5 && $(i + 1) >= 2) || ($i == "max_reps" && $(i + 1) == 4))) bad = 1 }
    END { exit bad }' || fail "stop reasons with --noise: $(cols padded_stop,padded_reps,padded_noise,prefix_stop,prefix_reps,prefix_noise "$tmp/rule.csv")"
# --warmup auto: recorded in the rule; every strategy of the first three cells is warmed up
"$bench" --device cpu --cells 8x8,16x8,8x16,16x16 --warmup auto --noise 0.5 --min-reps 2 --max-reps 3 --min-time 0 \
    --strategy padded,prefix --out "$tmp/auto.csv" > /dev/null 2>&1 || fail "--warmup auto exit"
[ "$(cols measure_rule "$tmp/auto.csv" | sort -u | cut -d ' ' -f 1)" = "warmup=auto" ] || fail "auto rule: $(cols measure_rule "$tmp/auto.csv" | sort -u)"
[ "$(cols padded_warmup_ms,prefix_warmup_ms "$tmp/auto.csv" | head -n 3 | grep -c NaN)" -eq 0 ] ||
    fail "auto: a warm-up skipped in the first three cells: $(cols padded_warmup_ms,prefix_warmup_ms "$tmp/auto.csv")"

fast="--device cpu --min-reps 1 --min-time 0"
# 2. resume: nothing left to do, the file keeps its 4 rows
"$bench" $fast --resume --out "$tmp/tiny.csv" > /dev/null 2> "$tmp/stderr" || fail "resume exit"
grep -q "4 of 4 cells already" "$tmp/stderr" || fail "resume did not skip: $(cat "$tmp/stderr")"
check_losses "$tmp/tiny.csv" 4

# 3. shard 1/2 runs cells 1 and 3; resuming without a shard adds 0 and 2
"$bench" $fast --shard 1/2 --out "$tmp/shard.csv" > /dev/null 2>&1 || fail "shard exit"
[ "$(cols cell "$tmp/shard.csv" | tr '\n' ' ')" = "1 3 " ] || fail "shard cells: $(cols cell "$tmp/shard.csv" | tr '\n' ' ')"
"$bench" $fast --resume --out "$tmp/shard.csv" > /dev/null 2>&1 || fail "shard resume exit"
[ "$(cols cell "$tmp/shard.csv" | sort | tr '\n' ' ')" = "0 1 2 3 " ] || fail "resumed cells: $(cols cell "$tmp/shard.csv" | tr '\n' ' ')"
# warmup_first: the first row of each process names the strategy that ran the process's first
# step (padded: the first asked for), every other row is empty; the shard run's rows came
# first in the file, the resumed run's after them
[ "$(cols warmup_first "$tmp/shard.csv" | tr '\n' ' ')" = "padded NaN padded NaN " ] ||
    fail "warmup_first over two processes: $(cols cell,warmup_first "$tmp/shard.csv" | tr '\t\n' ': ')"
"$bench" $fast --cells 16x8,8x8 --strategy prefix,tree --out "$tmp/first.csv" > /dev/null 2>&1 || fail "first-strategy run exit"
[ "$(cols warmup_first "$tmp/first.csv" | tr '\n' ' ')" = "prefix NaN " ] ||
    fail "warmup_first with prefix first: $(cols warmup_first "$tmp/first.csv" | tr '\n' ' ')"

# 3a. --time-limit: the first cell always runs; the next, predicted at the first one's pace,
# would end after 1 ms: not started, exit 130, the rest left to --resume (a resumed process
# predicts its first cell from the file); a generous limit changes nothing
limit_holds_cell_1() { # ARGS...: --time-limit 0.001 ARGS holds cell 1 back, cell 0 the only row
    "$bench" $fast --cells 8x8,16x16,32x32 --strategy padded --time-limit 0.001 "$@" --out "$tmp/limit.csv" > /dev/null 2> "$tmp/stderr"
    rc=$?
    [ $rc -eq 130 ] && [ "$(cols cell "$tmp/limit.csv" | wc -l)" -eq 1 ] && grep -q "^bench: --time-limit 0.001 s: cell 1 would take about .* 2 cell(s) left for --resume$" "$tmp/stderr" ||
        fail "--time-limit 0.001 $*: exit $rc, $(cols cell "$tmp/limit.csv" | wc -l) rows: $(grep time-limit "$tmp/stderr")"
}
limit_holds_cell_1
# a resumed process predicts its first cell too, at the pace of the largest row kept
limit_holds_cell_1 --resume
"$bench" $fast --cells 8x8,16x16,32x32 --strategy padded --time-limit 1000 --resume --out "$tmp/limit.csv" > /dev/null 2>&1 ||
    fail "--time-limit 1000 --resume: exit $?"
[ "$(cols cell "$tmp/limit.csv" | tr '\n' ' ')" = "0 1 2 " ] || fail "--time-limit then --resume: cells $(cols cell "$tmp/limit.csv" | tr '\n' ' ')"

# 3b. cheapest cell first (model FLOPs): the rows follow the run order, `cell` the given order
"$bench" $fast --cells 64x32,16x8,32x16 --strategy padded,prefix --out "$tmp/order.csv" 2> "$tmp/stderr" > /dev/null ||
    fail "order exit"
[ "$(cols cell,prompt_len "$tmp/order.csv" | tr '\t\n' ': ')" = "1:16 2:32 0:64 " ] ||
    fail "run order: $(cols cell,prompt_len "$tmp/order.csv" | tr '\t\n' ': ')"
grep -q "^\[1/3\] cell 1: prompt 16 x completion 8" "$tmp/stderr" || fail "progress does not start with the cheapest cell"

# 4. ragged lengths: padded rows carry real padding; losses still agree
cat > "$tmp/ragged.conf" <<CONF
model = tiny
kind = random
prompts = 2
completions = 3
cells = 2
min_len = 3
max_len = 40
seed = 7
CONF
"$bench" $fast --sweep "$tmp/ragged.conf" --out "$tmp/ragged.csv" > /dev/null 2>&1 || fail "ragged exit"
check_losses "$tmp/ragged.csv" 2
[ "$(cols completion_lens "$tmp/ragged.csv" | head -n 1 | wc -w)" -eq 6 ] || fail "exact completion lengths missing"

# 5. one strategy: the others are "skipped", no loss check possible
"$bench" $fast --strategy prefix --cells 8x8 --out "$tmp/one.csv" > /dev/null 2>&1 || fail "one strategy exit"
[ "$(cols padded_status,prefix_status,loss_check "$tmp/one.csv")" = "$(printf 'skipped\tok\tn/a')" ] || fail "one strategy row"

# 5b. --prefix-share: a prompt of 1 against completions of 60 gains < 1.02 (tiny's FLOP rates): auto runs
# the padded layout (prefix_tokens = padded_tokens, run ideal 1) beside the sharing ideal; always shares
"$bench" $fast --strategy padded,prefix --cells 1x60,16x8 --out "$tmp/share.csv" > "$tmp/share.out" 2>&1 || fail "share exit"
# rows in run order, cheapest first: 16x8 (144 padded slots) before 1x60 (366)
[ "$(cols prefix_share,prefix_shared_groups,ideal_speedup_pad_prefix_run "$tmp/share.csv" | tail -n 1)" = "$(printf 'auto	0/3	1')" ] ||
    fail "auto at 1x60: $(cols prefix_share,prefix_shared_groups,ideal_speedup_pad_prefix_run "$tmp/share.csv" | tail -n 1)"
[ "$(cols padded_tokens,prefix_tokens "$tmp/share.csv" | tail -n 1 | awk -F '\t' '{ print ($1 == $2) }')" = 1 ] ||
    fail "auto at 1x60: prefix tokens are not padded's"
[ "$(cols prefix_shared_groups "$tmp/share.csv" | head -n 1)" = "3/3" ] || fail "auto at 16x8 did not share"
cols ideal_speedup_pad_prefix "$tmp/share.csv" | tail -n 1 | awk '{ exit !($1 > 1 && $1 < 1.02) }' ||
    fail "1x60: the sharing ideal $(cols ideal_speedup_pad_prefix "$tmp/share.csv" | tail -n 1) is not in (1, 1.02)"
grep -q "prefix layout: 0 of 3 groups share their prompt (--prefix-share auto, theta 0.02): the padded layout" "$tmp/share.out" ||
    fail "run log lacks the prefix layout's choice"
"$bench" $fast --strategy padded,prefix --cells 1x60 --prefix-share always --out "$tmp/always.csv" > /dev/null 2>&1 ||
    fail "always exit"
[ "$(cols prefix_share,prefix_shared_groups "$tmp/always.csv")" = "$(printf 'always	3/3')" ] || fail "always did not share"
[ "$(cols loss_check "$tmp/share.csv" "$tmp/always.csv" | sort -u)" = ok ] || fail "--prefix-share: prefix's loss is not padded's"

# 6. SIGINT: exit 130, the CSV holds whole rows only
"$bench" --device cpu --min-time 0.4 --out "$tmp/int.csv" > /dev/null 2>&1 &
pid=$!
sleep 2
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] || fail "SIGINT exit $rc, want 130"
nf=$(head -n 1 "$tmp/int.csv" | awk -F, '{ print NF }')
awk -F, -v nf="$nf" 'NF != nf { bad = 1 } END { exit bad }' "$tmp/int.csv" || fail "SIGINT left a partial row"
"$bench" $fast --resume --out "$tmp/int.csv" > /dev/null 2>&1 || fail "resume after SIGINT"
check_losses "$tmp/int.csv" 4

finish test_end_to_end
