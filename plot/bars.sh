#!/bin/sh
# bars.sh: a chart for ragged (random) sweeps, whose cells form no grid: per cell, the
# measured speedup padded/prefix beside the ideal one (model FLOPs padded / prefix), and the
# memory saved (padded_gb - prefix_gb). x labels: the cell index and its mean lengths.
#   plot/bars.sh IN.csv OUT.png
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
plot_args "$@"
awk -v cols=model,num_completions,cell,prompt_len,completion_len,speedup_pad_prefix,ideal_speedup_pad_prefix,padded_gb,prefix_gb \
    -f "$here/csvcols.awk" "$in" |
awk -F '\t' -v dir="$tmp" '
    NR == 1 { model = $1; k = $2 }
    $6 == "NaN" { next }
    { n++; saved = ($8 == "NaN" || $9 == "NaN") ? "NaN" : $8 - $9
      printf "\"%s: %s/%s\" %s %s %s\n", $3, $4, $5, $6, $7, saved > (dir "/bars") }
    END {
        if (!n) { print "bars: no cell with speedup_pad_prefix" > "/dev/stderr"; exit 2 }
        printf "chart_title = \"Prefix sharing per cell (%s, completions=%s): cell: mean prompt/completion length\"\n", model, k > (dir "/vars")
    }'
gnuplot -e "bars_gp = '$here/bars.gp'; datafile = '$tmp/bars'; outfile = '$out'; load '$tmp/vars'" - <<'GP'
set terminal pngcairo size 1600,700 font "DejaVu Sans,11"
set output outfile
set multiplot layout 2,1 title chart_title font ",13"
load bars_gp
set ylabel "speedup padded / prefix"
plot datafile using 2:xtic(1) title "measured" lc rgb "#A11A5B", '' using 3 title "ideal (FLOPs)" lc rgb "#F69C73"
set ylabel "memory saved (GB)"
plot datafile using 4:xtic(1) title "padded - prefix" lc rgb "#395D9C"
unset multiplot
GP
