#!/usr/bin/env bash
# The kill loop's stateful failure, made deterministic: a run is killed (-9)
# while the session's first job is still running on the service, and the next
# run starts before that job completes. The guarantee (docs/architecture.md,
# "Delivery guarantee") says no row the service exported is skipped across runs:
# the resumed run must deliver every Subscription row.
#
# It once lost them: the resumed run, having no cursor, asked GET
# /jobs/partner/P/project/Q for the session's last completed job, got 404 (the killed
# run's job was still running), concluded the session was brand new and submitted
# WITHOUT incrementalTime. The service queued that job behind the killed run's one,
# which completed first, so the new job came back incremental from that job's
# transaction start: 0 rows, committed, cursor saved. Now a job asked for a full load
# that comes back incremental is submitted again from the floor (job_runner.cpp).
#
# Two forms. On a still tenant (the default) the resumed run's sqlite table must hold
# as many rows as a clean run's in a session of its own. On a live tenant (--churn
# RATE: the emulator changes about RATE rows a second all along, deletions included)
# no run can be compared with another: the query also asks for deletions and lands in a
# csv sink too, and the resumed run, which started at S and ended at E, is judged by
# tests/support/live_oracle.py against the emulator's truth (the live-tenant promise of
# docs/architecture.md, "Delivery guarantee"), the sqlite table and the csv files (as
# one set) each; the oracle must also find a row taken out of the table.
# Usage: stateful_resume_test.sh [--churn RATE] AQUADUCT_BINARY
set -u
churn=
if [ "${1:-}" = --churn ]; then churn=$2; shift 2; fi
bin=$(realpath "$1")
work=$(mktemp -d)
trap 'stop_emulators; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"  # check, wait_for, start_emulator, finish

start_emulator url --seed 3 --scale 20 --latency-ms 3000 ${churn:+--churn "$churn:3"} || exit 1
live_query= live_sink=  # on a live tenant: deletions, and a csv sink beside sqlite
if [ -n "$churn" ]; then
  live_query='deleted = { column = "IsDeleted", format = "Boolean" }'
  live_sink=$(printf '[[sinks]]\ntype = "csv"\npath = "%s"' "$work/out")
fi
cat >"$work/pipeline.toml" <<TOML
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
name = "sync"
version = "1.1"
partner = "reliability"
project = "resume"
[[jobs.queries]]
name = "Subscription"
query = "select Id, Name, UpdatedDate from Subscription"
$live_query
[[sinks]]
type = "sqlite"
path = "$work/sink.db"
$live_sink
TOML
if [ -z "$churn" ]; then
  # A clean run of the same query in a session of its own: the rows to expect.
  sed -e 's/project = "resume"/project = "clean"/' -e "s|$work/sink.db|$work/clean.db|" "$work/pipeline.toml" >"$work/clean.toml"
  "$bin" run "$work/clean.toml" --state-dir "$work/clean-state" --progress never >"$work/clean.log" 2>&1
  check "the clean run exits 0" test $? -eq 0
  expected=$(sqlite3 "$work/clean.db" 'select count(*) from sync__Subscription')
fi

active_stateful() { test "$(curl -sf "$url/_emulator/stats" | jq .active_stateful)" -ge 1; }
"$bin" run "$work/pipeline.toml" --state-dir "$work/state" --progress never >"$work/run1.log" 2>&1 &
first=$!
check "the first run's job is running on the service" wait_for 30 active_stateful
kill -9 "$first"
wait "$first" 2>/dev/null
check "the killed run's job is still running when the next run starts" active_stateful

utc_second() { date -u +%Y-%m-%dT%H:%M:%SZ; }  # now, rounded down to its second (live_oracle.py says why)
mutations() { curl -sf "$url/_emulator/stats" | jq .mutations; }
[ -z "$churn" ] || mutations_before=$(mutations)
start=$(utc_second)
"$bin" run "$work/pipeline.toml" --state-dir "$work/state" --progress never >"$work/run2.log" 2>&1
check "the resumed run exits 0" test $? -eq 0
end=$(utc_second)
if [ -z "$churn" ]; then
  rows=$(sqlite3 "$work/sink.db" 'select count(*) from sync__Subscription' 2>/dev/null || echo 0)
  echo "sync__Subscription holds $rows rows after the resume; a clean run: $expected"
  check "the clean run has rows" test "$expected" -gt 0
  check "no Subscription row is lost across the kill" test "$rows" = "$expected"
  finish stateful_resume
  exit
fi

changed=$(($(mutations) - mutations_before))
echo "the tenant changed $changed times while the resumed run ran ($start to $end)"
check "the tenant changed while the resumed run ran" test "$changed" -gt 0
live_oracle() { python3 "$(dirname "${BASH_SOURCE[0]}")/../support/live_oracle.py" --truth "$url" --start "$start" --end "$end" "$@"; }
oracle() {  # oracle SINK...: the oracle on the resumed run's Subscription rows in SINK
  live_oracle --object Subscription --id Subscription.Id --updated Subscription.UpdatedDate --deleted Subscription.IsDeleted "$@"
}
check "sqlite: sync__Subscription keeps the live-tenant promise" oracle --sqlite "$work/sink.db" --table sync__Subscription
check "csv: the Subscription files keep the live-tenant promise, as one set ($(cd "$work/out/sync" && echo *))" \
  oracle --csv "$work/out/sync"/Subscription*.csv
# The oracle is not blind: a row taken out of the table (one alive all along) is missing.
lost=$(live_oracle --alive-throughout Subscription)
cp "$work/sink.db" "$work/lost.db"
sqlite3 "$work/lost.db" "delete from sync__Subscription where \"Subscription.Id\" = '$lost'"
oracle --sqlite "$work/lost.db" --table sync__Subscription >"$work/lost.out"
check "the oracle sees a row lost from the table ($lost)" test $? -eq 1
check "the oracle names the lost row" grep -q "row(s) missing: $lost" "$work/lost.out"
finish stateful_resume
