#!/bin/sh
# test_kill.sh: the fault test of issue 15. A CPU sweep of 20 cells is killed with SIGKILL at
# random moments, 25 times, each time continued with --resume; then one last --resume finishes
# it. Afterwards every cell is in the file exactly once, every row parses, the file ends with a
# newline and no row was ever torn (no FILE.torn was needed). Bounded: about 10 s.
# Usage: test_kill.sh BENCH SOURCE_ROOT
set -u
bench=$1 root=$2
. "$root/tests/harness/lib.sh"
cat > "$tmp/kill.conf" <<CONF
model = tiny
kind = grid
prompts = 2
completions = 2
prompt_lens = 4, 8, 12, 16, 20
completion_lens = 4, 8, 12, 16
CONF
run() { exec "$bench" --device cpu --min-reps 2 --min-time 0.03 --sweep "$tmp/kill.conf" --resume --out "$tmp/k.csv"; }
seed=$(date +%s)
echo "random kill times seeded with $seed"
kills=0
for i in $(seq 1 25); do
    delay=$(awk -v s="$seed" -v i="$i" 'BEGIN { srand(s + i); printf "%.3f", rand() * 0.3 }')
    run > /dev/null 2>> "$tmp/log" &
    pid=$!
    sleep "$delay"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    [ $? -eq 137 ] && kills=$((kills + 1))
done
(run) > /dev/null 2>> "$tmp/log" || fail "the last --resume failed: $(tail -n 3 "$tmp/log")"
echo "$kills of 25 runs died of SIGKILL, $(cols cell "$tmp/k.csv" | wc -l) rows"
[ "$kills" -ge 5 ] || fail "only $kills runs were killed before they finished: the test did not test"
[ -e "$tmp/k.csv.torn" ] && fail "a torn row was set aside: $(cat "$tmp/k.csv.torn")"
grep -q "torn" "$tmp/log" && fail "a run reported a torn file: $(grep torn "$tmp/log" | head -n 2)"
cells=$(cols cell "$tmp/k.csv" | sort -n | tr '\n' ' ')
[ "$cells" = "$(seq 0 19 | tr '\n' ' ')" ] || fail "cells in the file: $cells"
"$bench" compare "$tmp/k.csv" "$tmp/k.csv" > /dev/null 2> "$tmp/err"
[ $? -ne 2 ] || fail "the file does not parse: $(cat "$tmp/err")"
[ "$(tail -c 1 "$tmp/k.csv" | od -An -c | tr -d ' ')" = '\n' ] || fail "the file does not end with a newline"
finish test_kill
