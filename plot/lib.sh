# lib.sh: what every chart script starts with (sourced, POSIX sh): `plot_args "$@"` checks for
# IN.csv OUT.png, sets in and out, and makes a scratch folder tmp that is removed on exit
# (`plot_scratch` alone, for a script with other arguments: summary.sh); `plot_inputs NAME "$@"`
# takes IN.csv [IN.csv ...] OUT.png instead, and in is then one CSV of all their rows (they must
# have the same header; NAME starts the one-line error).
plot_scratch() {
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
}
plot_args() {
    if [ $# -ne 2 ]; then echo "usage: $0 IN.csv OUT.png" >&2; exit 2; fi
    in=$1 out=$2
    plot_scratch
}
plot_inputs() {
    name=$1; shift
    if [ $# -lt 2 ]; then echo "usage: $0 IN.csv [IN.csv ...] OUT.png" >&2; exit 2; fi
    plot_scratch
    in=$tmp/in.csv
    for out in "$@"; do :; done # the last argument
    first=$1 n_in=0
    while [ $# -gt 1 ]; do
        [ -r "$1" ] || { echo "$name: cannot read '$1'" >&2; exit 2; }
        n_in=$((n_in + 1))
        if [ $n_in -eq 1 ]; then cat "$1"
        elif [ "$(head -n 1 "$1")" = "$(head -n 1 "$first")" ]; then tail -n +2 "$1"
        else echo "$name: '$1' has other columns than '$first'" >&2; exit 2
        fi
        shift
    done > "$in"
}
