#!/bin/sh
# test_faults.sh: issue 15's hostile inputs and faults, end to end through bench on the CPU.
# Every case here failed on main (commit bf9b8a7); the comment on each says how.
# Usage: test_faults.sh BENCH SOURCE_ROOT
set -u
bench=$1 root=$2
. "$root/tests/harness/lib.sh"
fast="--device cpu --min-reps 1 --min-time 0"
# whole_rows CSV: every record parses with the header's field count and the file ends with a
# newline (bench compare reads the file with the same reader --resume uses; 2 = unreadable)
whole_rows() {
    "$bench" compare "$1" "$1" > /dev/null 2> "$tmp/whole.err"
    [ $? -ne 2 ] || { echo "$(cat "$tmp/whole.err")"; return 1; }
    [ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ] || { echo "$1 does not end with a newline"; return 1; }
}
# limited KB ARGS...: bench with RLIMIT_FSIZE (ulimit -f, 512-byte blocks in dash) as a full
# disk; stderr goes through a pipe (the limit would stop a file); sets rc, stderr in $tmp/err
limited() {
    blocks=$1
    shift
    out=$( { (trap '' XFSZ; ulimit -f "$blocks"; exec "$bench" "$@") 2>&1 > /dev/null; echo "rc=$?"; } )
    printf '%s\n' "$out" | grep -v '^rc=' > "$tmp/err"
    rc=$(printf '%s\n' "$out" | sed -n 's/^rc=//p')
}

# one_line RC WANT ARGS...: exit RC, stderr is exactly one line, holds WANT and has no control
# byte but its newline
one_line() {
    want_rc=$1 want=$2
    shift 2
    "$bench" "$@" > "$tmp/out" 2> "$tmp/err"
    rc=$?
    [ "$rc" -eq "$want_rc" ] || fail "bench $*: exit $rc, want $want_rc: $(head -c 300 "$tmp/err")"
    head -n 1 "$tmp/err" | grep -qF -- "$want" || fail "bench $*: first line '$(head -n 1 "$tmp/err")' lacks '$want'"
    tr -d '\n' < "$tmp/err" | LC_ALL=C grep -q '[[:cntrl:]]' && fail "bench $*: control bytes on stderr"
    [ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "bench $*: $(wc -l < "$tmp/err") lines on stderr"
}

# cases 1, 2: sizes that wrap (main: a heap overflow in model_init_params, exit 139; n_head *
# head_dim wrapping int to pass validation, then "cannot allocate 8864813684224 bytes", exit 1)
printf 'vocab=2\nhidden=65536\nlayers=16777216\nn_head=1\nn_kv_head=1\nhead_dim=65536\nmlp=16689833\nrms_eps=1e-6\nrope_theta=1e4\ntied_embeddings=true\n' > "$tmp/wrap.conf"
one_line 2 "wrap.conf:3: key 'layers': bad integer (want 1..1024) '16777216'" --device cpu --model "$tmp/wrap.conf"
printf 'vocab=512\nhidden=64\nlayers=2\nn_head=67108865\nn_kv_head=1\nhead_dim=64\nmlp=128\nrms_eps=1e-6\nrope_theta=1e4\ntied_embeddings=false\n' > "$tmp/heads.conf"
one_line 2 "heads.conf:4: key 'n_head': bad integer (want 1..1024)" --device cpu --model "$tmp/heads.conf"
printf 'vocab=512\nhidden=64\nlayers=2\nn_head=1024\nn_kv_head=1\nhead_dim=64\nmlp=128\nrms_eps=1e-6\nrope_theta=1e4\ntied_embeddings=false\n' > "$tmp/product.conf"
# valid since head_dim is independent of hidden (issue 13): refused by the CPU budget instead
one_line 2 "over its budget" --device cpu --model "$tmp/product.conf"

# case 9: runaway work refused up front (main: every cell allocated first, 17.6 TB asked and
# 12 GB resident after 35 s; CPU cells of 32k tokens or a 7B model ran for minutes)
printf 'model=tiny\nkind=random\nprompts=65536\ncompletions=64\ncells=1048576\nmin_len=128\nmax_len=16384\n' > "$tmp/huge.conf"
start=$(date +%s)
one_line 2 "needs 137438953472 token slots in the padded layout, above the bound" --device cpu --sweep "$tmp/huge.conf"
[ $(( $(date +%s) - start )) -le 2 ] || fail "the huge sweep took $(( $(date +%s) - start )) s to refuse"
one_line 2 "over its budget of 4 GB and 0.05 TFLOP (--force runs it anyway)" --device cpu --prompts 32768
one_line 2 "model qwen2.5-7b needs 60.9 GB of fp32 weights and gradients on the cpu" --device cpu --model qwen2.5-7b
one_line 2 "the largest cell (4096x4096" --device cpu --cells 4096x4096
timeout 3 "$bench" --device cpu --force --cells 4096x4096 --out "$tmp/force.csv" > /dev/null 2>&1
[ $? -eq 124 ] || fail "--force did not run the cell over the budget"

# case 12: error lines echo input escaped, on one line (main: 29 two-line errors)
nl='
'
one_line 2 "bad value 'a\\nb' for --strategy" --strategy "a${nl}b"
one_line 2 "bad value '5x5\\n\\x1b[31mred' for --cells" --cells "5x5${nl}$(printf '\033')[31mred"
one_line 2 "unknown argument '--bogus\\r\\x01'" "--bogus$(printf '\r\001')"
printf 'vocab = 5\001\n' > "$tmp/ctrl.conf"
one_line 2 "ctrl.conf:1: key 'vocab': control character in '5\\x01'" --device cpu --model "$tmp/ctrl.conf"
printf 'model = tiny\nprompt_lens = 8, 9%s\n' "$(printf '\033')" > "$tmp/esc.conf"
one_line 2 "esc.conf:2: key 'prompt_lens': control character" --device cpu --sweep "$tmp/esc.conf"
mkdir -p "$tmp/new${nl}line"
cp "$root/configs/models/tiny.conf" "$tmp/new${nl}line/tiny.conf"
printf 'layers = 0\n' >> "$tmp/new${nl}line/tiny.conf"
one_line 2 "new\\nline/tiny.conf:12: key 'layers': duplicate" --device cpu --model "$tmp/new${nl}line/tiny.conf"
one_line 2 "no models named 'x\\ny' (see --list)" --device cpu --model "x${nl}y"
one_line 2 "cannot write $tmp/no${nl}dir/x/y.csv" --device cpu --cells 8x8 --out "$tmp/no${nl}dir/x/y.csv"
one_line 2 "cannot write $tmp/no\\ndir/x/y.csv" --device cpu --cells 8x8 --out "$tmp/no${nl}dir/x/y.csv"
printf 'model,prompt_len,completion_len,num_completions,batch_size,padded_ms\nq,1,1,1,1,"1%s2"\n' "$nl" > "$tmp/nlnum.csv"
one_line 2 "nlnum.csv:2: column 'padded_ms': control character in '1\\n2'" compare "$tmp/nlnum.csv" "$tmp/nlnum.csv"

# case 3: a second writer on one --out is refused (main: both wrote; torn or doubled rows)
"$bench" --device cpu --min-time 0.3 --out "$tmp/two.csv" > /dev/null 2> "$tmp/first.err" &
pid=$!
i=0
while [ ! -s "$tmp/two.csv" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
one_line 2 "is being written by another bench (locked)" --device cpu --resume --out "$tmp/two.csv"
one_line 2 "is being written by another bench (locked)" --device cpu --shard 1/2 --out "$tmp/two.csv"
wait "$pid" || fail "the first writer failed: $(cat "$tmp/first.err")"
[ "$(cols cell "$tmp/two.csv" | sort | tr '\n' ' ')" = "0 1 2 3 " ] || fail "two writers: cells $(cols cell "$tmp/two.csv" | tr '\n' ' ')"

# case 4: a last line without a newline is set aside and its cell re-run (main: the row was
# glued onto it, a 121-field row that the next --resume refused)
"$bench" $fast --cells 8x8,9x9 --out "$tmp/torn.csv" > /dev/null 2>&1 || fail "torn: first run"
head -c -40 "$tmp/torn.csv" > "$tmp/torn.tmp" && mv "$tmp/torn.tmp" "$tmp/torn.csv"
"$bench" $fast --resume --cells 8x8,9x9 --out "$tmp/torn.csv" > /dev/null 2> "$tmp/err" || fail "torn: resume exit $?"
grep -q "the last row is torn (no newline).*moved to .*torn.csv.torn; its cell runs again" "$tmp/err" || fail "torn: no message: $(cat "$tmp/err")"
[ -s "$tmp/torn.csv.torn" ] || fail "torn: no .torn file"
[ "$(cols cell "$tmp/torn.csv" | sort | tr '\n' ' ')" = "0 1 " ] || fail "torn: cells $(cols cell "$tmp/torn.csv" | tr '\n' ' ')"
why=$(whole_rows "$tmp/torn.csv") || fail "torn: $why"

# cases 5, 7: 1,500 prompts: a 5 kB+ row, written whole, every length kept (main: prompt_lens
# cut at 2,047 characters, 1,024 of 1,500 lengths; two write() calls per row)
printf 'model=tiny\nkind=random\nprompts=1500\ncompletions=1\ncells=1\nmin_len=50\nmax_len=52\n' > "$tmp/wide.conf"
printf 'vocab=64\nhidden=8\nlayers=1\nn_head=2\nn_kv_head=1\nhead_dim=4\nmlp=8\nrms_eps=1e-6\nrope_theta=1e4\ntied_embeddings=true\n' > "$tmp/micro.conf"
"$bench" $fast --strategy prefix --model "$tmp/micro.conf" --sweep "$tmp/wide.conf" --out "$tmp/wide.csv" > /dev/null 2> "$tmp/err" || fail "wide: exit $?: $(tail -n 2 "$tmp/err")"
[ "$(cols prompt_lens "$tmp/wide.csv" | wc -w)" -eq 1500 ] || fail "wide: $(cols prompt_lens "$tmp/wide.csv" | wc -w) prompt lengths of 1500"
[ "$(tail -n 1 "$tmp/wide.csv" | wc -c)" -gt 5400 ] || fail "wide: row of $(tail -n 1 "$tmp/wide.csv" | wc -c) bytes"

# case 6: a write that fails stops the sweep with the reason, leaving whole rows (main: one
# reasonless line per cell, every cell still computed, a partial last line; with nothing
# written, a 0-byte file that --resume called "another header")
limited 8 $fast --cells 8x8,9x9,10x10,11x11 --out "$tmp/full.csv" # the header and a few rows fit
[ "$rc" = 1 ] || fail "full: exit $rc, want 1"
grep -q "cannot write a row to .*full.csv: File too large; stopping the sweep" "$tmp/err" || fail "full: $(cat "$tmp/err")"
[ "$(grep -c '^\[[0-9]*/[0-9]*\] cell [0-9]*:' "$tmp/err")" -eq $(( $(cols cell "$tmp/full.csv" | wc -l) + 1 )) ] ||
    fail "full: cells ran after the failure: $(cat "$tmp/err")"
why=$(whole_rows "$tmp/full.csv") || fail "full: $why"
limited 0 $fast --cells 8x8 --out "$tmp/zero.csv"
[ "$rc" = 1 ] && grep -q "cannot write .*zero.csv: File too large" "$tmp/err" || fail "zero: exit $rc: $(cat "$tmp/err")"
"$bench" $fast --resume --cells 8x8 --out "$tmp/zero.csv" > /dev/null 2> "$tmp/err" || fail "zero: resume: $(cat "$tmp/err")"
[ "$(cols cell "$tmp/zero.csv")" = "0" ] || fail "zero: cells $(cols cell "$tmp/zero.csv")"

# case 11: --resume matches what a row was measured with (main: after --strategy padded,
# --resume --strategy all skipped every cell; another seed was not noticed)
"$bench" $fast --strategy padded --cells 8x8,9x9 --out "$tmp/set.csv" > /dev/null 2>&1 || fail "set: first run"
"$bench" $fast --resume --strategy all --cells 8x8,9x9 --out "$tmp/set.csv" > /dev/null 2> "$tmp/err" || fail "set: resume"
grep -q "0 of 2 cells already in" "$tmp/err" && grep -q "2 cell(s) run again: a strategy asked for now (padded,packed,prefix,tree) was not run there" "$tmp/err" ||
    fail "set: $(cat "$tmp/err")"
"$bench" $fast --resume --strategy prefix --cells 8x8,9x9 --out "$tmp/set.csv" > /dev/null 2> "$tmp/err" || fail "set: resume 2"
grep -q "2 of 2 cells already in" "$tmp/err" || fail "set: prefix rows not found: $(cat "$tmp/err")"
"$bench" $fast --resume --seed 2 --cells 8x8,9x9 --out "$tmp/set.csv" > /dev/null 2> "$tmp/err" || fail "set: resume 3"
grep -q "2 cell(s) run again: measured there with another --seed (now 2)" "$tmp/err" || fail "set: seed: $(cat "$tmp/err")"
[ "$(cols seed "$tmp/set.csv" | tr '\n' ' ')" = "1 1 1 1 2 2 " ] || fail "set: seeds $(cols seed "$tmp/set.csv" | tr '\n' ' ')"

# case 10: Ctrl-C stops within one step, a second one at once (main: the warm-up and one timed
# step ran first; a second Ctrl-C did nothing). D: one step of this cell, measured here.
slow="--device cpu --strategy padded --cells 256x256"
t0=$(date +%s.%N)
"$bench" $slow --min-reps 1 --min-time 0 --out "$tmp/cal.csv" > /dev/null 2>&1 || fail "ctrl-c: calibration"
d=$(echo "$t0 $(date +%s.%N)" | awk '{ print ($2 - $1) / 2 }') # warm-up + one timed step
run_interrupted() { # run_interrupted SECOND_DELAY: seconds from the first SIGINT to exit
    "$bench" $slow --min-reps 100 --min-time 100 --out "$tmp/int.csv" > /dev/null 2> "$tmp/int.err" &
    pid=$!
    i=0
    while ! grep -q '^\[1/1\]' "$tmp/int.err" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.02; i=$((i + 1)); done
    sleep 0.2
    t1=$(date +%s.%N)
    kill -INT "$pid"
    [ "$1" = none ] || { sleep "$1"; kill -INT "$pid"; }
    wait "$pid"
    echo $? > "$tmp/int.rc"
    echo "$t1 $(date +%s.%N)" | awk '{ print $2 - $1 }'
}
took=$(run_interrupted none)
rc=$(cat "$tmp/int.rc")
[ "$rc" -eq 130 ] || fail "ctrl-c: exit $rc"
awk -v t="$took" -v d="$d" 'BEGIN { exit !(t < 1.5 * d) }' || fail "ctrl-c: stopped $took s after SIGINT, a step is $d s"
took=$(run_interrupted 0.2)
rc=$(cat "$tmp/int.rc")
[ "$rc" -eq 130 ] || fail "second ctrl-c: exit $rc"
awk -v t="$took" -v d="$d" 'BEGIN { exit !(t < 0.2 + 0.5 * d) }' || fail "second ctrl-c: exited $took s after the first SIGINT, a step is $d s"
grep -q "interrupted again: exiting now" "$tmp/int.err" || fail "second ctrl-c: no message"
[ "$(wc -l < "$tmp/int.csv")" -eq 1 ] || fail "ctrl-c: rows written for an interrupted cell"
echo "ctrl-c: one step $d s; the first SIGINT stopped it within 1.5 steps, the second within 0.5 steps"

finish test_faults
