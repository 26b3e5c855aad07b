#!/bin/sh
# strategies.sh: the tree-sharing chart (system, multiturn, grpo sweeps, --lengths): per cell,
# the measured speedup over padded of packed, prefix and tree beside each one's ideal (model
# FLOPs padded / strategy), and the peak memory of all four strategies. A strategy that did
# not run (oom, skipped) has no bar. x labels: the cell index, its mean shared / leaf length and
# B x K (the CSV's batch_size x num_completions: for a forest, roots x paths per root).
# A sweep run without tree (grpo_16_qwen7b: tree == prefix at two levels) or without packed
# draws the strategies it has; the chart widens past 20 cells. Cells in cell-index order.
# Several CSVs (the same columns) draw as one; when their rows come from more than one model
# (tools/results.sh's one cell per model family), each x label starts with its model and the
# cells keep the files' order.
#   plot/strategies.sh IN.csv [IN.csv ...] OUT.png
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
plot_inputs strategies "$@"
cols=model,sweep,cell,prompt_len,completion_len,num_completions,batch_size
cols=$cols,padded_ms,packed_ms,prefix_ms,tree_ms?,padded_model_tflop,packed_model_tflop,prefix_model_tflop,tree_model_tflop?
cols=$cols,padded_gb,packed_gb,prefix_gb,tree_gb?
awk -v cols=$cols -f "$here/csvcols.awk" "$in" |
awk -F '\t' -v dir="$tmp" '
    function ratio(a, b) { return (a == "NaN" || b == "NaN" || b <= 0) ? "NaN" : a / b }
    # a plot term over the cells file; the first one carries the x labels
    function term(list, col, title, colour) {
        return list (list == "" ? "datafile using " col ":xtic(1)" : ", datafile using " col) \
            " title \"" title "\" lc rgb \"" colour "\""
    }
    NR == 1 { model = $1; sweep = $2 }
    $8 == "NaN" && $11 == "NaN" { next }   # neither padded nor tree timed: nothing to show
    { n++
      if (!($1 in models)) { models[$1] = 1; nmodels++ }
      cellno[n] = $3; label[n] = sprintf("%s/%s %dx%d", $4, $5, $7, $6); mod[n] = $1
      row[n] = ""
      for (s = 0; s < 3; s++) row[n] = row[n] sprintf(" %s %s", ratio($8, $(9 + s)), ratio($12, $(13 + s)))
      row[n] = row[n] sprintf(" %s %s %s %s", $16, $17, $18, $19)
      for (s = 0; s < 3; s++) if (ratio($8, $(9 + s)) != "NaN") has[s] = 1
      for (s = 0; s < 4; s++) if ($(16 + s) != "NaN") hasgb[s] = 1 }
    END {
        if (!n) { print "strategies: no cell with a padded or tree time" > "/dev/stderr"; exit 2 }
        # one model: cells by their index; several: by model, in the order of the files
        for (i = 1; i <= n; i++)
            printf "%s\t\"%s: %s\"%s\n", (nmodels > 1 ? i : cellno[i]), (nmodels > 1 ? mod[i] : cellno[i]), label[i], row[i] > (dir "/cells")
        # gnuplot refuses a histogram column without one valid point: plot the strategies that ran
        split("packed prefix tree", nm, " "); split("#9E9AC8 #A11A5B #1B7837", lc, " ")
        split("#DADAEB #F69C73 #A6DBA0", lci, " ")
        for (s = 1; s <= 3; s++) if (has[s - 1]) speed = term(term(speed, 2 * s, nm[s], lc[s]), 2 * s + 1, nm[s] " ideal", lci[s])
        split("padded packed prefix tree", nm, " "); split("#395D9C #9E9AC8 #A11A5B #1B7837", lc, " ")
        for (s = 1; s <= 4; s++) if (hasgb[s - 1]) mem = term(mem, 7 + s, nm[s], lc[s])
        if (speed == "" || mem == "") { print "strategies: no strategy beside padded timed, or no peak memory" > "/dev/stderr"; exit 2 }
        printf "speed_plot = \x27plot %s\x27\nmem_plot = \x27plot %s\x27\n", speed, mem > (dir "/vars")
        printf "chart_width = %d\n", (n > 20 ? 80 * n : 1600) > (dir "/vars")
        if (nmodels > 1) model = nmodels " models"
        printf "chart_title = \"%s (%s): speedup over padded, measured and ideal (FLOPs), and peak memory; cell: mean shared / leaf length, B x K (roots x paths per root)\"\n", sweep, model > (dir "/vars")
    }'
# cells in the sweep's order (its cell index), not the order they ran in (cheapest first), or
# the files' order (several models)
sort -s -n -k1,1 "$tmp/cells" | cut -f2- > "$tmp/cells_sorted"
gnuplot -e "bars_gp = '$here/bars.gp'; datafile = '$tmp/cells_sorted'; outfile = '$out'; load '$tmp/vars'" - <<'GP'
set terminal pngcairo size chart_width,800 font "DejaVu Sans,11" noenhanced
set output outfile
set multiplot layout 2,1 title chart_title font ",12"
load bars_gp
set key top left maxrows 2
set ylabel "speedup over padded"
eval speed_plot
set ylabel "peak memory (GB)"
eval mem_plot
unset multiplot
GP
