#!/usr/bin/env bash
# A fleet under fire (issue 21, docs/fleet.md): three `aquaduct worker` processes share
# runs of the reliability pipeline (tests/support/reliability_pipeline.sh: 48 plain jobs,
# a partitioned query, a stateful session; csv and sqlite sinks) through one throwaway
# PostgreSQL state, against one `aquaduct emulate --churn` whose tenant changes all along.
# Every second or so a random worker is killed with -9 and started again, KILLS times in
# all, across as many runs as that takes (each run a new --run id, as a nightly Job would
# be). The pipeline's max_active_jobs is 4, far below the emulator's 50.
#
# Judged:
# - every run ends with every worker exiting 0 and `run-status` saying every unit completed;
# - the final run's sinks keep the live-tenant promise (tests/support/live_oracle.py, as the
#   kill loop judges `aquaduct run`): no row lost, none twice, none stale, none resurrected;
# - the emulator's peaks of jobs active at once (/_emulator/stats) never passed 4, stateless
#   or stateful: the limit is the fleet's, not each worker's; and no stateful session ever had
#   two jobs at once;
# - every sqlite table's commits carry the fleet's fencing tokens (_aquaduct_fences).
#
# Then the pause: one worker alone on a one-unit run is stopped (SIGSTOP) while its job runs
# on the service, past its lease; a second worker takes the unit over and completes it; the
# first is resumed. Its late work must commit nothing: the table holds the second worker's
# rows once, its fence is the second worker's token, and the first says it lost the unit.
# Usage: fleet_test.sh AQUADUCT_BINARY [KILLS] [SEED]
set -u
bin=$(realpath "$1")
kills=${2:-20}
seed=${3:-$RANDOM}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d /tmp/aquaduct-fleet-XXXXXX)
chmod 755 "$work"  # the PostgreSQL server runs as another user (scripts/dev-postgres.sh)
worker_pids=()
cleanup() {
  local p
  for p in "${worker_pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  kill -CONT "${paused:-0}" 2>/dev/null
  stop_emulators
  bash "$src/scripts/dev-postgres.sh" stop "$work/pg" --rm >/dev/null 2>&1
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
source "$src/tests/support/checks.sh"
source "$src/tests/support/reliability_pipeline.sh"
RANDOM=$seed
echo "fleet test: $kills kills, seed $seed (rerun with: $0 $1 $kills $seed)"

bash "$src/scripts/dev-postgres.sh" start "$work/pg" >/dev/null || exit 1
state="postgresql:///postgres?host=$work/pg&user=aquaduct"
start_emulator url --seed 11 --scale 30 --latency-ms 1500 --churn "30:$seed" || exit 1

mkdir -p "$work/fleet"
reliability_pipeline "$url" "$work/fleet" 48 fleet | sed 's/^max_active_jobs = 50$/max_active_jobs = 4/' \
  >"$work/fleet/pipeline.toml"
check "the pipeline asks for 4 active jobs at most" grep -qx 'max_active_jobs = 4' "$work/fleet/pipeline.toml"
utc_second() { date -u +%Y-%m-%dT%H:%M:%SZ; }

start_worker() {  # start_worker I RUN: worker I (0..2) of run RUN, in the background
  "$bin" worker "$work/fleet/pipeline.toml" --state "$state" --run "$2" --lease-s 3 --log-level warning \
    >>"$work/fleet/worker$1.log" 2>&1 &
  worker_pids[$1]=$!
}
status_of() { "$bin" run-status --state "$state" --run "$1" --json; }

# --- what a user gets wrong first: each a clear error and its exit code ---
expect() {  # expect CODE TEXT COMMAND...: COMMAND exits CODE and says TEXT on stderr
  local code=$1 text=$2 out
  shift 2
  out=$("$@" 2>&1 >/dev/null)
  [ $? -eq "$code" ] && grep -qF -- "$text" <<<"$out" || { echo "exit and stderr: $out"; return 1; }
}
p=$work/fleet/pipeline.toml
check "worker: no run id is a usage error" expect 2 "which run? give --run ID" "$bin" worker "$p" --state "$state"
check "worker: a state directory is a usage error" expect 2 "must be a postgres://" "$bin" worker "$p" --state "$work/dir" --run x
check "worker: an unreachable database exits 1, its password redacted" \
  expect 1 "postgresql://etl:[REDACTED]@127.0.0.1:1/db: cannot connect" "$bin" worker "$p" --run x \
  --state "postgresql://etl:s3cret@127.0.0.1:1/db"
check "worker: the password is in no message" test -z "$("$bin" worker "$p" --run x --state "postgresql://etl:s3cret@127.0.0.1:1/db" 2>&1 | grep s3cret)"
check "run-status: no such run exits 1" expect 1 "no run never-planned" "$bin" run-status --state "$state" --run never-planned

killed=0 run=0
while [ "$killed" -lt "$kills" ]; do
  run=$((run + 1))
  id="fleet-$seed-$run"
  [ "$run" -le 8 ] || { check "$kills kills within 8 runs" false; break; }
  run_start=$(utc_second)
  for i in 0 1 2; do start_worker "$i" "$id"; done
  if [ "$run" -eq 1 ]; then
    planned() { status_of "$id" >/dev/null 2>&1; [ $? -eq 75 ]; }
    check "run-status exits 75 while the run goes on" wait_for 60 planned
    # A worker given another pipeline under the same run id is refused.
    sed 's/^max_active_jobs = 4$/max_active_jobs = 5/' "$p" >"$work/other.toml"
    check "worker: another pipeline under the run's id is a usage error" \
      expect 2 "was planned from another pipeline" "$bin" worker "$work/other.toml" --state "$state" --run "$id"
  fi
  ended=()  # the exit code of a worker that ended by itself (the run was over for it)
  # Kill a random worker every 0.5 to 2 s and start it again, until the run has ended.
  while :; do
    sleep "$(printf '0.%03d' $((500 + RANDOM % 500)))"
    sleep "$((RANDOM % 2))"
    alive=()
    for i in 0 1 2; do [ -n "${ended[$i]:-}" ] || alive+=("$i"); done
    [ "${#alive[@]}" -gt 0 ] || break
    i=${alive[$((RANDOM % ${#alive[@]}))]}
    if [ "$killed" -ge "$kills" ]; then  # enough kills: let the run end
      wait "${worker_pids[$i]}"
      ended[$i]=$?
      continue
    fi
    kill -9 "${worker_pids[$i]}" 2>/dev/null
    wait "${worker_pids[$i]}" 2>/dev/null
    code=$?
    if [ "$code" -eq 137 ]; then  # 128 + SIGKILL: it was running
      killed=$((killed + 1))
      echo "run $run: kill $killed hit worker $i"
      start_worker "$i" "$id"
    else
      ended[$i]=$code
    fi
  done
  for i in 0 1 2; do
    check "run $run: worker $i exits 0 (exit ${ended[$i]})" test "${ended[$i]}" -eq 0
  done
  run_end=$(utc_second)
  status_of "$id" >"$work/fleet/status-$run.json"
  check "run $run: run-status says it ended with every unit completed" \
    jq_true '.finished and .exit_code == 0 and all(.units[]; .state == "completed")' "$work/fleet/status-$run.json"
  check "run $run: 50 units" jq_true '(.units | length) == 50' "$work/fleet/status-$run.json"
  echo "run $run: $(jq '[.units[] | select(.attempts > 1)] | length' "$work/fleet/status-$run.json") units" \
    "taken over or retried, $killed kills so far"
done
check "$kills kills hit a running worker" test "$killed" -ge "$kills"
if [ "$failed" -gt 0 ]; then
  tail -n 20 "$work/fleet"/worker*.log
fi

reliability_oracle_plan "$work/fleet" >"$work/fleet/oracle.plan"
python3 "$src/tests/support/live_oracle.py" --truth "$url" --start "$run_start" --end "$run_end" \
  --plan "$work/fleet/oracle.plan" >"$work/fleet/oracle.out" 2>&1
oracle=$?
grep -v ': ok: ' "$work/fleet/oracle.out"
check "the final run keeps the live-tenant promise in all 100 sinks ($run_start to $run_end)" test "$oracle" -eq 0
check "the oracle judged 100 sinks" test "$(grep -c . "$work/fleet/oracle.plan")" -eq 100

curl -sf "$url/_emulator/stats" >"$work/stats.json"
stateless=$(jq .peak_active_stateless_jobs "$work/stats.json")
stateful=$(jq .peak_active_stateful_jobs "$work/stats.json")
session=$(jq .peak_session_active_jobs "$work/stats.json")
echo "the emulator's peaks of jobs active at once: $stateless stateless, $stateful stateful, $session in one session"
# max_active_jobs is per kind, as the service counts them (interfaces.md §3): 4 stateless and 4 stateful.
check "the fleet never had more than 4 stateless jobs active at once (peak $stateless)" \
  jq_true '.peak_active_stateless_jobs >= 1 and .peak_active_stateless_jobs <= 4' "$work/stats.json"
check "the fleet never had more than 4 stateful jobs active at once (peak $stateful)" \
  jq_true '.peak_active_stateful_jobs >= 1 and .peak_active_stateful_jobs <= 4' "$work/stats.json"
check "no stateful session ever had two jobs at once (peak $session)" jq_true '.peak_session_active_jobs == 1' "$work/stats.json"
fences=$(sqlite3 "$work/fleet/sink.db" "select count(*) from _aquaduct_fences")
check "the sqlite sink holds a fence per unit ($fences)" test "$fences" -eq 50

# --- the pause: a late commit after a takeover is refused ---
mkdir -p "$work/pause"
cat >"$work/pause/pipeline.toml" <<TOML
[source]
base_url = "$url"
[source.auth]
type = "basic"
username = "aquaduct"
password = "aquaduct"
[source.poll]
initial_ms = 50
max_ms = 200
[[jobs]]
name = "accounts"
[[jobs.queries]]
name = "Account"
query = "select Id, Name, UpdatedDate from Account"
[[sinks]]
type = "sqlite"
path = "$work/pause/sink.db"
TOML
pause_worker() {  # pause_worker I: worker I of the one-unit run, in the background
  "$bin" worker "$work/pause/pipeline.toml" --state "$state" --run "pause-$seed" --lease-s 3 --log-level info \
    --health-dir "$work/pause/health$1" >"$work/pause/worker$1.log" 2>&1 &
  worker_pids[$1]=$!
}
running_by() {  # the unit is running, held by worker I's process
  status_of "pause-$seed" 2>/dev/null | jq -e --arg pid "pid ${worker_pids[$1]} " \
    '.units[0].state == "running" and (.units[0].owner | contains($pid))' >/dev/null
}
# Jobs of the emulator take 1.5 s (--latency-ms): the first worker is stopped while its job runs
# (the fleet's runs above have ended: the emulator's one active job is this worker's).
job_on_service() { curl -sf "$url/_emulator/stats" | jq -e '.active_jobs >= 1' >/dev/null; }
pause_worker 0
check "the first worker claims the unit" wait_for 60 running_by 0
check "the first worker's job runs on the service" wait_for 60 job_on_service
paused=${worker_pids[0]}
kill -STOP "$paused"
first_fence=$(status_of "pause-$seed" | jq '.units[0].fence')
pause_worker 1
check "a second worker takes the unit over once the paused one's lease expired" wait_for 60 running_by 1
wait "${worker_pids[1]}"
check "the second worker completes the run (exit $?)" test $? -eq 0
# Its probes' files (--health-dir): ready names it; the heartbeat holds the time of a renewal
# (it waited out the first one's 3 s lease, renewing every second).
check "--health-dir: ready names the worker" grep -q "^aquaduct pid ${worker_pids[1]} on " "$work/pause/health1/ready"
check "--health-dir: the heartbeat was touched by a renewal" \
  grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' "$work/pause/health1/heartbeat"
status_of "pause-$seed" >"$work/pause/status.json"
second_fence=$(jq '.units[0].fence' "$work/pause/status.json")
check "the unit completed on its second attempt, with a higher token ($first_fence, then $second_fence)" \
  jq_true --argjson f "$first_fence" '.units[0].state == "completed" and .units[0].attempts == 2 and .units[0].fence > $f' \
  "$work/pause/status.json"
rows_before=$(sqlite3 "$work/pause/sink.db" 'select count(*) from accounts__Account')
kill -CONT "$paused"
wait "$paused"
code=$?
paused=
check "the resumed worker exits 0: the run ended without it (exit $code)" test "$code" -eq 0
check "the resumed worker says it lost the unit and recorded nothing" \
  grep -qE "lost the unit's lease|fencing token $first_fence is stale" "$work/pause/worker0.log"
check "the resumed worker committed nothing: its commit never reached the sink" \
  test -z "$(grep -E 'committed [0-9]+ rows' "$work/pause/worker0.log")"
check "the table's fence is the second worker's token" \
  test "$(sqlite3 "$work/pause/sink.db" 'select token from _aquaduct_fences where unit = "accounts"')" = "$second_fence"
check "the table holds the second worker's rows once ($rows_before rows, none twice)" \
  test "$(sqlite3 "$work/pause/sink.db" 'select count(*) - count(distinct "Account.Id") from accounts__Account')" = 0
check "the table has not changed since the second worker's commit" \
  test "$(sqlite3 "$work/pause/sink.db" 'select count(*) from accounts__Account')" = "$rows_before"
[ "$failed" -eq 0 ] || { cat "$work/pause"/worker*.log; }

# --- SIGTERM (a node drain): the worker cancels its job and gives the unit back at once ---
"$bin" worker "$work/pause/pipeline.toml" --state "$state" --run "drain-$seed" --lease-s 30 --log-level info \
  >"$work/pause/drained.log" 2>&1 &
worker_pids[0]=$!
check "the drained worker's job runs on the service" wait_for 60 job_on_service
kill -TERM "${worker_pids[0]}"
wait "${worker_pids[0]}"
check "SIGTERM: the worker exits 130 (exit $?)" test $? -eq 130
status_of "drain-$seed" >"$work/pause/drained.json"
check "SIGTERM: the unit is pending again, for the next worker at once (lease 30 s)" \
  jq_true '.units[0].state == "pending" and .units[0].owner == null and .units[0].attempts == 1' "$work/pause/drained.json"
no_job_on_service() { curl -sf "$url/_emulator/stats" | jq -e '.active_jobs == 0' >/dev/null; }
check "SIGTERM: its job was cancelled on the service" wait_for 30 no_job_on_service
"$bin" worker "$work/pause/pipeline.toml" --state "$state" --run "drain-$seed" --log-level warning 2>>"$work/pause/drained.log"
check "the next worker completes the drained run (exit $?)" test $? -eq 0
finish fleet_test
