# csvcols.awk: prints the named columns of a CSV (quoted fields, "" escapes) as tab-separated
# values, one line per record, for gnuplot. Usage: awk -v cols=a,b,c -f csvcols.awk FILE.
# A name ending in "?" is optional: NaN in every record when the file has no such column.
# POSIX awk (mawk, gawk, busybox): no FPAT. Fields holding newlines are not supported (packbench
# writes none: its command column escapes control bytes; a record spanning lines is skipped whole).
function split_csv(line, out,    n, i, c, f, q) {
    n = 0; f = ""; q = 0
    for (i = 1; i <= length(line); i++) {
        c = substr(line, i, 1)
        if (q) {
            if (c == "\"") { if (substr(line, i + 1, 1) == "\"") { f = f "\""; i++ } else q = 0 }
            else f = f c
        } else if (c == "\"") q = 1
        else if (c == ",") { out[++n] = f; f = "" }
        else if (c != "\r") f = f c
    }
    out[++n] = f
    return q ? -1 : n
}
NR == 1 {
    nh = split_csv($0, head)
    nc = split(cols, want, ",")
    for (j = 1; j <= nc; j++) {
        idx[j] = 0
        opt = substr(want[j], length(want[j])) == "?"
        if (opt) want[j] = substr(want[j], 1, length(want[j]) - 1)
        for (i = 1; i <= nh; i++) if (head[i] == want[j]) idx[j] = i
        if (!idx[j] && !opt) { printf "csvcols: column '%s' not in %s\n", want[j], FILENAME > "/dev/stderr"; bad = 1; exit 2 }
    }
    next
}
{
    n = split_csv($0, f)
    if (n != nh) next
    line = ""
    for (j = 1; j <= nc; j++) line = line (j > 1 ? "\t" : "") (!idx[j] || f[idx[j]] == "" ? "NaN" : f[idx[j]])
    print line
}
END { if (bad) exit 2 }
