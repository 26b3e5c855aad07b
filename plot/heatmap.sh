#!/bin/sh
# heatmap.sh: the reference chart from a results CSV (ours or the reference's): two heatmaps,
# speedup padded/prefix and memory saved (padded_gb - prefix_gb, GB), prompt length by
# completion length, every cell annotated.
#   plot/heatmap.sh IN.csv OUT.png
# Needs gnuplot (pngcairo) and a POSIX awk. Only grid cells of the first row's model and
# completion count are drawn (rows with exact random lengths have their own chart: bars.sh).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
plot_args "$@"

awk -v cols=model,num_completions,prompt_len,completion_len,speedup_pad_prefix,padded_gb,prefix_gb \
    -f "$here/csvcols.awk" "$in" > "$tmp/cols"
# Keep the first model / K, cells with both numbers; lengths to grid indices (sorted, unique).
awk -F '\t' -v dir="$tmp" '
    NR == 1 { model = $1; k = $2 }
    $1 != model || $2 != k || $5 == "NaN" || $6 == "NaN" || $7 == "NaN" { next }
    { n++; p[n] = $3; c[n] = $4; s[n] = $5; m[n] = $6 - $7; P[$3] = 1; C[$4] = 1 }
    function lbl(v) { return (v >= 1024 && v % 1024 == 0) ? (v / 1024) "k" : v }
    function ranks(set, rank, tics,    v, w, r) {
        tics = ""
        for (v in set) { r = 0; for (w in set) if (w + 0 < v + 0) r++; rank[v] = r }
        for (v in set) tics = tics (tics == "" ? "" : ", ") "\"" lbl(v) "\" " rank[v]
        return tics
    }
    END {
        if (!n) { print "heatmap: no cell with speedup_pad_prefix, padded_gb and prefix_gb" > "/dev/stderr"; exit 2 }
        xt = ranks(C, cx); yt = ranks(P, py)
        smin = smax = s[1]; mmin = mmax = m[1]
        for (i = 1; i <= n; i++) {
            if (s[i] < smin) smin = s[i]; if (s[i] > smax) smax = s[i]
            if (m[i] < mmin) mmin = m[i]; if (m[i] > mmax) mmax = m[i]
        }
        for (i = 1; i <= n; i++) {
            # label colour: black on the light end of the palette, white elsewhere
            ts = (smax > smin && (s[i] - smin) / (smax - smin) > 0.6) ? 0 : 16777215
            tm = (mmax > mmin && (m[i] - mmin) / (mmax - mmin) > 0.6) ? 0 : 16777215
            printf "%d %d %.6f %.6f %d %d\n", cx[c[i]], py[p[i]], s[i], m[i], ts, tm > (dir "/grid")
        }
        nx = 0; for (v in C) nx++
        ny = 0; for (v in P) ny++
        printf "xtics_cmd = '"'"'set xtics (%s)'"'"'\n", xt > (dir "/vars")
        printf "ytics_cmd = '"'"'set ytics (%s)'"'"'\n", yt > (dir "/vars")
        printf "nx = %d\nny = %d\n", nx, ny > (dir "/vars")
        if (smax == smin) smax = smin + 1e-6
        if (mmax == mmin) mmax = mmin + 1e-6
        printf "smin = %.9g\nsmax = %.9g\nmmin = %.9g\nmmax = %.9g\n", smin, smax, mmin, mmax > (dir "/vars")
        printf "chart_title = \"Prefix sharing (%s, completions=%s)\"\n", model, k > (dir "/vars")
    }' "$tmp/cols"

gnuplot -e "datafile = '$tmp/grid'; outfile = '$out'; load '$tmp/vars'" "$here/heatmap.gp"
