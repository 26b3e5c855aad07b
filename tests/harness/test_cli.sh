#!/bin/sh
# test_cli.sh: bench's command line: usage errors exit 2 with one line naming the problem (and
# "see --help", not the usage text);
# malformed configs exit 2 with one line naming file, line and key; compare's exit codes.
# Usage: test_cli.sh BENCH SOURCE_ROOT (BENCH: the bench command, here without a GPU).
set -u
bench=$1 root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect RC WANT_IN_STDERR_FIRST_LINE ARGS...
expect() {
    want_rc=$1 want=$2
    shift 2
    "$bench" "$@" > "$tmp/out" 2> "$tmp/err"
    rc=$?
    first=$(head -n 1 "$tmp/err")
    if [ "$rc" -ne "$want_rc" ]; then
        echo "FAIL: bench $* -> exit $rc, want $want_rc ($first)"; fails=$((fails + 1)); return
    fi
    case "$first" in
        *"$want"*) echo "ok: bench $* -> $rc: $first" ;;
        *) echo "FAIL: bench $*: stderr '$first' lacks '$want'"; fails=$((fails + 1)) ;;
    esac
}

# a config error is exactly one line on stderr
expect_config_error() {
    file=$1 want=$2
    shift 2
    expect 2 "$want" "$@"
    lines=$(wc -l < "$tmp/err")
    [ "$lines" -eq 1 ] || { echo "FAIL: $file: $lines lines on stderr"; cat "$tmp/err"; fails=$((fails + 1)); }
}

expect 2 "unknown argument '--bogus'" --bogus
lines=$(wc -l < "$tmp/err")
if [ "$lines" -ne 1 ] || ! grep -q "(see --help)" "$tmp/err"; then
    echo "FAIL: a bad flag printed $lines lines, want one ending in '(see --help)'"; cat "$tmp/err"; fails=$((fails + 1))
fi
expect 2 "unknown argument 'extra'" extra
expect 2 "bad value 'fast' for --strategy" --strategy fast
expect 2 "bad value 'padded,,prefix' for --strategy" --strategy padded,,prefix
expect 2 "bad value 'packed,fast' for --strategy" --strategy packed,fast
expect 2 "bad value 'tpu' for --device" --device tpu
expect 2 "bad value 'flash' for --attention" --attention flash
expect 2 "bad value 'b' for --prefix-attention" --prefix-attention b
expect 2 "--prefix-attention needs a value" --prefix-attention
expect 2 "bad value 'never' for --prefix-share" --prefix-share never
expect 2 "bad value 'some' for --recompute" --recompute some
expect 2 "bad value '0' for --time-limit" --time-limit 0
expect 2 "bad value 'soon' for --time-limit" --time-limit soon
expect 2 "--time-limit needs a value" --time-limit
# what only a sweep run does is refused by plan, estimate and capacity, where it would be ignored
expect 2 "--time-limit is for a sweep run, not 'bench capacity'" capacity --cells 16x16 --time-limit 5
expect 2 "--resume is for a sweep run, not 'bench plan'" plan --resume
expect 2 "--shard is for a sweep run, not 'bench estimate'" estimate --shard=0/2
expect 2 "--profile is for a sweep run, not 'bench capacity'" capacity --profile
expect 2 "--recompute needs a value" --recompute
expect 2 "bad value '0' for --memory-budget" --memory-budget 0
expect 2 "bad value 'lots' for --memory-budget" --memory-budget lots
expect 2 "bad value 'fastest' for --gemm-select" --gemm-select fastest
expect 2 "--gemm-select needs a value" --gemm-select
expect 2 "bad value '512' for --cells" --cells 512
expect 2 "bad value '2/2' for --shard" --shard 2/2
expect 2 "bad value '0' for --min-reps" --min-reps 0
expect 2 "bad value 'soon' for --min-time" --min-time soon
expect 2 "bad value '65' for --completions" --completions 65
expect 2 "--seed needs a value" --seed
expect 2 "--resume needs --out" --resume
expect 2 "--max-time 1 is below --min-time 2" --min-time 2 --max-time 1
expect 2 "bad value '1' for --noise" --noise 1
expect 2 "bad value '-0.1' for --noise" --noise -0.1
expect 2 "bad value '1%' for --noise" --noise 1%
expect 2 "bad value '0' for --max-reps" --max-reps 0
expect 2 "bad value '0' for --warmup" --warmup 0
expect 2 "bad value 'some' for --warmup" --warmup some
expect 2 "--max-reps 2 is below --min-reps 3" --min-reps 3 --max-reps 2
expect 2 "no sweeps named 'nope'" --device cpu --sweep nope
expect 2 "no models named 'nope'" --device cpu --model nope
expect 1 "--device gpu" --device gpu
expect 0 "" --help
grep -q -- "--shard i/n" "$tmp/out" || { echo "FAIL: --help lacks --shard"; fails=$((fails + 1)); }
grep -q -- "--matmul-verbose" "$tmp/out" && grep -q -- "--profile" "$tmp/out" && grep -q -- "--gemm-select" "$tmp/out" && grep -q "3 a CUDA/cuBLAS/cuDNN error" "$tmp/out" ||
    { echo "FAIL: --help lacks --matmul-verbose, --profile, --gemm-select or exit code 3"; fails=$((fails + 1)); }
grep -q -- "--prefix-attention auto|gather|merge" "$tmp/out" && grep -q -- "--attention-phases" "$tmp/out" &&
    grep -q -- "--prefix-share auto|always" "$tmp/out" ||
    { echo "FAIL: --help lacks --prefix-attention / --attention-phases"; fails=$((fails + 1)); }
expect 0 "" --list
grep -q "qwen2.5-7b" "$tmp/out" && grep -q "nll_2_qwen7b" "$tmp/out" || { echo "FAIL: --list"; fails=$((fails + 1)); }

bad="$root/tests/harness/bad"
expect_config_error model_unknown_key "model_unknown_key.conf:4: key 'layerz': unknown key" --device cpu --model "$bad/model_unknown_key.conf"
# a Hugging Face config.json: refused fields exit 2 in one line naming the field; a good one runs
expect_config_error rope_yarn.json "field 'rope_scaling'" --device cpu --model "$root/tests/harness/bad/hf/rope_yarn.json"
expect_config_error mistral_sliding_window.json "field 'sliding_window'" --device cpu \
    --model "$root/tests/harness/bad/hf/mistral_sliding_window.json"
expect 0 "qwen3_qknorm on cpu" --device cpu --model "$root/tests/cpu/data/hf/qwen3_qknorm.json" --cells 4x3 \
    --min-reps 1 --min-time 0 --out "$tmp/json.csv"
expect_config_error model_bad_number "model_bad_number.conf:3: key 'hidden'" --device cpu --model "$bad/model_bad_number.conf"
expect_config_error model_missing_key "model_missing_key.conf:10: key 'mlp': missing" --device cpu --model "$bad/model_missing_key.conf"
expect_config_error model_duplicate "model_duplicate.conf:8: key 'hidden': duplicate" --device cpu --model "$bad/model_duplicate.conf"
expect_config_error sweep_bad_list "sweep_bad_list.conf:5: key 'prompt_lens'" --device cpu --sweep "$bad/sweep_bad_list.conf"
expect_config_error sweep_bad_kind "sweep_bad_kind.conf:2: key 'kind'" --device cpu --sweep "$bad/sweep_bad_kind.conf"

data="$root/tests/harness/data"
expect 0 "" compare "$data/base.csv" "$data/same.csv"
expect 1 "" compare "$data/base.csv" "$data/slow20.csv"
grep -q "SLOWER" "$tmp/out" || { echo "FAIL: compare slow20 prints no SLOWER"; fails=$((fails + 1)); }
expect 0 "" compare "$data/base.csv" "$data/slow20.csv" --threshold 25
expect 0 "" compare "$data/base.csv" "$data/missing.csv"
grep -q "unknown" "$tmp/out" || { echo "FAIL: compare missing prints no unknown"; fails=$((fails + 1)); }
expect 2 "garbage.csv" compare "$data/base.csv" "$data/garbage.csv"
expect 2 "usage: bench compare" compare "$data/base.csv"
expect 2 "bad --threshold" compare "$data/base.csv" "$data/same.csv" --threshold -3
expect 0 "" compare "$data/reference_nll_2_qwen7b.csv" "$data/reference_nll_2_qwen7b.csv"
# issue 15 case 8: on main inf on both sides was SAME (exit 0), negative IQRs were used and a
# ratio of 1e300 was cut to 31 digits; now refused naming file, line and column
expect 2 "inf.csv:2: column 'padded_ms': inf is not a finite figure" compare "$data/inf.csv" "$data/inf.csv"
expect 2 "nan.csv:3: column 'packed_ms': bad number" compare "$data/base.csv" "$data/nan.csv"
expect 2 "negiqr.csv:2: column 'packed_iqr_ms': -5 is not a finite figure" compare "$data/base.csv" "$data/negiqr.csv"
expect 1 "" compare "$data/base.csv" "$data/huge.csv"
grep -q "1.000e+298 SLOWER" "$tmp/out" || { echo "FAIL: compare huge ratio: $(grep 128x128 "$tmp/out")"; fails=$((fails + 1)); }

echo "test_cli: $fails failure(s)"
[ "$fails" -eq 0 ]
