# heatmap.gp: the two heatmaps of the reference chart (run through plot/heatmap.sh, which sets
# datafile, outfile, chart_title, nx, ny, xtics_cmd, ytics_cmd, smin/smax, mmin/mmax).
# datafile columns: completion index, prompt index, speedup, GB saved, label colours (rgb).
set terminal pngcairo size 1600,600 font "DejaVu Sans,11"
set output outfile
set multiplot layout 1,2 title chart_title font ",14"
set xrange [-0.5:nx-0.5]
set yrange [ny-0.5:-0.5]        # the shortest prompt on top, as in the reference
eval xtics_cmd
eval ytics_cmd
set tics scale 0
set xtics nomirror
set ytics nomirror rotate by 90
set xlabel "Completion Length"
set ylabel "Prompt Length"
set border 0
set size ratio -1
unset key
set style fill solid 1.0 noborder

# seaborn "rocket" and "mako", approximated
set title "Performance Speedup (padded / prefix)"
set palette defined (0 "#03051A", 0.2 "#4C1D4B", 0.4 "#A11A5B", 0.6 "#E83F3F", 0.8 "#F69C73", 1 "#FAEBDD")
set cbrange [smin:smax]
plot datafile using 1:2:(0.505):(0.505):3 with boxxyerror fc palette, \
     '' using 1:2:(sprintf("%.2f", $3)):5 with labels tc rgb variable

set title "Memory Saved (GB, padded - prefix)"
set palette defined (0 "#0B0405", 0.2 "#382A54", 0.4 "#395D9C", 0.6 "#3497A9", 0.8 "#60CEAC", 1 "#DEF5E5")
set cbrange [mmin:mmax]
plot datafile using 1:2:(0.505):(0.505):4 with boxxyerror fc palette, \
     '' using 1:2:(sprintf("%.2f", $4)):6 with labels tc rgb variable
unset multiplot
