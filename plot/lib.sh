# lib.sh: what every chart script starts with (sourced, POSIX sh): `plot_args "$@"` checks for
# IN.csv OUT.png, sets in and out, and makes a scratch folder tmp that is removed on exit
# (`plot_scratch` alone, for a script with other arguments: summary.sh).
plot_scratch() {
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
}
plot_args() {
    if [ $# -ne 2 ]; then echo "usage: $0 IN.csv OUT.png" >&2; exit 2; fi
    in=$1 out=$2
    plot_scratch
}
