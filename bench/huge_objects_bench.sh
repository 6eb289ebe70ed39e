#!/usr/bin/env bash
# Huge objects (issue 19): the cost of splitting. A plain `select * from InvoiceItem`
# from an emulator that aborts every batch over MAX_JOB_ROWS rows (90027) and has a
# BURST-row bill-run second, against the same extraction from an emulator without
# limits (same tenant), in the same run. Prints both wall times and their ratio (target
# <= 1.5), the split run's peak RSS (target <= 64 MiB) and its peak spool disk (its open
# files under its own TMPDIR, sampled every 0.1 s).
#   bench/huge_objects_bench.sh [AQUADUCT] [SCALE] [MAX_JOB_ROWS] [BURST]
# The issue's scenario is SCALE 200000 (10M InvoiceItem rows), MAX_JOB_ROWS 500000,
# BURST 200000; `make bench` runs it scaled down by 10 unless HUGE_BENCH_ARGS says otherwise.
# Measured 2026-12-07 on a shared 2-core machine (docs/performance.md, "Huge objects"):
# 1M rows 1.00-1.04 (4 runs), 10M rows 0.93-1.24 (2 runs), peak RSS 22 MiB, peak spool
# 29-38 MiB and about 0.5 GB; before the emulator's UpdatedDate index every piece scanned
# the whole object and the ratio was 2.04-2.46 (1M) and 2.50 (10M).
set -euo pipefail
bin=${1:-build/release/aquaduct}
scale=${2:-200000}
max_rows=${3:-500000}
burst=${4:-200000}
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

start_emulator() {  # start_emulator VAR ARGS...: its URL in VAR
  local var=$1 line fd fifo="$work/emu.${#pids[@]}"
  shift
  mkfifo "$fifo"
  "$bin" emulate --port 0 --scale "$scale" --burst "InvoiceItem:$burst" --latency-ms 100 --workers 2 "$@" >"$fifo" &
  pids+=($!)
  exec {fd}<"$fifo"
  read -t 60 -r line <&"$fd"
  printf -v "$var" '%s' "${line#listening on }"
}
start_emulator plain_url
start_emulator limited_url --max-job-rows "$max_rows"

run() {  # run NAME URL: prints "wall_s peak_rss_bytes peak_spool_bytes jobs split"
  local dir="$work/$1" peak=0 size
  mkdir -p "$dir/tmp"
  cat >"$dir/p.toml" <<TOML
[source]
base_url = "$2"
[source.auth]
type = "basic"
username = "aquaduct"
password = "aquaduct"
[source.poll]
initial_ms = 50
max_ms = 200
[[jobs]]
name = "items"
format = "gzip"
[[jobs.queries]]
name = "InvoiceItem"
query = "select * from InvoiceItem"
[[sinks]]
type = "null"
TOML
  # Spool files are unlinked once open: their bytes are those of the run's open
  # files under its TMPDIR, sampled every 0.1 s.
  TMPDIR="$dir/tmp" "$bin" run "$dir/p.toml" --state-dir "$dir/state" --progress never --log-level warning \
    --report "$dir/report.json" >"$dir/run.log" 2>&1 &
  local pid=$! fd target
  while kill -0 "$pid" 2>/dev/null; do
    size=0
    for fd in /proc/"$pid"/fd/*; do
      target=$(readlink "$fd" 2>/dev/null) || continue
      [[ $target == "$dir/tmp/"* ]] && size=$((size + $(stat -L -c %s "$fd" 2>/dev/null || echo 0)))
    done
    [ "$size" -gt "$peak" ] && peak=$size
    sleep 0.1
  done
  wait "$pid" || { echo "the $1 run failed:" >&2; tail "$dir/run.log" >&2; exit 1; }
  echo "$peak" >"$dir/spool.peak"
  jq -r --arg spool "$(cat "$dir/spool.peak" 2>/dev/null || echo 0)" \
    '"\(.wall_s) \(.peak_rss_bytes) \($spool) \(.jobs | length) \(.summary[0].split // "-")"' "$dir/report.json"
}

read -r plain_s plain_rss _ plain_jobs _ <<<"$(run plain "$plain_url")"
read -r split_s split_rss split_spool split_jobs split_note <<<"$(run split "$limited_url")"
rows=$((scale * 50))
echo "huge objects: $rows InvoiceItem rows, --max-job-rows $max_rows, a $burst-row burst second"
printf '  unlimited emulator: %8.2f s, %d job(s), peak RSS %.1f MiB\n' "$plain_s" "$plain_jobs" \
  "$(echo "$plain_rss / 1048576" | bc -l)"
printf '  limited emulator:   %8.2f s, %d job(s), peak RSS %.1f MiB, peak spool %.1f MiB\n' "$split_s" "$split_jobs" \
  "$(echo "$split_rss / 1048576" | bc -l)" "$(echo "$split_spool / 1048576" | bc -l)"
echo "  split: $split_note"
printf '  ratio (cost of splitting): %.2f (target <= 1.5); RSS target <= 64 MiB\n' "$(echo "$split_s / $plain_s" | bc -l)"
