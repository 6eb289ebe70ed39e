#!/usr/bin/env bash
# The fleet's overhead (issue 21, docs/fleet.md): JOBS jobs of one small query each
# (bench/engine_bench.cpp's "jobs in flight" pipeline) against an emulator whose jobs take
# LATENCY ms, null sink, the tenant's 50 active jobs:
#   baseline  `aquaduct run --state-dir DIR`: one process, its state a directory
#   fleet     `aquaduct worker --state postgres://…` on 1, 2 and 4 workers sharing one run
# Each figure is the wall time beside the baseline's, measured in the same run, and the ideal
# ceil(JOBS/50) x LATENCY. Target: 1 worker on PostgreSQL within 1.1x of the state directory.
# Usage: fleet_bench.sh AQUADUCT_BINARY [JOBS] [LATENCY_MS]
set -eu
bin=$(realpath "$1")
jobs=${2:-1000}
latency_ms=${3:-2000}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d /tmp/aquaduct-fleet-bench-XXXXXX)
chmod 755 "$work"  # the PostgreSQL server runs as another user (scripts/dev-postgres.sh)
emulator_pid=
cleanup() {
  [ -z "$emulator_pid" ] || kill "$emulator_pid" 2>/dev/null
  bash "$src/scripts/dev-postgres.sh" stop "$work/pg" --rm >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

bash "$src/scripts/dev-postgres.sh" start "$work/pg" >/dev/null
state="postgresql:///postgres?host=$work/pg&user=aquaduct"
mkfifo "$work/emulator.out"
"$bin" emulate --port 0 --latency-ms "$latency_ms" --scale 200 >"$work/emulator.out" 2>"$work/emulator.log" &
emulator_pid=$!
exec {fd}<"$work/emulator.out"
read -t 30 -r line <&"$fd"
url=${line#listening on }

objects=(Account Contact Product Invoice Subscription)
{
  printf '[source]\nbase_url = "%s"\n[source.auth]\ntype = "basic"\nusername = "aquaduct"\npassword = "aquaduct"\n' "$url"
  printf '[source.poll]\ninitial_ms = 250\nmax_ms = 250\njitter = "none"\n'
  for ((i = 0; i < jobs; i++)); do
    o=${objects[$((i % 5))]}
    printf '[[jobs]]\nname = "job%d"\nformat = "gzip"\n[[jobs.queries]]\nname = "%s"\nquery = "select Id from %s limit 1"\n' \
      "$i" "$o" "$o"
  done
  printf '[[sinks]]\ntype = "null"\n'
} >"$work/pipeline.toml"

now() { date +%s.%N; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }
ideal=$(awk -v j="$jobs" -v l="$latency_ms" 'BEGIN { print int((j + 49) / 50) * l / 1000 }')
echo "== fleet: $jobs jobs of one small query each, emulator --latency-ms $latency_ms, null sink; ideal ${ideal} s =="

t0=$(now)
"$bin" run "$work/pipeline.toml" --state-dir "$work/state" --progress never --log-level error 2>"$work/run.log" ||
  { tail "$work/run.log"; exit 1; }
base=$(seconds "$t0" "$(now)")
printf '%-34s %7.2f s   %5.2fx ideal\n' "aquaduct run, state directory" "$base" "$(div "$base" "$ideal")"

verdict=0
for n in 1 2 4; do
  t0=$(now)
  pids=()
  for ((w = 0; w < n; w++)); do
    "$bin" worker "$work/pipeline.toml" --state "$state" --run "bench-$n" --log-level error 2>"$work/worker$n.$w.log" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { tail "$work"/worker$n.*.log; exit 1; }; done
  wall=$(seconds "$t0" "$(now)")
  ratio=$(div "$wall" "$base")
  note=""
  if [ "$n" -eq 1 ]; then
    if awk -v r="$ratio" 'BEGIN { exit !(r <= 1.10) }'; then note="  target <= 1.10x: met"; else note="  target <= 1.10x: MISSED"; verdict=1; fi
  fi
  printf '%-34s %7.2f s   %5.2fx ideal   %5.2fx the state directory%s\n' "$n worker(s), PostgreSQL state" "$wall" \
    "$(div "$wall" "$ideal")" "$ratio" "$note"
done
peak=$(curl -sf "$url/_emulator/stats" | jq '.peak_active_jobs // "n/a"')
echo "the emulator's peak of active jobs over all runs: $peak (the tenant's limit: 50)"
exit "$verdict"
