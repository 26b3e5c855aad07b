#!/bin/sh
# strategies.sh: the tree-sharing chart (system, multiturn, grpo sweeps, --lengths): per cell,
# the measured speedup over padded of packed, prefix and tree beside each one's ideal (model
# FLOPs padded / strategy), and the peak memory of all four strategies. A strategy that did
# not run (oom, skipped) has no bar. x labels: the cell index, its mean shared / leaf length and
# B x K (the CSV's batch_size x num_completions: for a forest, roots x paths per root).
#   plot/strategies.sh IN.csv OUT.png
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
plot_args "$@"
cols=model,sweep,cell,prompt_len,completion_len,num_completions,batch_size
cols=$cols,padded_ms,packed_ms,prefix_ms,tree_ms,padded_model_tflop,packed_model_tflop,prefix_model_tflop,tree_model_tflop
cols=$cols,padded_gb,packed_gb,prefix_gb,tree_gb
awk -v cols=$cols -f "$here/csvcols.awk" "$in" |
awk -F '\t' -v dir="$tmp" '
    function ratio(a, b) { return (a == "NaN" || b == "NaN" || b <= 0) ? "NaN" : a / b }
    NR == 1 { model = $1; sweep = $2 }
    $8 == "NaN" && $11 == "NaN" { next }   # neither padded nor tree timed: nothing to show
    { n++
      printf "\"%s: %s/%s %dx%d\"", $3, $4, $5, $7, $6 > (dir "/cells")
      for (s = 0; s < 3; s++) printf " %s %s", ratio($8, $(9 + s)), ratio($12, $(13 + s)) > (dir "/cells")
      printf " %s %s %s %s\n", $16, $17, $18, $19 > (dir "/cells") }
    END {
        if (!n) { print "strategies: no cell with a padded or tree time" > "/dev/stderr"; exit 2 }
        printf "chart_title = \"%s (%s): speedup over padded, measured and ideal (FLOPs), and peak memory; cell: mean shared / leaf length, B x K (roots x paths per root)\"\n", sweep, model > (dir "/vars")
    }'
gnuplot -e "bars_gp = '$here/bars.gp'; datafile = '$tmp/cells'; outfile = '$out'; load '$tmp/vars'" - <<'GP'
set terminal pngcairo size 1600,800 font "DejaVu Sans,11" noenhanced
set output outfile
set multiplot layout 2,1 title chart_title font ",12"
load bars_gp
set key top left maxrows 2
set ylabel "speedup over padded"
plot datafile using 2:xtic(1) title "packed" lc rgb "#9E9AC8", '' using 3 title "packed ideal" lc rgb "#DADAEB", \
     '' using 4 title "prefix" lc rgb "#A11A5B", '' using 5 title "prefix ideal" lc rgb "#F69C73", \
     '' using 6 title "tree" lc rgb "#1B7837", '' using 7 title "tree ideal" lc rgb "#A6DBA0"
set ylabel "peak memory (GB)"
plot datafile using 8:xtic(1) title "padded" lc rgb "#395D9C", '' using 9 title "packed" lc rgb "#9E9AC8", \
     '' using 10 title "prefix" lc rgb "#A11A5B", '' using 11 title "tree" lc rgb "#1B7837"
unset multiplot
GP
