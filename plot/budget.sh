#!/bin/sh
# budget.sh: issue 11's second chart, for a sweep run at one memory budget (`--recompute auto
# --memory-budget G`): per cell, the measured speedup of prefix over padded at that equal budget
# beside the FLOP-ideal one (model FLOPs padded / prefix, the CSV's ideal_speedup_pad_prefix),
# and their ratio. Under a budget-driven recompute policy the ratio can exceed 1: the memory
# prefix saves buys it less recomputation, which the FLOP ideal does not count. The title names
# the policy (the `recompute` column; `full` where the CSV has none: today's only policy) and
# the budget (from the command's --memory-budget; "device default" without one). Cells where
# either strategy did not run (oom, skipped) have no bar.
#   plot/budget.sh IN.csv OUT.png
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
plot_args "$@"
awk -v cols='model,num_completions,batch_size,prompt_len,completion_len,speedup_pad_prefix,ideal_speedup_pad_prefix,command,recompute?' \
    -f "$here/csvcols.awk" "$in" |
awk -F '\t' -v dir="$tmp" '
    NR == 1 { model = $1; k = $2; bsz = $3; policy = $9 == "NaN" ? "full" : $9
              budget = "device default"
              if (match($8, /--memory-budget[= ][^ ]+/)) budget = substr($8, RSTART + 16, RLENGTH - 16) " GB" }
    $6 == "NaN" || $7 == "NaN" { next }
    { n++; eff = $7 > 0 ? $6 / $7 : "NaN"
      printf "\"%sx%s\" %s %s %s\n", $4, $5, $6, $7, eff > (dir "/bars")
      if ($6 > ymax) ymax = $6; if ($7 > ymax) ymax = $7
      if (eff != "NaN" && eff > emax) emax = eff }
    END {
        if (!n) { print "budget: no cell with both speedup_pad_prefix and ideal_speedup_pad_prefix" > "/dev/stderr"; exit 2 }
        printf "chart_title = \"%s, %s prompts x %s completions: prefix over padded at an equal memory budget (%s, recompute %s)\"\n",
               model, bsz, k, budget, policy > (dir "/vars")
        printf "ymax = %g\nemax = %g\n", 1.25 * ymax, (emax > 1.1 ? 1.2 * emax : 1.3) > (dir "/vars")
        # a grid of 64 cells: 30 px a cell and upright labels, so no two labels overlap
        printf "chart_width = %d\nlabel_angle = %d\n", (n > 40 ? 30 * n : 1600), (n > 40 ? 90 : 30) > (dir "/vars")
    }'
gnuplot -e "bars_gp = '$here/bars.gp'; datafile = '$tmp/bars'; outfile = '$out'; load '$tmp/vars'" - <<'GP'
set terminal pngcairo size chart_width,800 font "DejaVu Sans,11" noenhanced
set output outfile
set multiplot layout 2,1 title chart_title font ",13"
load bars_gp
set xtics rotate by -label_angle
set ylabel "speedup padded / prefix"
set yrange [0:ymax]
plot datafile using 2:xtic(1) title "measured at the budget" lc rgb "#A11A5B", \
     '' using 3 title "FLOP ideal (model FLOPs padded / prefix)" lc rgb "#F69C73"
set ylabel "measured / ideal"
set yrange [0:emax]
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb "#444444"
plot datafile using 4:xtic(1) title "measured / ideal (1: exactly the FLOP ratio)" lc rgb "#395D9C"
unset multiplot
GP
