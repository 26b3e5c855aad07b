#!/bin/sh
# sweep_gpus.sh: one sweep over several GPUs of one host. Runs one `bench` process per GPU,
# each on its own shard of the cells (--shard i/n) and its own CSV (OUT.shard-i.csv), then
# merges the shards' rows into OUT. With --resume every shard resumes its own file, so an
# interrupted multi-GPU sweep is continued by running the same command again.
#
#   tools/sweep_gpus.sh --out FILE.csv [--gpus N] [--bench PATH] [bench options ...]
#
# --gpus N: default the number of GPUs nvidia-smi lists. GPU i runs shard i
# (CUDA_VISIBLE_DEVICES=i). Exit status: the first non-zero status of a shard, else 0.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
bench="$root/bench" out="" gpus=""
n_args=$#
i=0
while [ $i -lt $n_args ]; do # split our options from bench's, keeping bench's in order
    a=$1; shift; i=$((i + 1))
    case "$a" in
        --out) out=$1; shift; i=$((i + 1)) ;;
        --gpus) gpus=$1; shift; i=$((i + 1)) ;;
        --bench) bench=$1; shift; i=$((i + 1)) ;;
        --shard) echo "sweep_gpus.sh: --shard is set per GPU; leave it out" >&2; exit 2 ;;
        *) set -- "$@" "$a" ;;
    esac
done
[ -n "$out" ] || { echo "sweep_gpus.sh: --out FILE.csv is required" >&2; exit 2; }
if [ -z "$gpus" ]; then
    gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ') || gpus=0
fi
case "$gpus" in ''|*[!0-9]*|0) echo "sweep_gpus.sh: no GPUs (give --gpus N)" >&2; exit 2 ;; esac

base=${out%.csv}
pids=""
g=0
while [ $g -lt "$gpus" ]; do
    CUDA_VISIBLE_DEVICES=$g "$bench" "$@" --shard "$g/$gpus" --out "$base.shard-$g.csv" \
        > "$base.shard-$g.log" 2>&1 &
    pids="$pids $!"
    g=$((g + 1))
done
status=0
for p in $pids; do
    wait "$p"; rc=$?
    [ $status -ne 0 ] || status=$rc
done

# merge: the first shard's header, then every shard's rows
first=1
: > "$out.tmp"
g=0
while [ $g -lt "$gpus" ]; do
    f="$base.shard-$g.csv"
    if [ -s "$f" ]; then
        if [ $first -eq 1 ]; then cat "$f" >> "$out.tmp"; first=0; else tail -n +2 "$f" >> "$out.tmp"; fi
    fi
    g=$((g + 1))
done
mv "$out.tmp" "$out"
echo "sweep_gpus.sh: $gpus shards -> $out (logs: $base.shard-*.log), status $status" >&2
exit $status
