#!/usr/bin/env bash
# A deletion inside a replayed window (found by the live-tenant oracle; fixed by the
# pending cursor, state_store::begin_commit, docs/architecture.md "Cursor trust").
#
# A stateful query into two sinks (sqlite, then csv). A row created after the cursor is
# committed to the first sink by a run that then fails (here the csv sink's commit fails:
# a directory stands on its final name; a kill between the commits, or between the last
# commit and the cursor's write, leaves the same state). The cursor stays where it was,
# as docs/architecture.md promises, and the next run asks again from it. But the row has
# been deleted in between: created and deleted inside the replayed window, it is not
# returned at all (aqua-contract.md §4.3, "Rows created and deleted inside one interval
# are not returned"), so nothing tells the first sink to delete it. sqlite keeps a row
# deleted before the run started, unflagged, for good (until a full load): the
# live-tenant promise's third point would be broken. The same would happen to a csv sink
# whose incremental file was committed before a kill that came ahead of the cursor's write.
# So a stateful commit records the cursor it is about to save as pending before the sinks
# commit; a run that finds a pending cursor reloads the query in full from the floor.
#
# Deterministic: no churn, no kill, no timing; every step is a request or a run.
# Usage: replayed_deletion_test.sh AQUADUCT_BINARY
set -u
bin=$(realpath "$1")
work=$(mktemp -d)
trap 'stop_emulators; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"  # check, wait_for, start_emulator, finish
oracle=$(dirname "${BASH_SOURCE[0]}")/../support/live_oracle.py

start_emulator url --seed 3 --scale 20 --latency-ms 200 || exit 1
cat >"$work/pipeline.toml" <<TOML
[source]
base_url = "$url"
[source.auth]
type = "basic"
username = "aquaduct"
password = "aquaduct"
[[jobs]]
name = "sync"
version = "1.1"
partner = "reliability"
project = "replay"
[[jobs.queries]]
name = "Subscription"
query = "select Id, Name, UpdatedDate from Subscription"
deleted = { column = "IsDeleted", format = "Boolean" }
[[sinks]]
type = "sqlite"
path = "$work/sink.db"
[[sinks]]
type = "csv"
path = "$work/out"
TOML
run() { "$bin" run "$work/pipeline.toml" --state-dir "$work/state" --progress never >>"$work/run.log" 2>&1; }
utc_second() { date -u +%Y-%m-%dT%H:%M:%SZ; }
held() { sqlite3 "$work/sink.db" "select count(*) from sync__Subscription where \"Subscription.Id\" = '$1'"; }

run
check "the first run (the full load) exits 0" test $? -eq 0
row=$(curl -sf -X POST "$url/_emulator/mutate" -d '{"object":"Subscription","create":1}' | jq -r '.created[0]')
check "a subscription is created after the cursor ($row)" test -n "$row" -a "$row" != null

# The csv sink cannot publish its incremental file: a directory stands on every name the
# next three minutes could give it (<query>.<job start>.csv), from a second before now.
for i in $(seq -1 180); do mkdir -p "$work/out/sync/Subscription.$(date -u -d "$i sec" +%Y%m%dT%H%M%SZ).csv/x"; done
run
second=$?
check "the second run fails at the csv sink's commit" test $second -ne 0
[ $second -ne 0 ] || tail -n 30 "$work/run.log"  # why not: its log
check "the second run committed the new row to sqlite before it failed" test "$(held "$row")" -eq 1
rm -rf "$work/out/sync"/Subscription.2*.csv

curl -sf -X POST "$url/_emulator/mutate" -d "{\"object\":\"Subscription\",\"delete_ids\":[\"$row\"]}" >/dev/null
deleted_in=$(utc_second)
later_second() { [[ $(utc_second) > $deleted_in ]]; }
check "the row is deleted before the third run starts" wait_for 5 later_second
start=$(utc_second)
run
check "the third run exits 0" test $? -eq 0
end=$(utc_second)
check "the third run says the second stopped inside its commit and loads in full" \
  grep -q "stopped between committing job .* and saving its cursor.*loads in full" "$work/run.log"

check "sqlite no longer holds the row deleted before the run (holds it: $(held "$row"))" test "$(held "$row")" -eq 0
check "sqlite keeps the live-tenant promise" python3 "$oracle" --truth "$url" --start "$start" --end "$end" \
  --object Subscription --id Subscription.Id --updated Subscription.UpdatedDate --deleted Subscription.IsDeleted \
  --sqlite "$work/sink.db" --table sync__Subscription
check "the csv files keep the live-tenant promise, as one set" python3 "$oracle" --truth "$url" --start "$start" --end "$end" \
  --object Subscription --id Subscription.Id --updated Subscription.UpdatedDate --deleted Subscription.IsDeleted \
  --csv "$work/out/sync"/Subscription*.csv
finish replayed_deletion
