#!/usr/bin/env bash
# The benchmark harness: runs engine_bench's scenarios (1,000 jobs in flight; one big gzip
# extraction to the null, csv, singer and postgres sinks; files at once on the cores; peak RSS
# against result size), each beside a baseline measured in the same run, and keeps the
# record: bench/results/<YYYY-MM-DD>-<git short sha>.json and .svg (the plot, drawn by
# bench/plot.py with gnuplot), with the markdown table on stdout.
#   bench/harness.sh [BUILD_DIR] [engine_bench flags: --rows N --memory-gb 1,5 --only LIST ...]
# Defaults: build/release, 10,000,000 rows, --memory-gb 1,5 (about 6 minutes on 2 cores, and
# about 10 GB in $TMPDIR at the peak). Small: bench/harness.sh build/release --rows 1000000 --memory-gb 0.25,1
set -euo pipefail
build=${1:-build/release}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/.."
sha=$(git rev-parse --short HEAD 2>/dev/null || echo nogit)
if ! git diff --quiet HEAD -- 2>/dev/null; then sha="$sha-dirty"; fi
name=bench/results/$(date -u +%F)-$sha
mkdir -p bench/results
rc=0
"$build/bench/engine_bench" --aquaduct "$build/aquaduct" --commit "$sha" \
  --only jobs,extract,cores,memory --sinks null,csv,singer,postgres --json "$name.json.tmp" "$@" ||
  rc=$?
# A scenario that failed is in the record's "failures" (and the exit code); a record that
# could not be written is not renamed.
[ -f "$name.json.tmp" ] || { echo "harness: engine_bench wrote no record (exit $rc)" >&2; exit "${rc/#0/1}"; }
mv "$name.json.tmp" "$name.json"
python3 bench/plot.py "$name.json" "$name.svg.tmp" && mv "$name.svg.tmp" "$name.svg"
echo
echo "wrote $name.json and $name.svg"
exit "$rc"
