#!/bin/sh
# test_oom.sh: a cell that does not fit is recorded, not fatal. With a stand-in device that
# holds 600 token slots, cell 64x64 (3 prompts x 2 completions: padded and packed 768 slots,
# prefix 576) records padded and packed as "oom" and still measures prefix; the cells before
# and after it are measured in full, and the run exits 0.
# Usage: test_oom.sh BENCH_OOM SOURCE_ROOT
set -u
bench=$1 root=$2
. "$root/tests/harness/lib.sh"
PB_FAKE_SLOTS=600 "$bench" --device gpu --model tiny --prompts 3 --completions 2 --cells 8x8,64x64,16x16 \
    --min-reps 1 --min-time 0 --out "$tmp/oom.csv" > /dev/null 2> "$tmp/err"
rc=$?
got=$(cols prompt_len,padded_status,packed_status,prefix_status "$tmp/oom.csv" | tr '\t' ' ' | tr '\n' ';')
want="8 ok ok ok;64 oom oom ok;16 ok ok ok;"
[ $rc -eq 0 ] || { fail "exit $rc"; }
[ "$got" = "$want" ] || { fail "statuses '$got', want '$want'"; }
grep -q "oom: needs 768 token slots" "$tmp/err" || { fail "no oom line on stderr"; cat "$tmp/err"; }
[ "$(cols prefix_ms "$tmp/oom.csv" | sed -n 2p)" != NaN ] || { fail "prefix of the oom cell not measured"; }
[ "$(cols padded_ms "$tmp/oom.csv" | sed -n 2p)" = NaN ] || { fail "an oom strategy has a time"; }
finish test_oom
