#!/bin/sh
# test_tree.sh: tree sharing through bench on the CPU. The tiny_tree sweep (a three-level tree)
# runs all four strategies with equal losses, the forest column gives each cell's exact
# segments, tree < prefix < padded in token slots and in the FLOP ideal, --resume skips forest
# cells; --lengths runs a user's file (rows out of order, a header, two batches, depth 4) with
# equal losses; every malformed lengths file is refused with exit 2 and one line naming it.
# Usage: test_tree.sh BENCH SOURCE_ROOT
set -u
bench=$1 root=$2
. "$root/tests/harness/lib.sh"
fast="--device cpu --min-reps 1 --min-time 0"

# check_four CSV ROWS: ROWS rows, all four ok, losses equal within 1e-5, loss_check ok
check_four() {
    n=$(cols cell "$1" | wc -l)
    [ "$n" -eq "$2" ] || fail "$1: $n rows, want $2"
    cols padded_status,packed_status,prefix_status,tree_status,padded_loss,packed_loss,prefix_loss,tree_loss,loss_check "$1" | awk -F '\t' '
        { if ($1 != "ok" || $2 != "ok" || $3 != "ok" || $4 != "ok" || $9 != "ok") { print "row " NR ": " $0; bad = 1 }
          for (i = 6; i <= 8; i++) { d = $i - $5; if (d < 0) d = -d; a = $5 < 0 ? -$5 : $5
              if (!(a > 0) || d > 1e-5 * a) { print "row " NR ": losses " $5 " " $6 " " $7 " " $8; bad = 1 } } }
        END { exit bad }' || fail "$1: losses or statuses"
}

# 1. the tiny tree sweep: 2 cells (system prompt 24 or 48 tokens, 2 prompts of 8, 3 completions of 6 each)
"$bench" $fast --sweep tiny_tree --strategy all --out "$tmp/tree.csv" > "$tmp/stdout" 2> "$tmp/stderr" || { fail "tiny_tree exit $?"; cat "$tmp/stderr"; }
check_four "$tmp/tree.csv" 2
[ "$(cols forest "$tmp/tree.csv" | head -n 1)" = "24:-1:0 8:0:1 8:0:1 6:1:1 6:1:1 6:1:1 6:2:1 6:2:1 6:2:1" ] || fail "forest column: $(cols forest "$tmp/tree.csv" | head -n 1)"
# slots: padded 6 rows x 38, prefix 2 x (24+8) + 6 x 6, tree 24 + 16 + 36
[ "$(cols padded_tokens,prefix_tokens,tree_tokens "$tmp/tree.csv" | head -n 1)" = "$(printf '228\t100\t76')" ] || fail "token slots: $(cols padded_tokens,prefix_tokens,tree_tokens "$tmp/tree.csv" | head -n 1)"
cols ideal_speedup_pad_prefix,ideal_speedup_pad_tree,ideal_speedup_prefix_tree,batch_size,num_completions "$tmp/tree.csv" | awk -F '\t' '
    { if (!($2 > $1 && $1 > 1 && $3 > 1 && $4 == 1 && $5 == 6)) { print "row " NR ": " $0; bad = 1 } } END { exit bad }' || fail "ideals or shape"
grep -q "tree ms" "$tmp/stdout" || fail "no tree column in the table"
"$bench" $fast --sweep tiny_tree --resume --out "$tmp/tree.csv" > /dev/null 2> "$tmp/stderr" || fail "resume exit"
grep -q "2 of 2 cells already" "$tmp/stderr" || fail "resume did not skip forest cells: $(cat "$tmp/stderr")"
"$bench" $fast --sweep tiny_tree --strategy tree --out "$tmp/one.csv" > /dev/null 2>&1 || fail "--strategy tree exit"
[ "$(cols padded_status,tree_status "$tmp/one.csv" | head -n 1)" = "$(printf 'skipped\tok')" ] || fail "--strategy tree statuses"
for list in padded,tree tree,padded; do
    "$bench" $fast --sweep tiny_tree --strategy $list --out "$tmp/two-$list.csv" > /dev/null 2>&1 || fail "--strategy $list exit"
    [ "$(cols padded_status,packed_status,prefix_status,tree_status,loss_check "$tmp/two-$list.csv" | head -n 1)" = "$(printf 'ok\tskipped\tskipped\tok\tok')" ] || fail "--strategy $list statuses"
done
for v in padded,, ,tree padded,bogus; do
    "$bench" $fast --strategy "$v" > /dev/null 2> "$tmp/err"; [ $? -eq 2 ] && grep -q "bad value '$v' for --strategy" "$tmp/err" || fail "--strategy $v accepted"
done

# 2. a user's lengths file: batch 7 of depth 4 (rows out of order), batch 3 a flat group
cat > "$tmp/mine.csv" <<'CSV'
batch,id,parent,length,loss
7,10,,12,0
7,12,11,5,1
7,11,10,4,1
3,1,,9,0
7,13,11,3,1
7,14,12,2,1
3,2,1,4,1
3,3,1,6,1
7,15,10,6,1
CSV
"$bench" $fast --lengths "$tmp/mine.csv" --out "$tmp/mine-out.csv" > /dev/null 2> "$tmp/stderr" || { fail "--lengths exit $?"; cat "$tmp/stderr"; }
check_four "$tmp/mine-out.csv" 2
# the file's first batch is cell 0 (rows come cheapest first)
first=$(cols cell,sweep,forest "$tmp/mine-out.csv" | awk -F '\t' '$1 == 0' | cut -f 2-)
[ "$first" = "$(printf 'mine\t12:-1:0 5:2:1 4:0:1 3:2:1 2:1:1 6:0:1')" ] || fail "lengths cell: $first"

# 3. malformed lengths files: exit 2, one line, naming the file and the fault
bad() { # NAME WANT CONTENT
    printf '%b' "$3" > "$tmp/$1.csv"
    "$bench" $fast --lengths "$tmp/$1.csv" --out "$tmp/x.csv" > /dev/null 2> "$tmp/err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "$1: exit $rc, want 2"
    [ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "$1: not one line: $(cat "$tmp/err")"
    grep -q "$tmp/$1.csv" "$tmp/err" && grep -q -- "$2" "$tmp/err" || fail "$1: '$(cat "$tmp/err")' lacks '$2'"
}
bad cycle "parents form a cycle" "0,0,,4,0\n0,1,2,3,1\n0,2,1,3,1\n"
bad missing "missing parent 9" "0,0,,4,0\n0,1,9,3,1\n"
bad zero ":2: zero or negative length" "0,0,,4,0\n0,1,0,0,1\n"
bad toolong ":1: length too long" "0,0,,99999999,0\n"
bad total "too long" "0,0,,16777216,0\n$(awk 'BEGIN { for (i = 1; i <= 128; i++) printf "0,%d,0,1,1\\n", i }')"
bad number ":2: bad length" "0,0,,4,0\n0,1,0,3x,1\n"
bad lossflag ":1: bad loss" "0,0,,4,2\n"
bad fields ":1: 4 fields" "0,0,,4\n"
bad dup "id 0 appears twice" "0,0,,4,0\n0,0,,3,1\n"
bad empty "no segments" "batch,id,parent,length,loss\n"
# more segments than PB_LENGTHS_MAX_ROWS (32768), each its own batch: refused, not minutes of grouping
bad rows "more than 32768 segments" "$(awk 'BEGIN { for (i = 0; i <= 32768; i++) printf "%d,0,,4,0\\n", i }')"
"$bench" $fast --lengths "$tmp/none.csv" > /dev/null 2> "$tmp/err"; [ $? -eq 2 ] || fail "missing file: not exit 2"
"$bench" $fast --lengths "$tmp/mine.csv" --cells 8x8 > /dev/null 2> "$tmp/err"; [ $? -eq 2 ] || fail "--lengths with --cells accepted"
finish test_tree
