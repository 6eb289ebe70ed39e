#!/usr/bin/env bash
# The soak (issue 9, `make soak`, not in CI): MINUTES of continuous runs of one
# pipeline (stateless jobs over five objects, a partitioned query and a stateful
# session, into sqlite and csv; tests/support/reliability_pipeline.sh) against
# one long-lived `aquaduct emulate` that injects faults at a low rate (503s,
# resets and stalls on a few per cent of requests), with a few mutations of the
# tenant between runs.
#
# The runs happen in ONE long-lived process (tests/reliability/soak_runner: the
# library, as an embedder's service runs it), because a leak must accumulate to
# show: separate `aquaduct run` processes start afresh each time. After every run
# it prints one CSV line: exit code, resident and peak memory, open fds and
# threads; the script adds the emulator's RSS and fds. At the end it compares
# the first (second, for memory) and the last quarter of the runs: memory within 20 % (+1 MiB), open
# fds and threads no more than the first quarter's, the emulator's fds within
# +8; else it exits 1. The emulator's RSS is only reported: it keeps every job
# it served, as AQuA does. A last `aquaduct run` with the faults off must exit 0.
# Usage: scripts/soak.sh AQUADUCT_BINARY [MINUTES] [CSV_OUT]
#   (soak_runner is found in the same build directory: tests/reliability/soak_runner)
set -u
bin=$(realpath "$1")
runner=$(dirname "$bin")/tests/reliability/soak_runner
[ -x "$runner" ] || { echo "soak: no $runner (build the tree first: make build)" >&2; exit 2; }
minutes=${2:-30}
csv_out=${3:-soak.csv}
work=$(mktemp -d)
trap 'stop_emulators; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/../tests/support/checks.sh"  # start_emulator, check, finish

faults='{"rules":[
 {"path":"/v1/batch-query*","fault":"status","code":503,"retry_after_s":0,"probability":0.02},
 {"path":"/v1/file/*","fault":"reset_after_bytes","bytes":2000,"probability":0.03},
 {"path":"/v1/file/*","fault":"stall_ms","ms":1500,"after_bytes":500,"probability":0.01}]}'
start_emulator url --seed 5 --scale 100 --latency-ms 300 --faults "$faults" || exit 1
emulator_pid=${emulator_pids[0]}

source "$(dirname "${BASH_SOURCE[0]}")/../tests/support/reliability_pipeline.sh"  # reliability_pipeline
# Stalls of 1.5 s fail a download after 1 s of silence, then it is retried.
reliability_pipeline "$url" "$work" 20 soak 'idle_timeout_ms = 1000' \
  $'[source.retry]\ninitial_ms = 50\nmax_ms = 500' >"$work/pipeline.toml"

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

# Some mutations between runs, so the stateful session has changes to fetch.
mutate="curl -sf -X POST '$url/_emulator/mutate' -d '{\"object\":\"Subscription\",\"create\":2,\"update\":5}' >/dev/null"
echo "elapsed_s,run,exit,rss_kb,peak_rss_kb,fds,threads,emulator_rss_kb,emulator_fds" | tee "$csv_out"
# Each line as it comes (the runner flushes a line a run), its header skipped.
"$runner" "$work/pipeline.toml" "$work/state" "$minutes" "$mutate" 2>>"$work/run.log" | {
  read -r _
  while IFS= read -r line; do echo "$line,$(rss_kb "$emulator_pid"),$(fds "$emulator_pid")"; done
} | tee -a "$csv_out"

# Flat: the last quarter against the first (the runs that met a fault and exited
# 1 count too: their memory must not grow either). Memory against the second
# quarter: the first holds the warm-up, while malloc's arenas fill.
read -r runs failed first_rss last_rss first_fds last_fds first_threads last_threads emu_first emu_last emu_fds_first emu_fds_last < <(
  awk -F, 'NR > 1 { n++; rss[n] = $4; fd[n] = $6; th[n] = $7; erss[n] = $8; efd[n] = $9; bad += ($3 != 0) }
    function max(a, b) { return a > b ? a : b }
    END { q = int(n / 4); if (q < 1) q = 1
          for (i = 1; i <= q; i++) { a += rss[q + i]; b += rss[n - q + i]; c = max(c, fd[i]); d = max(d, fd[n - q + i])
                                     e = max(e, th[i]); f = max(f, th[n - q + i])
                                     g += erss[i]; h += erss[n - q + i]; k += efd[i]; l += efd[n - q + i] }
          printf "%d %d %d %d %d %d %d %d %d %d %d %d\n", n, bad, a/q, b/q, c, d, e, f, g/q, h/q, k/q, l/q }' "$csv_out")
echo "runs: $runs in $minutes min, in one process; runs that failed (a fault beyond the retries): $failed"
echo "resident memory after a run (KiB), second quarter -> last quarter (means): $first_rss -> $last_rss"
echo "open fds after a run, first quarter -> last quarter (most): $first_fds -> $last_fds; threads: $first_threads -> $last_threads"
echo "emulator RSS (KiB): $emu_first -> $emu_last; open fds: $emu_fds_first -> $emu_fds_last"
if [ "$failed" -gt 0 ]; then
  echo "why runs failed (error records, ids and times left out, most frequent first):"
  sed -E 's/^[0-9TZ:-]+ //; s/[0-9a-f]{32}/ID/g' "$work/run.log" | sort | uniq -c | sort -rn | head -n 8
fi
check "at least 4 runs" test "$runs" -ge 4
check "resident memory is flat" test "$last_rss" -le $((first_rss * 12 / 10 + 1024))
check "open fds are flat" test "$last_fds" -le "$first_fds"
check "threads are flat" test "$last_threads" -le "$first_threads"
# The emulator's RSS is reported, not checked: like AQuA it keeps every job (and
# the tenant's mutations) for the file retention period (72 h), so it grows with
# the jobs it has served.
echo "faults the emulator injected: $(curl -sf "$url/_emulator/stats" | jq -c '{status_503: ([.requests[] | .["503"] // 0] | add)}') (resets and stalls are not counted by the emulator)"
echo "emulator jobs held: $(curl -sf "$url/_emulator/stats" | jq -c .jobs)"
check "the emulator's open fds are flat" test "$emu_fds_last" -le $((emu_fds_first + 8))
check "the last run converged (exit 0 once the faults are off)" bash -c \
  "curl -sf -X DELETE '$url/_emulator/faults' >/dev/null && '$bin' run '$work/pipeline.toml' --state-dir '$work/state' --progress never --log-level error"
finish soak
