#!/bin/sh
# summary.sh: a results CSV (a bench sweep) as Markdown for the README's results section: a
# table per cell (padded / packed / prefix ms, tree ms where tree ran, measured pad/prefix and
# pad/tree speedups beside their FLOP ideals, padded / prefix peak GB; with --ref the published
# reference's numbers in parentheses, matched on prompt_len, completion_len, num_completions,
# batch_size), then bullets computed from every row with status ok: model TFLOP/s per strategy
# and the speedup over the reference, prefix (and tree) against the FLOP ideal, memory, the
# loss check, and the commits and stopping rules the rows came from. Cells with the same
# lengths, K and B (a tree sweep's cells whose turns differ) are told apart by their cell index.
#   plot/summary.sh [--ref REF.csv] [--cells PxC,PxC,...] IN.csv
# Prints to stdout; bad usage, an unreadable file or a CSV without the columns: one line on
# stderr, exit 2. A strategy whose status is not ok shows its status (oom, error, skipped);
# "-" is a missing cell or value.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
usage() { echo "usage: $0 [--ref REF.csv] [--cells PxC,PxC,...] IN.csv" >&2; exit 2; }
ref='' cells='' cells_given='' in=''
while [ $# -gt 0 ]; do
    case $1 in
        --ref) [ $# -ge 2 ] && [ -n "$2" ] || usage; ref=$2; shift 2 ;;
        --cells) [ $# -ge 2 ] || usage; cells=$2; cells_given=1; shift 2 ;;
        --) shift; [ $# -eq 1 ] && [ -z "$in" ] || usage; in=$1; shift ;;
        -*) usage ;;
        *) [ -z "$in" ] || usage; in=$1; shift ;;
    esac
done
[ -n "$in" ] || usage
if [ -n "$cells_given" ] && printf '%s\n' "$cells" | tr , '\n' | grep -qvE '^[0-9]+x[0-9]+$'; then
    echo "summary: --cells wants PxC,PxC,... (prompt x completion length), not '$cells'" >&2; exit 2
fi
for f in "$in" ${ref:+"$ref"}; do
    if [ ! -f "$f" ] || [ ! -r "$f" ]; then echo "summary: cannot read $f" >&2; exit 2; fi
done
plot_scratch

# IN's columns, by position below: 1-4 the cell key; 5-8 ms, 9-12 GB, 13-16 status, 17-20
# TFLOP/s, each for padded, packed, prefix, tree; then the ratios, the loss and provenance.
# The tree columns and measure_rule are optional: older CSVs lack them.
key=prompt_len,completion_len,num_completions,batch_size
c=$key,padded_ms,packed_ms,prefix_ms,tree_ms?,padded_gb,packed_gb,prefix_gb,tree_gb?
c=$c,padded_status,packed_status,prefix_status,tree_status?
c=$c,padded_tflops,packed_tflops,prefix_tflops,tree_tflops?
c=$c,speedup_pad_prefix,ideal_speedup_pad_prefix,ideal_speedup_pad_tree?
c=$c,loss_max_rel_diff,loss_check?,git_commit,measure_rule?,cell?
awk -v cols="$c" -f "$here/csvcols.awk" "$in" > "$tmp/in" || exit 2
[ -s "$tmp/in" ] || { echo "summary: $in has no data rows" >&2; exit 2; }
: > "$tmp/ref"
if [ -n "$ref" ]; then
    awk -v cols=$key,padded_ms,packed_ms,prefix_ms,padded_gb,packed_gb,prefix_gb \
        -f "$here/csvcols.awk" "$ref" > "$tmp/ref" || exit 2
    [ -s "$tmp/ref" ] || { echo "summary: $ref has no data rows" >&2; exit 2; }
fi

awk -F '\t' -v haveref="${ref:+1}" -v cells="$cells" -v reffile="$tmp/ref" '
function k4(p, c, k, b) { return (p + 0) SUBSEP (c + 0) SUBSEP (k + 0) SUBSEP (b + 0) }
function num(v) {   # ms, TFLOP/s: 131, 80.0, 2.50, 0.00162
    if (v == "NaN") return "-"
    v += 0
    return v >= 100 ? sprintf("%.0f", v) : v >= 10 ? sprintf("%.1f", v) : v >= 1 ? sprintf("%.2f", v) : sprintf("%.3g", v)
}
function gbf(v) { if (v == "NaN") return "-"; v += 0; return v >= 1 ? sprintf("%.2f", v) : sprintf("%.3g", v) }
function r2(v) { return v == "NaN" ? "-" : sprintf("%.2f", v) }
function ok(i, s) { return st[i, s] == "ok" }
# a strategy value in the table: the number, or the status where it is not ok
function sv(i, s, v, isgb) {
    if (!ok(i, s)) return st[i, s] == "NaN" ? "-" : st[i, s]
    return isgb ? gbf(v) : num(v)
}
function refv(rk, s, isgb) {   # s: 1-3 ms, 4-6 GB
    if (!(rk in R)) return "-"
    return isgb ? gbf(Rv[rk, s]) : num(Rv[rk, s])
}
# a cell label; rows with the same lengths, K and B (a tree sweep: the same path / leaf lengths
# from other turn lengths) add their cell index
function twin(i) { return dup[k4(P[i], C[i], K[i], B[i])] > 1 && cl[i] != "NaN" }
function lab(i) { return P[i] "x" C[i] (multi ? " K" K[i] " B" B[i] : "") (twin(i) ? "#" cl[i] : "") }
function tlab(i) { return P[i] " x " C[i] (multi ? ", K " K[i] ", B " B[i] : "") (twin(i) ? " (cell " cl[i] ")" : "") }
# before(i, j): row i sorts before row j (prompt, completion, K, B, cell index; then file order)
function before(i, j) {
    if (P[i] != P[j]) return P[i] < P[j]
    if (C[i] != C[j]) return C[i] < C[j]
    if (K[i] != K[j]) return K[i] < K[j]
    if (B[i] != B[j]) return B[i] < B[j]
    if (cl[i] != "NaN" && cl[j] != "NaN" && cl[i] != cl[j]) return cl[i] + 0 < cl[j] + 0
    return i < j
}
# sorts v[1..n] ascending with its labels l (insertion sort: stable, small n)
function vsort(v, l, n,    i, j, tv, tl) {
    for (i = 2; i <= n; i++) {
        tv = v[i]; tl = l[i]
        for (j = i - 1; j >= 1 && v[j] > tv; j--) { v[j + 1] = v[j]; l[j + 1] = l[j] }
        v[j + 1] = tv; l[j + 1] = tl
    }
}
function median(v, n) { return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
function mmm(v, n, fmt) {   # v sorted
    return sprintf(fmt " / " fmt " / " fmt " (min / median / max)", v[1], median(v, n), v[n])
}
function cellword(n) { return n == 1 ? "1 cell" : n " cells" }
# below(v, thr): v with 3 decimals, more where those would round it up to thr (0.9498, not 0.950)
function below(v, thr,    d) {
    for (d = 3; d < 6 && sprintf("%." d "f", v) + 0 >= thr; d++) ;
    return sprintf("%." d "f", v)
}
# "what (2 cells): 512x512 0.926, 128x256 0.930" (worst first), or "what: none"; the values
# are below thr, or with thr "gb" minus an excess in GB (the largest first), shown as "+0.25 GB"
function listing(what, v, l, n, thr, note,    i, s) {
    if (!n) return what ": none"
    vsort(v, l, n)
    s = what " (" cellword(n) note "):"
    for (i = 1; i <= n; i++) s = s (i > 1 ? "," : "") " " l[i] " " (thr == "gb" ? "+" gbf(-v[i]) " GB" : below(v[i], thr))
    return s
}
# the cells where strategy b (1-4) needs more peak GB than strategy a, both ok, as a listing
function mem_above(a, b, what,    r, i, nm) {
    nm = 0
    for (r = 1; r <= n; r++) {
        i = ord[r]
        if (ok(i, a) && ok(i, b) && gb[i, a] != "NaN" && gb[i, b] != "NaN" && gb[i, b] > gb[i, a]) { mv[++nm] = gb[i, a] - gb[i, b]; ml[nm] = lab(i) }
    }
    return listing(what, mv, ml, nm, "gb")
}
function nv(x) { return x == "NaN" ? x : x + 0 }   # a number, or the string NaN
FILENAME == reffile {
    rk = k4($1, $2, $3, $4)
    if (!(rk in R)) { R[rk] = 1; for (s = 1; s <= 6; s++) Rv[rk, s] = nv($(4 + s)) }
    next
}
{
    n++
    P[n] = $1 + 0; C[n] = $2 + 0; K[n] = $3 + 0; B[n] = $4 + 0
    for (s = 1; s <= 4; s++) { ms[n, s] = nv($(4 + s)); gb[n, s] = nv($(8 + s)); st[n, s] = $(12 + s); tf[n, s] = nv($(16 + s)) }
    sp[n] = nv($21); id[n] = nv($22); idt[n] = nv($23); loss[n] = nv($24); lc[n] = $25; commit[n] = $26; rule[n] = $27
    cl[n] = $28 == "" ? "NaN" : $28; dup[k4(P[n], C[n], K[n], B[n])]++
    if (st[n, 4] == "ok") tree = 1
    if (n > 1 && (K[n] != K[1] || B[n] != B[1])) multi = 1
}
END {
    # rows in cell order
    for (i = 1; i <= n; i++) {
        for (j = i - 1; j >= 1 && before(i, ord[j]); j--) ord[j + 1] = ord[j]
        ord[j + 1] = i
    }
    ns = tree ? 4 : 3
    split("padded packed prefix tree", name, " ")
    rs = haveref ? " (ref)" : ""

    # 1. the table
    h = "| cell | padded ms" rs " | packed ms" rs " | prefix ms" rs " |" (tree ? " tree ms |" : "")
    h = h " pad/prefix (ideal) |" (tree ? " pad/tree (ideal) |" : "") " padded / prefix" (tree ? " / tree" : "") " GB" rs " |"
    print h
    d = "|---|---|---|---|"; if (tree) d = d "---|---|"
    print d "---|---|"
    nrow = 0
    if (cells == "") for (i = 1; i <= n; i++) row[++nrow] = ord[i]
    else {
        nw = split(cells, want, ",")
        for (w = 1; w <= nw; w++) {
            split(want[w], pc, "x"); found = 0
            for (i = 1; i <= n; i++) if (P[ord[i]] == pc[1] + 0 && C[ord[i]] == pc[2] + 0) { row[++nrow] = ord[i]; found = 1 }
            if (!found) row[++nrow] = "-" want[w]
        }
    }
    for (r = 1; r <= nrow; r++) {
        i = row[r]
        if (substr(i, 1, 1) == "-") {   # a cell not in IN.csv: the reference still shows
            split(substr(i, 2), pc, "x")
            rk = multi ? "" : k4(pc[1], pc[2], K[1], B[1])
            line = "| " pc[1] " x " pc[2] " |"
            for (s = 1; s <= 3; s++) line = line " -" (haveref ? " (" refv(rk, s, 0) ")" : "") " |"
            if (tree) line = line " - |"
            line = line " - |" (tree ? " - |" : "") " - / -" (tree ? " / -" : "") (haveref ? " (" refv(rk, 4, 1) " / " refv(rk, 6, 1) ")" : "") " |"
            print line
            continue
        }
        rk = k4(P[i], C[i], K[i], B[i])
        line = "| " tlab(i) " |"
        for (s = 1; s <= 3; s++) line = line " " sv(i, s, ms[i, s], 0) (haveref ? " (" refv(rk, s, 0) ")" : "") " |"
        if (tree) line = line " " sv(i, 4, ms[i, 4], 0) " |"
        line = line " " (ok(i, 1) && ok(i, 3) ? r2(sp[i]) : "-") " (" r2(id[i]) ") |"
        if (tree) {
            t = ok(i, 1) && ok(i, 4) && ms[i, 4] != "NaN" && ms[i, 4] > 0 && ms[i, 1] != "NaN" ? r2(ms[i, 1] / ms[i, 4]) : "-"
            line = line " " t " (" r2(idt[i]) ") |"
        }
        line = line " " sv(i, 1, gb[i, 1], 1) " / " sv(i, 3, gb[i, 3], 1)
        if (tree) line = line " / " sv(i, 4, gb[i, 4], 1)
        line = line (haveref ? " (" refv(rk, 4, 1) " / " refv(rk, 6, 1) ")" : "") " |"
        print line
    }
    print ""

    # 2. per strategy: model TFLOP/s; with --ref, the speedup over the reference
    na = 0
    for (s = 1; s <= ns; s++) {
        nt = 0; nr = 0; hi = 0; bad = ""; delete nb
        for (r = 1; r <= n; r++) {
            i = ord[r]
            if (!ok(i, s)) { if (st[i, s] != "NaN" && st[i, s] != "skipped") nb[st[i, s]]++; continue }
            if (tf[i, s] != "NaN") { if (!nt || tf[i, s] < tmin) tmin = tf[i, s]; if (!nt || tf[i, s] > tmax) tmax = tf[i, s]; nt++ }
            rk = k4(P[i], C[i], K[i], B[i])
            if (haveref && s <= 3 && (rk in R) && Rv[rk, s] != "NaN" && ms[i, s] != "NaN" && ms[i, s] > 0) {
                v = Rv[rk, s] / ms[i, s]
                sr[++nr] = v; srl[nr] = lab(i); all[++na] = v; alll[na] = lab(i) " " name[s]
                if (v >= 1.3) hi++
            }
        }
        for (x in nb) bad = bad ", " nb[x] " " x
        line = "- **" name[s] "**: "
        line = line (nt ? num(tmin) "-" num(tmax) " model TFLOP/s (" cellword(nt) bad ")" : "no cell with status ok" bad)
        if (haveref && s <= 3) {
            if (nr) { vsort(sr, srl, nr); line = line "; against the reference " mmm(sr, nr, "%.2fx") ", " hi " of " cellword(nr) " at 1.3x or more" }
            else line = line "; no cell to compare with the reference"
        }
        print line
    }
    if (haveref && na) {
        vsort(all, alll, na); hi = 0; slow = 0
        for (i = 1; i <= na; i++) { if (all[i] >= 1.3) hi++; if (all[i] < 1) slow++ }
        print "- **All strategies against the reference**: " na " (cell, strategy) pairs, " mmm(all, na, "%.2fx") ", " hi " at 1.3x or more, " slow " slower than the reference"
    }

    # 3. prefix (and tree) against the FLOP ideal
    nq = 0; nlow = 0; nslow = 0
    for (r = 1; r <= n; r++) {
        i = ord[r]
        if (!ok(i, 1) || !ok(i, 3) || sp[i] == "NaN" || id[i] == "NaN" || id[i] <= 0) continue
        q[++nq] = sp[i] / id[i]; ql[nq] = lab(i)
        if (q[nq] < 0.97) { lo[++nlow] = q[nq]; lol[nlow] = lab(i) }
        if (sp[i] < 1) { sl[++nslow] = sp[i]; sll[nslow] = lab(i) }
    }
    if (nq) {
        vsort(q, ql, nq)
        print "- **Prefix against its FLOP ideal** (speedup_pad_prefix / ideal_speedup_pad_prefix, " cellword(nq) "): " mmm(q, nq, "%.3f")
        print "  - " listing("below 0.97", lo, lol, nlow, 0.97)
        print "  - " listing("prefix slower than padded", sl, sll, nslow, 1, ", padded / prefix ms")
    } else print "- **Prefix against its FLOP ideal**: no cell with padded and prefix ok"
    if (tree) {
        nq = 0; nlow = 0; nslow = 0
        for (r = 1; r <= n; r++) {
            i = ord[r]
            if (!ok(i, 4) || ms[i, 4] == "NaN" || ms[i, 4] <= 0) continue
            if (ok(i, 3) && ms[i, 3] != "NaN" && ms[i, 4] > ms[i, 3]) { sl[++nslow] = ms[i, 3] / ms[i, 4]; sll[nslow] = lab(i) }
            if (!ok(i, 1) || ms[i, 1] == "NaN" || idt[i] == "NaN" || idt[i] <= 0) continue
            q[++nq] = ms[i, 1] / ms[i, 4] / idt[i]; ql[nq] = lab(i)
            if (q[nq] < 0.95) { lo[++nlow] = q[nq]; lol[nlow] = lab(i) }
        }
        if (nq) {
            vsort(q, ql, nq)
            print "- **Tree against its FLOP ideal** (padded_ms / tree_ms / ideal_speedup_pad_tree, " cellword(nq) "): " mmm(q, nq, "%.3f")
            print "  - " listing("below 0.95", lo, lol, nlow, 0.95)
        } else print "- **Tree against its FLOP ideal**: no cell with padded and tree ok"
        print "  - " listing("tree slower than prefix", sl, sll, nslow, 1, ", prefix / tree ms")
    }

    # 4. memory
    print "- **Memory** (peak GB)"
    print "  - " mem_above(1, 3, "prefix above padded")
    if (tree) print "  - " mem_above(3, 4, "tree above prefix")
    if (haveref) {
        np = 0; nless = 0; bs = ""; be = ""
        for (r = 1; r <= n; r++) {
            i = ord[r]; rk = k4(P[i], C[i], K[i], B[i])
            if (!(rk in R)) continue
            for (s = 1; s <= 3; s++) {
                if (!ok(i, s) || gb[i, s] == "NaN" || Rv[rk, 3 + s] == "NaN") continue
                np++; dlt = gb[i, s] - Rv[rk, 3 + s]
                what = lab(i) " " name[s] ": " gbf(gb[i, s]) " vs " gbf(Rv[rk, 3 + s])
                if (dlt < 0) { nless++; if (bs == "" || -dlt > bsv) { bsv = -dlt; bs = what } }
                if (dlt > 0 && (be == "" || dlt > bev)) { bev = dlt; be = what }
            }
        }
        line = "  - against the reference: " nless " of " np " (cell, strategy) pairs use less"
        line = line "; largest saving " (bs == "" ? "none" : gbf(bsv) " GB (" bs ")")
        line = line "; largest excess " (be == "" ? "none" : gbf(bev) " GB (" be ")")
        print line
    }

    # 5. the loss check, the commits, the stopping rules
    nl = 0
    for (r = 1; r <= n; r++) {
        i = ord[r]
        if (loss[i] != "NaN" && (!nl || loss[i] + 0 > lmax)) { lmax = loss[i] + 0; lcell = lab(i) }
        if (loss[i] != "NaN") nl++
        if (lc[i] != "NaN") { if (!(lc[i] in lcn)) lco[++nlc] = lc[i]; lcn[lc[i]]++ }
    }
    line = "- **Loss**: largest loss_max_rel_diff " (nl ? sprintf("%.2e", lmax) " (" lcell ")" : "none") " over " nl " of " n " rows"
    if (nlc) { line = line "; loss_check"; for (x = 1; x <= nlc; x++) line = line (x > 1 ? "," : "") " " lcn[lco[x]] " " lco[x] }
    print line
    print distinct("Commits** (git_commit)", commit)
    print distinct("Stopping rules** (measure_rule)", rule)
}
function distinct(what, a,    i, nd, o, c, s) {
    nd = 0
    for (i = 1; i <= n; i++) { if (!((a[i]) in c)) o[++nd] = a[i]; c[a[i]]++ }
    s = "- **" what ":"
    for (i = 1; i <= nd; i++)
        s = s (i > 1 ? "," : "") " " (o[i] == "NaN" ? "not recorded" : "`" o[i] "`") " (" c[o[i]] (c[o[i]] == 1 ? " row" : " rows") ")"
    return s
}
' "$tmp/ref" "$tmp/in"
