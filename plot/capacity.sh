#!/bin/sh
# capacity.sh: the chart of `bench capacity` (issue 11): per cell (prompt x completion length,
# K completions), the completions per second each strategy trains at its capacity (top, when
# the CSV was timed), and that capacity B, the most prompts whose step fits the budget
# (bottom). The x labels carry prefix's gain over padded in each panel's measure.
# A plan-only CSV (no device: status planned) draws the bottom panel alone. Several CSVs
# (tools/results.sh writes one per capacity cell) draw their cells side by side; they must
# have the same columns.
#   plot/capacity.sh IN.csv [IN.csv ...] OUT.png
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
plot_inputs capacity "$@"
awk -v cols=model,strategy,prompt_len,completion_len,num_completions,budget_gb,recompute,status,batch_size,completions_per_s \
    -f "$here/csvcols.awk" "$in" |
awk -F '\t' -v dir="$tmp" '
    BEGIN { split("padded packed prefix tree", names, " ")
            split("#395D9C #9E9AC8 #A11A5B #1B7837", colors, " ")
            for (i = 1; i <= 4; i++) idx[names[i]] = i }
    !($2 in idx) { next }
    { model = $1; budget = $6; recompute = $7
      key = $3 "x" $4 " K=" $5
      if (!(key in cell)) { cell[key] = ++n; order[n] = key }
      c = cell[key]; s = idx[$2]; seen[s] = 1
      b[c, s] = $9; if ($9 + 0 > bmax) bmax = $9 + 0
      if ($8 == "ok" && $10 != "NaN") { cps[c, s] = $10; timed = 1; if ($10 + 0 > cmax) cmax = $10 + 0 } }
    function val(a, c, s) { return ((c, s) in a) ? a[c, s] : "NaN" }
    function gain(p, q, what) { return (p == "NaN" || q == "NaN" || p <= 0) ? "" : sprintf("\\nprefix/padded %.2fx %s", q / p, what) }
    END {
        if (!n) { print "capacity: no row of a known strategy" > "/dev/stderr"; exit 2 }
        for (c = 1; c <= n; c++) {
            printf "\"%s%s\"", order[c], gain(val(cps, c, 1), val(cps, c, 3), "completions/s") > (dir "/cells")
            for (s = 1; s <= 4; s++) printf " %s", val(cps, c, s) > (dir "/cells")
            for (s = 1; s <= 4; s++) printf " %s", val(b, c, s) > (dir "/cells")
            printf " \"%s%s\"\n", order[c], gain(val(b, c, 1), val(b, c, 3), "B") > (dir "/cells") }
        # one plot element per strategy present: columns 2-5 completions/s, 6-9 B
        top = ""; bottom = ""; first = 1
        for (s = 1; s <= 4; s++) {
            if (!(s in seen)) continue
            sep = first ? "" : ", "
            src = first ? "datafile" : "\x27\x27"
            top = top sep src " using " (1 + s) (first ? ":xtic(1)" : "") " title \x27" names[s] "\x27 lc rgb \x27" colors[s] "\x27"
            bottom = bottom sep src " using " (5 + s) (first ? ":xtic(10)" : "") " title \x27" names[s] "\x27 lc rgb \x27" colors[s] "\x27"
            first = 0 }
        printf "timed = %d\ncmax = %g\nbmax = %g\n", timed, (cmax > 0 ? 1.15 * cmax : 1), (bmax > 0 ? 1.15 * bmax : 1) > (dir "/vars")
        printf "plot_top = \"plot %s\"\n", top > (dir "/vars")
        printf "plot_bottom = \"plot %s\"\n", bottom > (dir "/vars")
        printf "chart_title = \"%s at capacity: budget %g GB, recompute %s%s\"\n", model, budget, recompute,
               (timed ? "" : " (planned on the host, not timed)") > (dir "/vars")
    }'
gnuplot -e "bars_gp = '$here/bars.gp'; datafile = '$tmp/cells'; outfile = '$out'; load '$tmp/vars'" - <<'GP'
set terminal pngcairo size 1400,800 font "DejaVu Sans,11" noenhanced
set output outfile
if (timed) { set multiplot layout 2,1 title chart_title font ",13" } else { set multiplot layout 1,1 title chart_title font ",13" }
load bars_gp
set xtics norotate font ",10"
set rmargin -1
set bmargin 4
if (timed) { set ylabel "completions / s at capacity"; set yrange [0:cmax]; eval plot_top }
set ylabel "capacity B (prompts that fit)"
set yrange [0:bmax]
eval plot_bottom
unset multiplot
GP
