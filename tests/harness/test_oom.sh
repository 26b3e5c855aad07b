#!/bin/sh
# test_oom.sh: a cell that does not fit is recorded, not fatal. With a stand-in device that
# holds 600 token slots, cell 64x64 (3 prompts x 2 completions: padded and packed 768 slots,
# prefix 576) records padded and packed as "oom" and still measures prefix; the cells before
# and after it are measured in full, and the run exits 0. A device error (a failed CUDA call)
# in the same cell is recorded as error with its message, and the sweep stops there with exit 3.
# Usage: test_oom.sh BENCH_OOM SOURCE_ROOT
set -u
bench=$1 root=$2
. "$root/tests/harness/lib.sh"
"$bench" oom=600 --device gpu --model tiny --prompts 3 --completions 2 --cells 8x8,64x64,16x16 \
    --min-reps 1 --min-time 0 --noise 0 --out "$tmp/oom.csv" > /dev/null 2> "$tmp/err"
rc=$?
got=$(cols prompt_len,padded_status,packed_status,prefix_status "$tmp/oom.csv" | tr '\t' ' ' | tr '\n' ';')
want="8 ok ok ok;16 ok ok ok;64 oom oom ok;" # cheapest cell first
[ $rc -eq 0 ] || { fail "exit $rc"; }
[ "$got" = "$want" ] || { fail "statuses '$got', want '$want'"; }
grep -q "oom: needs 768 token slots" "$tmp/err" || { fail "no oom line on stderr"; cat "$tmp/err"; }
[ "$(cols prefix_ms "$tmp/oom.csv" | sed -n 3p)" != NaN ] || { fail "prefix of the oom cell not measured"; }
[ "$(cols padded_ms "$tmp/oom.csv" | sed -n 3p)" = NaN ] || { fail "an oom strategy has a time"; }
"$bench" device-error=600 --device gpu --model tiny --prompts 3 --completions 2 --cells 8x8,64x64,16x16 \
    --min-reps 1 --min-time 0 --noise 0 --out "$tmp/dev.csv" > /dev/null 2> "$tmp/err"
rc=$?
[ $rc -eq 3 ] || fail "device error: exit $rc, want 3"
got=$(cols prompt_len,padded_status,packed_status "$tmp/dev.csv" | tr '\t' ' ' | tr '\n' ';')
[ "$got" = "8 ok ok;16 ok ok;64 error NaN;" ] || fail "device error: rows '$got', want '8 ok ok;16 ok ok;64 error NaN;' (the sweep stops)"
cols padded_error "$tmp/dev.csv" | sed -n 3p | grep -q "illegal memory access" || fail "device error: no message in padded_error"
grep -q "device error: the sweep stops" "$tmp/err" || { fail "device error: no line saying the sweep stops"; cat "$tmp/err"; }
# --profile on the stand-in "gpu": one table per strategy after the cell, the GPU columns filled
"$bench" oom=100000 --device gpu --model tiny --prompts 1 --completions 2 --cells 8x8 --min-reps 1 --min-time 0 --noise 0 \
    --profile --out "$tmp/prof.csv" > "$tmp/out" 2> "$tmp/err" || fail "--profile run: exit $?"
n_ok=$(cols padded_status,packed_status,prefix_status,tree_status "$tmp/prof.csv" | tr '\t' '\n' | grep -c '^ok$')
[ "$n_ok" -eq 4 ] || fail "--profile run: $n_ok strategies ok, want 4"
[ "$(grep -c "^profile: .*, prompt 8 x completion 8, 1 prompts x 2 completions: profiled step 4.000 ms" "$tmp/out")" -eq "$n_ok" ] ||
    { fail "not one profile table per strategy"; cat "$tmp/out"; }
grep -q "^| qkv gemm         | forward   |     2 |     1.000 |  25.0% |" "$tmp/out" || fail "no qkv row in the profile table"
[ "$(cols gemm_select "$tmp/prof.csv")" = heuristic ] || fail "gemm_select '$(cols gemm_select "$tmp/prof.csv")', want heuristic (the default)"
cols padded_roofline_eff,prefix_roofline_eff "$tmp/prof.csv" | grep -q NaN && fail "roofline_eff empty on the (stand-in) gpu"
# issue 15 case 9, device side: a cell whose token ids and layout alone exceed half of this
# host's memory (16 prompts x 64 completions of 1048000 + 1048000 tokens: 2.15e9 slots, just
# below the slot bound, ~73 GB) is recorded "oom" from its estimate in well under a second,
# nothing built (main built it). Only where that is more than half the memory (< 140 GB).
mem_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
if [ "${mem_kb:-0}" -ge 140000000 ]; then
    echo "host memory $mem_kb kB: the host-memory oom case is not checked here"
    finish test_oom
fi
start=$(date +%s)
"$bench" oom=600 --device gpu --model tiny --prompts 16 --completions 64 --cells 8x8,1048000x1048000 \
    --min-reps 1 --min-time 0 --noise 0 --out "$tmp/host.csv" > /dev/null 2> "$tmp/err" || fail "host: exit $?"
[ $(( $(date +%s) - start )) -le 2 ] || fail "host: took $(( $(date +%s) - start )) s"
got=$(cols prompt_len,padded_status,packed_status,prefix_status "$tmp/host.csv" | tr '\t' ' ' | tr '\n' ';')
[ "$got" = "8 oom oom oom;1048000 oom oom oom;" ] || fail "host: statuses '$got'"
grep -q "oom: the cell's layouts need about .* GB of host memory" "$tmp/err" || fail "host: no oom line: $(cat "$tmp/err")"
finish test_oom
