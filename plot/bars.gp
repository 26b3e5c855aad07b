# bars.gp: the clustered-bar style the per-cell charts share (plot/bars.sh, plot/strategies.sh);
# loaded after the terminal and the multiplot are set.
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set grid ytics
set key top left
set xtics rotate by -30 font ",9"
# room on the right for the last cell's label, which the rotation sends past its bar
set rmargin 12
set yrange [0:*]
# headroom above the tallest bar for the key, which sits inside the top left corner
set offsets 0, 0, graph 0.2, 0
