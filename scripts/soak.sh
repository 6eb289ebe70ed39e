#!/usr/bin/env bash
# The soak (issue 9, `make soak`, not in CI): continuous runs of a pipeline
# (stateless jobs, a partitioned query and a stateful session, into sqlite and
# csv) for MINUTES against one long-lived `aquaduct emulate` that injects faults
# at a low rate (503s, resets and stalls on a few per cent of requests). After
# every run it prints one line: the run's exit code, its peak RSS and most open
# fds (sampled every 0.1 s while it runs), and the emulator's RSS and open fds.
# At the end it compares the first and the last quarter of the runs: both must
# be flat (within 20 % for RSS, +8 for fds), else the script exits 1. The emulator's
# RSS is only reported: it keeps every job it served, as AQuA does.
# Usage: scripts/soak.sh AQUADUCT_BINARY [MINUTES] [CSV_OUT]
set -u
bin=$(realpath "$1")
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

{
  cat <<TOML
[source]
base_url = "$url"
idle_timeout_ms = 1000
[source.auth]
type = "basic"
username = "aquaduct"
password = "aquaduct"
[source.poll]
initial_ms = 50
max_ms = 300
[source.retry]
initial_ms = 50
max_ms = 500
TOML
  for i in $(seq -w 1 20); do
    printf '[[jobs]]\nname = "plain%s"\nformat = "gzip"\n[[jobs.queries]]\nname = "Account"\nquery = "select Id, Name, Balance from Account"\n' "$i"
  done
  cat <<TOML
[[jobs]]
name = "windows"
format = "gzip"
[[jobs.queries]]
name = "Invoice"
query = "select Id, AccountId, Amount, UpdatedDate from Invoice"
partition = { by = "UpdatedDate", from = "2000-01-01", to = "now", step = "P1095D" }
[[jobs]]
name = "sync"
version = "1.1"
partner = "soak"
project = "soak"
[[jobs.queries]]
name = "Subscription"
query = "select Id, Name, Status, UpdatedDate from Subscription"
[[sinks]]
type = "csv"
path = "$work/out"
[[sinks]]
type = "sqlite"
path = "$work/sink.db"
TOML
} >"$work/pipeline.toml"

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

echo "elapsed_s,run,exit,run_peak_rss_kb,run_max_fds,emulator_rss_kb,emulator_fds" | tee "$csv_out"
started=$(date +%s)
deadline=$((started + minutes * 60))
run=0
while [ "$(date +%s)" -lt "$deadline" ]; do
  run=$((run + 1))
  "$bin" run "$work/pipeline.toml" --state-dir "$work/state" --progress never --log-level error >>"$work/run.log" 2>&1 &
  pid=$!
  peak=0 most=0
  while kill -0 "$pid" 2>/dev/null; do
    r=$(rss_kb "$pid"); f=$(fds "$pid")
    [ "${r:-0}" -gt "$peak" ] && peak=$r
    [ "${f:-0}" -gt "$most" ] && most=$f
    sleep 0.1  # the sampling period, not a wait for an event
  done
  wait "$pid"
  status=$?
  # Some mutations between runs, so the stateful session has changes to fetch.
  curl -sf -X POST "$url/_emulator/mutate" -d '{"object":"Subscription","create":2,"update":5}' >/dev/null
  echo "$(($(date +%s) - started)),$run,$status,$peak,$most,$(rss_kb "$emulator_pid"),$(fds "$emulator_pid")" | tee -a "$csv_out"
done

# Flat: the last quarter's means against the first quarter's (the runs that
# met a fault and exited 1 count too: their memory must not grow either).
read -r first_rss last_rss first_fds last_fds emu_first emu_last emu_fds_first emu_fds_last < <(
  awk -F, 'NR > 1 { n++; rss[n] = $4; fd[n] = $5; erss[n] = $6; efd[n] = $7 }
    END { q = int(n / 4); if (q < 1) q = 1
          for (i = 1; i <= q; i++) { a += rss[i]; b += rss[n - q + i]; c += fd[i]; d += fd[n - q + i]
                                     e += erss[i]; f += erss[n - q + i]; g += efd[i]; h += efd[n - q + i] }
          printf "%d %d %d %d %d %d %d %d\n", a/q, b/q, c/q, d/q, e/q, f/q, g/q, h/q }' "$csv_out")
echo "runs: $run in $minutes min; failed runs: $(awk -F, 'NR > 1 && $3 != 0' "$csv_out" | wc -l)"
echo "run peak RSS (KiB), first quarter -> last quarter: $first_rss -> $last_rss; most fds: $first_fds -> $last_fds"
echo "emulator RSS (KiB): $emu_first -> $emu_last; open fds: $emu_fds_first -> $emu_fds_last"
check "the runs' RSS is flat" test "$last_rss" -le $((first_rss * 12 / 10 + 1024))
check "the runs' open fds are flat" test "$last_fds" -le $((first_fds + 8))
# The emulator's RSS is reported, not checked: like AQuA it keeps every job (and
# the tenant's mutations) for the file retention period (72 h), so it grows with
# the jobs it has served.
echo "faults the emulator injected: $(curl -sf "$url/_emulator/stats" | jq -c '{status_503: ([.requests[] | .["503"] // 0] | add)}') (resets and stalls are not counted by the emulator)"
echo "emulator jobs held: $(curl -sf "$url/_emulator/stats" | jq -c .jobs)"
check "the emulator's open fds are flat" test "$emu_fds_last" -le $((emu_fds_first + 8))
check "the last run converged (exit 0 once the faults are off)" bash -c \
  "curl -sf -X DELETE '$url/_emulator/faults' >/dev/null && '$bin' run '$work/pipeline.toml' --state-dir '$work/state' --progress never --log-level error"
finish soak
