#!/bin/sh
# test_plan.sh: `bench plan` without a GPU: the planned peaks of Qwen2.5-7B per strategy and the
# largest buffers at the peak, and the FLOP-ideal speedups over padded, for --cells / --prompts /
# --completions / --lengths; the CSV rows (--out,
# appended, one header); prefix at most padded; bad input exits 2 with one line; --device gpu
# in a build without a GPU step exits 1.
# Usage: test_plan.sh BENCH SOURCE_ROOT
set -u
bench=$1 root=$2
. "$root/tests/harness/lib.sh"

"$bench" plan --cells 512x512,4096x4096 --out "$tmp/plan.csv" > "$tmp/out" 2> "$tmp/err" || fail "plan exit $?: $(head -n 1 "$tmp/err")"
grep -q "cell 4096 x 4096, 3 prompts x 2 completions" "$tmp/out" || fail "no cell header in the output"
grep -q "peak at: backward of layer" "$tmp/out" || fail "no peak phase in the output"
grep -q "gradients (" "$tmp/out" || fail "no largest buffers at the peak"
[ "$(grep -c '^  prefix' "$tmp/out")" -eq 2 ] || fail "want one prefix line per cell"
"$bench" plan --cells 2048x1024 --prompts 2 --completions 8 --strategy prefix --out "$tmp/plan.csv" > /dev/null 2>&1 ||
    fail "plan --prompts 2 --completions 8"
[ "$(grep -c '^model,attention,' "$tmp/plan.csv")" -eq 1 ] || fail "CSV header missing or repeated"
[ "$(grep -c '^qwen2.5-7b,cudnn,' "$tmp/plan.csv")" -eq 9 ] || fail "want 9 rows (2 cells x 4 strategies + 1)"
grep -q '^qwen2.5-7b,cudnn,2048,1024,2,8,prefix,' "$tmp/plan.csv" || fail "no 2 x 8 prefix row"
# per cell: prefix's planned peak (column 9) at most padded's
awk -F, 'NR > 1 && $7 == "padded" { pad[$3 "x" $4] = $9 } NR > 1 && $7 == "prefix" && ($3 "x" $4) in pad && $9 > pad[$3 "x" $4] { bad = 1 }
         END { exit bad }' "$tmp/plan.csv" || fail "a prefix peak above padded's"
# the issue's aim for 4096 x 4096: at most 34 / 34 / 33 GB
awk -F, 'NR > 1 && $3 == 4096 && $4 == 4096 && (($7 == "prefix" && $9 > 33) || ($7 != "prefix" && $9 > 34)) { bad = 1 }
         END { exit bad }' "$tmp/plan.csv" || fail "4096 x 4096 above the aim"

# the FLOP-ideal speedups over padded per cell (model FLOPs, DESIGN.md section 3): 512 x 512
# 3 x 2 shares 1.312 (the grid's ideal_speedup_pad_prefix there); a system prompt of 2048
# above 2 prompts of 256 with 2 completions of 256 each: padded 4 rows of 2560, tree 3584
# slots, so tree's ideal is well above prefix's (which repeats the system prompt per prompt);
# padded alone: no line
grep -qx "  FLOP-ideal speedup over padded: packed 1.000, prefix 1.312, tree 1.312" "$tmp/out" ||
    fail "512 x 512: no ideal speedup line, or not 1.000 / 1.312 / 1.312"
printf 'batch,id,parent,length,loss\n0,0,,2048,0\n0,1,0,256,0\n0,2,1,256,1\n0,3,1,256,1\n0,4,0,256,0\n0,5,4,256,1\n0,6,4,256,1\n' > "$tmp/sys.csv"
"$bench" plan --lengths "$tmp/sys.csv" --strategy prefix,tree > "$tmp/sys" 2>&1 || fail "plan --lengths: exit $?"
awk '/FLOP-ideal speedup over padded: prefix/ { gsub(",", ""); p = $6; t = $8; found = 1 }
     END { exit !(found && p > 1.7 && p < 1.9 && t > 2.7 && t < 2.9) }' "$tmp/sys" ||
    fail "plan --lengths (system prompt): want prefix about 1.8 and tree about 2.8: $(grep ideal "$tmp/sys")"
"$bench" plan --cells 512x512 --strategy padded 2>&1 | grep -q "FLOP-ideal" && fail "padded alone: an ideal line"

"$bench" plan --cells 12x > /dev/null 2> "$tmp/err"
[ $? -eq 2 ] && head -n 1 "$tmp/err" | grep -q -- "--cells" || fail "bad --cells: want exit 2 and a first line naming it"
"$bench" plan --attention nonsense > /dev/null 2> "$tmp/err"
[ $? -eq 2 ] || fail "bad --attention: want exit 2"
"$bench" plan --cells 512x512 --device gpu > /dev/null 2> "$tmp/err"
[ $? -eq 1 ] && grep -q "no GPU step" "$tmp/err" || fail "--device gpu without a GPU step: want exit 1 and the reason"
# --mlp-chunk fixes the MLP chunk's cap (here: 16384 tokens, one chunk of 16384 for 49152 slots)
"$bench" plan --cells 4096x4096 --strategy padded --mlp-chunk 16384 > "$tmp/chunk" 2>&1 || fail "plan --mlp-chunk"
grep -q "MLP chunk 16384 rows" "$tmp/chunk" || fail "--mlp-chunk 16384 not used"
"$bench" plan --mlp-chunk 7 > /dev/null 2>&1
[ $? -eq 2 ] || fail "--mlp-chunk 7: want exit 2"
# --recompute: the choice and its hardware FLOPs per strategy; none plans more than full; auto
# at a budget between holds its peak to it and says what it chose; bad values exit 2
"$bench" plan --cells 512x512 --strategy padded --recompute none --out "$tmp/rc.csv" > "$tmp/none" 2>&1 || fail "plan --recompute none"
grep -q "recompute none; hardware FLOPs .* = 1.0000 x model FLOPs" "$tmp/none" || fail "--recompute none: no hardware FLOPs line"
"$bench" plan --cells 512x512 --strategy padded > "$tmp/full" 2>&1 || fail "plan (full)"
grep -q "recompute full; hardware FLOPs .* = 1.2[0-9]* x model" "$tmp/full" || fail "full: want about 1.23x hardware FLOPs"
peak() { sed -n 's/^  padded .*: peak \([0-9.]*\) GB.*/\1/p' "$1"; }
awk -v a="$(peak "$tmp/none")" -v b="$(peak "$tmp/full")" 'BEGIN { exit !(a > b + 5) }' || fail "none's peak not above full's"
"$bench" plan --cells 512x512 --strategy padded --recompute auto --memory-budget 37 > "$tmp/auto" 2>&1 || fail "plan --recompute auto"
grep -q "recompute auto: [0-9]* none, [0-9]* selective, [0-9]* full (" "$tmp/auto" || fail "auto: no choice line"
awk -v a="$(peak "$tmp/auto")" 'BEGIN { exit !(a <= 37 && a > 31) }' || fail "auto at 37 GB: peak $(peak "$tmp/auto")"
grep -q ',"none",$' "$tmp/rc.csv" || fail "plan CSV: no recompute column"
"$bench" plan --recompute partial > /dev/null 2>&1
[ $? -eq 2 ] || fail "--recompute partial: want exit 2"
finish test_plan
