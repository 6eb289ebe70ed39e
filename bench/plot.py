#!/usr/bin/env python3
"""The plot of a bench record (bench/harness.sh's bench/results/<date>-<sha>.json), drawn by
gnuplot into an SVG: every scenario's figure beside its same-run baseline, throughput against
files at once, and peak RSS against result size, each with its axes, units, target and the
record's commit and date.

    bench/plot.py RECORD.json OUT.svg
"""
import json
import subprocess
import sys


def block(name, rows):
    """A gnuplot inline data block."""
    lines = [f"${name} << EOD"]
    lines += [" ".join(str(v) for v in row) for row in rows]
    lines.append("EOD")
    return "\n".join(lines)


def short(text, most=34):
    return text if len(text) <= most else text[:most - 1] + "…"


def quoted(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: bench/plot.py RECORD.json OUT.svg")
    record_path, out = sys.argv[1:]
    with open(record_path) as f:
        record = json.load(f)
    params = record.get("params", {})
    caption = f"commit {params.get('commit', '?')}, {params.get('date', '?')}, {params.get('cores', '?')} cores, " \
              f"load at start {params.get('load_average_at_start', '?')}"

    # Each scenario with a ratio to its same-run baseline: the baseline is 1.
    ratios = [(i, r["ratio"], quoted(short(r["scenario"]))) for i, r in enumerate(
        [r for r in record.get("results", []) if isinstance(r.get("ratio"), (int, float))])]
    files = record.get("throughput_vs_concurrency", [])
    one_file = files[0][1] if files else 0
    files_rows = [(n, mbs, one_file * n) for n, mbs in files]
    memory = record.get("rss_mib_vs_result_gb", [])

    script = [
        "set terminal svg size 1560,620 dynamic font 'sans,11' background '#ffffff'",
        f"set output {quoted(out)}",
        f"set multiplot layout 1,3 title {quoted('aquaduct bench — ' + caption)}",
        "set grid ytics lc rgb '#dddddd'",
        "set bmargin 16",
        "set key top right box opaque",
    ]
    if ratios:
        script += [
            block("RATIOS", ratios),
            "set title 'Each scenario against its same-run baseline'",
            "set style fill solid 0.6",
            "set boxwidth 0.6",
            "set xtics rotate by -60 font ',8' nomirror",
            "set ylabel '× its baseline'",
            f"set yrange [0:{max(r[1] for r in ratios) * 1.4:.3f}]",
            "set key top left box opaque",
            "plot $RATIOS using 1:2:xtic(3) with boxes lc rgb '#4682b4' title 'aquaduct', "
            "1 with lines lw 2 lc rgb '#cc3333' title 'its same-run baseline'",
            "unset xtics", "set xtics", "set autoscale y", "set key bottom right box opaque",
        ]
    else:
        script += ["set title 'no scenario with a ratio in this record'", "plot 0 notitle"]
    if files_rows:
        script += [
            block("FILES", files_rows),
            "set title 'Throughput against result files delivered at once'",
            "set xlabel 'result files at once'",
            "set ylabel 'MB/s of CSV into the sink'",
            "set xrange [0:*]", "set yrange [0:*]",
            "plot $FILES using 1:2 with linespoints lw 2 pt 7 lc rgb '#4682b4' title 'aquaduct', "
            "$FILES using 1:3 with lines dt 2 lc rgb '#cc3333' title 'baseline: one file x files'",
        ]
    else:
        script += ["set title 'no files-at-once scenario in this record'", "plot 0 notitle"]
    if memory:
        script += [
            block("MEMORY", memory),
            "set title 'Peak RSS against result size'",
            "set xlabel 'GB of CSV results'",
            "set ylabel 'engine peak RSS (MiB)'",
            "set xrange [0:*]", "set yrange [0:70]",
            "plot $MEMORY using 1:2 with linespoints lw 2 pt 7 lc rgb '#4682b4' title 'aquaduct', "
            "64 with lines dt 2 lc rgb '#cc3333' title 'target: 64 MiB'",
        ]
    else:
        script += ["set title 'no memory scenario in this record'", "plot 0 notitle"]
    script.append("unset multiplot")
    try:
        subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, check=True)
    except FileNotFoundError:
        sys.exit("bench/plot.py: gnuplot is not installed (scripts/install-deps.sh installs gnuplot-nox)")


if __name__ == "__main__":
    main()
