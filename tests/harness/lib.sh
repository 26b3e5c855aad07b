# lib.sh: what the harness's shell tests share; sourced after `root` (the source tree) is set.
# A scratch folder removed on exit, a failure counter, CSV columns by name (csvcols.awk prints
# an empty field as NaN), and the closing line.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
cols() { awk -v cols="$1" -f "$root/plot/csvcols.awk" "$2"; }
# finish NAME: prints the verdict and exits 0 when nothing failed, 1 otherwise
finish() {
    if [ "$fails" -eq 0 ]; then echo "$1: ok"; exit 0; fi
    echo "$1: $fails failure(s)"; exit 1
}
