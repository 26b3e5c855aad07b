#!/usr/bin/env python3
"""aims.py: the closed issues' aims against the results edition's rows (issue 16's closing note).

Reads the CSVs under results/ (and the prefix-heavy rows, results/runs/rows_*_COMMIT.csv) and
prints Markdown: per issue its aims, the measured numbers and met / not met. The aims' numbers
are the issues' own (their tables). No GPU: it reads committed rows only.

    python3 dev/aims.py [--commit 45a2287] [--log results/runs/results_log_s10.txt]

--commit: the rows' commit (every row read must carry it; a row that does not is an error).
--log: a results call log whose summary holds the grid_full lines (their seconds are summed).
Exit 0 printed, 2 a file missing or a row from another commit.
"""
import argparse
import csv
import glob
import math
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
STRATS = ("padded", "packed", "prefix")

# issue 10: peak GB at most (padded / packed / prefix), cell -> (prompts, completions, aims)
MEM_AIMS = {
    (512, 512, 3, 2): (31.0, 31.0, 30.8),
    (2048, 512, 3, 2): (32.5, 32.5, 31.3),
    (4096, 4096, 3, 2): (34, 34, 33),
    (16384, 128, 3, 2): (45, 45, 34),
    (2048, 1024, 2, 8): (34, 34, 32),
    (4096, 512, 1, 16): (37, 37, 31.5),
    (16384, 16384, 3, 2): (70, 70, 60),
}
# issue 12: PyTorch ms (padded / packed / prefix); the aim is 1.3x faster
TORCH_MS = {
    (512, 512, 3, 2): (599, 588, 445),
    (2048, 512, 3, 2): (1472, 1448, 901),
    (4096, 4096, 3, 2): (5636, 5394, 4207),
    (16384, 128, 3, 2): (13167, 12219, 6133),
    (1024, 8192, 3, 2): (6679, 6374, 6090),
    (2048, 1024, 2, 8): (4852, 4746, 2150),
    (4096, 512, 1, 16): (7450, 7231, 1379),
}


def die(msg):
    print("aims: " + msg, file=sys.stderr)
    sys.exit(2)


def rows(path, commit):
    if not os.path.exists(path):
        die("no file " + os.path.relpath(path, ROOT))
    with open(path, newline="") as f:
        out = list(csv.DictReader(f))
    for r in out:
        if not r.get("git_commit", "").startswith(commit):
            die("%s: a row from commit %s, not %s" % (os.path.relpath(path, ROOT), r.get("git_commit"), commit))
    return out


def num(r, k):
    try:
        v = float(r[k])
    except (KeyError, TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def key(r):
    return (int(r["prompt_len"]), int(r["completion_len"]), int(r["batch_size"]), int(r["num_completions"]))


def fmt(xs, f="%.2f"):
    return " / ".join("-" if x is None else f % x for x in xs)


def verdict(ok):
    return "**met**" if ok else "**not met**"


def each(xs, ok):
    """met / not met over the strategies, naming those that meet it when only some do."""
    good = [s for s, x in zip(STRATS, xs) if ok(x)]
    return verdict(len(good) == len(xs)) + ("" if len(good) in (0, len(xs)) else " (met by " + ", ".join(good) + ")")


def aim_table(title, head, by, aims, cols):
    """One Markdown table: a line per aimed cell, cols(row, aim) the cells after its name ("not run")."""
    print(title + "\n")
    print("| cell | B x K | " + " | ".join(head) + " |")
    print("|---" * (len(head) + 2) + "|")
    for k, aim in aims.items():
        r = by.get(k)
        cells = cols(r, aim) if r is not None else ["not run", fmt(aim, "%g")] + ["-"] * (len(head) - 2)
        print("| %d x %d | %d x %d | %s |" % (k[0], k[1], k[2], k[3], " | ".join(cells)))


def memory_cols(r, aim):
    gb = [num(r, s + "_gb") for s in STRATS]
    return [fmt(gb), fmt(aim, "%g"), verdict(all(g is not None and g <= a for g, a in zip(gb, aim)))]


def speed_cols(r, torch):
    ms = [num(r, s + "_ms") for s in STRATS]
    sp = [t / m for t, m in zip(torch, ms)]
    return [fmt(ms, "%.0f"), fmt(torch, "%g"), fmt(sp), each(sp, lambda x: x >= 1.3)]


def issue10_12(grid, extra):
    by = {key(r): r for r in grid + extra}
    aim_table("## Issue 10 (memory): peak GB padded / packed / prefix against the aim (at most)",
              ["measured", "aim", ""], by, MEM_AIMS, memory_cols)
    above = [r for r in grid if num(r, "prefix_gb") > num(r, "padded_gb")]
    print("\nPrefix above padded in the grid: %s.\n" % (", ".join("%sx%s" % (r["prompt_len"], r["completion_len"]) for r in above) or "no cell"))
    aim_table("## Issue 12 (speed): ms padded / packed / prefix against 1.3x PyTorch",
              ["measured", "PyTorch", "speedup over PyTorch", "aim (1.3x)"], by, TORCH_MS, speed_cols)
    slower = [r for r in grid if num(r, "padded_ms") < num(r, "prefix_ms")]
    eff = sorted((num(r, "speedup_pad_prefix") / num(r, "ideal_speedup_pad_prefix"), r) for r in grid)
    low = [(e, r) for e, r in eff if e < 0.97]
    print("\n- Prefix never slower than padded: %s; slower in %d of %d cells: %s." % (
        verdict(not slower), len(slower), len(grid),
        ", ".join("%sx%s %.3f (%s shared)" % (r["prompt_len"], r["completion_len"],
                                              num(r, "padded_ms") / num(r, "prefix_ms"), r["prefix_shared_groups"])
                  for r in slower) or "none"))
    print("- Prefix >= 0.97 of its FLOP ideal in every cell: %s; %.3f to %.3f, below 0.97 in %d: %s.\n" % (
        verdict(not low), eff[0][0], eff[-1][0], len(low),
        ", ".join("%sx%s %.3f" % (r["prompt_len"], r["completion_len"], e) for e, r in low) or "none"))


def issue11(grid, none_rows, auto_rows, auto80, caps):
    full = {key(r): r for r in grid}
    print("## Issue 11 (recompute, capacity)\n")
    print("| cell | policy | model TFLOP/s padded / packed / prefix | >= 620 | speedup over full | >= 1.2x |")
    print("|---|---|---|---|---|---|")
    for name, rs in (("none", none_rows), ("auto", auto_rows)):
        for r in rs:
            tf = [num(r, s + "_tflops") for s in STRATS]
            f = full[key(r)]
            sp = [num(f, s + "_ms") / num(r, s + "_ms") for s in STRATS]
            print("| %s x %s | %s | %s | %s | %s | %s |" % (r["prompt_len"], r["completion_len"], name, fmt(tf, "%.1f"),
                                                        each(tf, lambda x: x >= 620), fmt(sp, "%.3f"),
                                                        each(sp, lambda x: x >= 1.2)))
    ratios = []
    for r in auto80:
        f = full[key(r)]
        ratios += [num(f, s + "_ms") / num(r, s + "_ms") for s in STRATS]
    eff = [num(r, "speedup_pad_prefix") / num(r, "ideal_speedup_pad_prefix") for r in auto80]
    print("\n- auto at 80 GB, %d cells: faster than full in %d of %d (cell, strategy) pairs, %.3f-%.3fx; "
          "prefix over padded at the equal budget / its FLOP ideal %.3f-%.3f, above 1 in %d cells." % (
              len(auto80), sum(x > 1 for x in ratios), len(ratios), min(ratios), max(ratios), min(eff), max(eff),
              sum(e > 1 for e in eff)))
    print("- Capacity (completions/s at the largest B that fits):\n")
    print("| cell | K | B padded / packed / prefix | completions/s | prefix / padded |")
    print("|---|---|---|---|---|")
    for rs in caps:
        by = {r["strategy"]: r for r in rs}
        if not all(s in by for s in STRATS):
            continue
        b = [num(by[s], "batch_size") for s in STRATS]
        c = [num(by[s], "completions_per_s") for s in STRATS]
        r = by["padded"]
        print("| %s x %s | %s | %s | %s | %.3fx |" % (r["prompt_len"], r["completion_len"], r["num_completions"],
                                                     fmt(b, "%.0f"), fmt(c), c[2] / c[0]))
    print()


def issue13(models):
    print("## Issue 13 (models): 2048 x 512, 3 x 2\n")
    print("| model | ms padded / packed / prefix | model TFLOP/s | GB | loss rel. diff |")
    print("|---|---|---|---|---|")
    for r in models:
        print("| %s | %s | %s | %s | %.1e (%s) |" % (r["model"], fmt([num(r, s + "_ms") for s in STRATS], "%.1f"),
                                                    fmt([num(r, s + "_tflops") for s in STRATS], "%.1f"),
                                                    fmt([num(r, s + "_gb") for s in STRATS]),
                                                    num(r, "loss_max_rel_diff"), r["loss_check"]))
    print()


def issue14(sweeps):
    print("## Issue 14 (trees)\n")
    print("| sweep | cells | prefix / tree (min) | padded / prefix (min) | tree / its ideal | memory tree <= prefix <= padded |")
    print("|---|---|---|---|---|---|")
    for name, rs in sweeps:
        pt, pp, te, bad = [], [], [], 0
        for r in rs:
            pad, pre, tree = num(r, "padded_ms"), num(r, "prefix_ms"), num(r, "tree_ms")
            pp.append(pad / pre)
            gb = [num(r, s + "_gb") for s in ("padded", "prefix", "tree")]
            if tree is not None:
                pt.append(pre / tree)
                te.append(pad / tree / num(r, "ideal_speedup_pad_tree"))
            if gb[1] > gb[0] or (gb[2] is not None and gb[2] > gb[1]):
                bad += 1
        print("| %s | %d | %s | %.3f | %s | %s |" % (
            name, len(rs), "%.3f" % min(pt) if pt else "- (no tree: tree is prefix)", min(pp),
            "%.3f-%.3f" % (min(te), max(te)) if te else "-", "every cell" if not bad else "%d cells not" % bad))
    print()


def grid_wall(log):
    if not log:
        return
    secs = [int(m.group(1)) for m in re.finditer(r"^grid_full: [^,]*, (\d+) s on gpu", open(log).read(), re.M)]
    print("## Issue 16: the grid's wall time\n\ngrid_full in %d calls: %s = %d s (%.1f min).\n" % (
        len(secs), " + ".join(map(str, secs)), sum(secs), sum(secs) / 60))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--commit", default="45a2287")
    ap.add_argument("--log", default="")
    a = ap.parse_args()
    res = lambda n: rows(os.path.join(ROOT, "results", n), a.commit)
    grid = res("nll_2_qwen7b.csv")
    extra = []
    for p in sorted(glob.glob(os.path.join(ROOT, "results", "runs", "rows_*_%s.csv" % a.commit))):
        extra += rows(p, a.commit)
    issue10_12(grid, extra)
    caps = [rows(p, a.commit) for p in sorted(glob.glob(os.path.join(ROOT, "results", "capacity_*.csv")))]
    issue11(grid, res("recompute_none_512_2048.csv"), res("recompute_auto_512_2048.csv"),
            res("nll_2_qwen7b_auto80.csv"), caps)
    issue13([r for p in sorted(glob.glob(os.path.join(ROOT, "results", "models_*.csv"))) for r in rows(p, a.commit)])
    issue14([(n, res(n + ".csv")) for n in ("system", "multiturn", "grpo_16_qwen7b")])
    grid_wall(a.log)


if __name__ == "__main__":
    main()
