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
# Usage: stateful_resume_test.sh AQUADUCT_BINARY
set -u
bin=$(realpath "$1")
work=$(mktemp -d)
trap 'stop_emulators; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"  # check, wait_for, start_emulator, finish

start_emulator url --seed 3 --scale 20 --latency-ms 3000 || exit 1
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
[[sinks]]
type = "sqlite"
path = "$work/sink.db"
TOML
# A clean run of the same query in a session of its own: the rows to expect.
sed -e 's/project = "resume"/project = "clean"/' -e "s|$work/sink.db|$work/clean.db|" "$work/pipeline.toml" >"$work/clean.toml"
"$bin" run "$work/clean.toml" --state-dir "$work/clean-state" --progress never >"$work/clean.log" 2>&1
check "the clean run exits 0" test $? -eq 0
expected=$(sqlite3 "$work/clean.db" 'select count(*) from sync__Subscription')

active_stateful() { test "$(curl -sf "$url/_emulator/stats" | jq .active_stateful)" -ge 1; }
"$bin" run "$work/pipeline.toml" --state-dir "$work/state" --progress never >"$work/run1.log" 2>&1 &
first=$!
check "the first run's job is running on the service" wait_for 30 active_stateful
kill -9 "$first"
wait "$first" 2>/dev/null
check "the killed run's job is still running when the next run starts" active_stateful

"$bin" run "$work/pipeline.toml" --state-dir "$work/state" --progress never >"$work/run2.log" 2>&1
check "the resumed run exits 0" test $? -eq 0
rows=$(sqlite3 "$work/sink.db" 'select count(*) from sync__Subscription' 2>/dev/null || echo 0)
echo "sync__Subscription holds $rows rows after the resume; a clean run: $expected"
check "the clean run has rows" test "$expected" -gt 0
check "no Subscription row is lost across the kill" test "$rows" = "$expected"
finish stateful_resume
