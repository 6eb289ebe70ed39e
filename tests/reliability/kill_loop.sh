#!/usr/bin/env bash
# The kill loop (issue 9): a 50-job pipeline, run by the `aquaduct` binary
# against a standalone `aquaduct emulate` with latency, is killed with SIGKILL
# at random moments KILLS times, resumed each time with the same --state-dir,
# then run to completion. Its sinks (sqlite and csv at once) are then judged.
#
# The pipeline (tests/support/reliability_pipeline.sh): 48 stateless plain jobs,
# one partitioned query (yearly UpdatedDate windows up to now: several AQuA jobs
# landing as one file) and one stateful job (partner + project, with deletions).
#
# Two forms:
#
# Still tenant (the default). The tenant is never mutated, so a clean run's rows
# are the tenant's rows, and the sinks are compared with a clean run's against a
# second emulator of the same seed and scale (docs/architecture.md, "Delivery
# guarantee"):
# - sqlite, every table: the same header and the same row multiset (sorted rows
#   hashed), stateful table included: a replayed full load replaces, a replayed
#   incremental load upserts by Id, so the replay converges.
# - csv, stateless and partitioned queries: the same file set, each file with the
#   same header and row multiset (a replay renames onto the same final name).
# - csv, the stateful query: a kill after the service completed the session's job
#   but before the cursor was saved moves the session on; the next run asks again
#   from the floor and gets the rows as an incremental file <query>.<start>.csv,
#   whose rows may overlap the full file's. So the guarantee is: every file has
#   the clean header and no row twice, the union of the query's files holds every
#   clean row (none lost) and nothing else (none invented).
#
# Live tenant (--churn RATE). One emulator whose tenant changes about RATE times a
# second all along (`aquaduct emulate --churn RATE:SEED`), so no run can be compared
# with another. An uninterrupted run of the same pipeline (a session of its own)
# gives the kill moments' span, and the final run of the killed pipeline, which
# started at S and ended at E, is judged by tests/support/live_oracle.py against the
# emulator's truth: every sqlite table and every csv file (the stateful query's csv
# files as one set) must keep the live-tenant promise (every row alive at S and not
# deleted before E is there; none twice; none deleted before S unless flagged; every
# version at least the one at S). The uninterrupted run is judged the same way. So
# that a silent oracle cannot pass, it must also find a row taken out of a table, a
# row made older, a row written twice and a row deleted before S put back.
#
# Three bugs this loop found are fixed and stay checked: a kill while the session's first
# job still ran on the service lost the stateful rows (tests/reliability/stateful_resume_test.sh
# reproduces it); a kill during an incremental file's write left its temporary for good; and
# a run killed just after committing the session's rows, resumed at once, had its next job
# start in the same second, so that job's empty Subscription.<start>.csv replaced the
# committed one (tests/engine/stateful_file_names_test.cpp reproduces it).
# Usage: kill_loop.sh [--churn RATE] AQUADUCT_BINARY [KILLS] [SEED]
set -u
churn=
if [ "${1:-}" = --churn ]; then churn=$2; shift 2; fi
bin=$(realpath "$1")
kills=${2:-20}
seed=${3:-$RANDOM}
work=$(mktemp -d)
trap 'stop_emulators; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"  # check, wait_for, start_emulator, finish
[ -z "${KEEP:-}" ] || echo "KEEP: the scratch directory stays: $work"
RANDOM=$seed
echo "kill loop: $kills kills, seed $seed${churn:+, a live tenant changing $churn times a second}" \
  "(rerun with: $0 ${churn:+--churn $churn }$1 $kills $seed)"

emulator_args=(--seed 11 --scale 30 --latency-ms 400)
if [ -z "$churn" ]; then
  start_emulator clean_url "${emulator_args[@]}" || exit 1
  start_emulator killed_url "${emulator_args[@]}" || exit 1
else  # one live tenant for both runs: its churn follows the loop's seed
  start_emulator killed_url "${emulator_args[@]}" --churn "$churn:$seed" || exit 1
  clean_url=$killed_url
fi

source "$(dirname "${BASH_SOURCE[0]}")/../support/reliability_pipeline.sh"  # reliability_pipeline, reliability_oracle_plan
# pipeline URL DIR PROJECT: the 50-job pipeline (on a live tenant the uninterrupted run
# has a session of its own)
pipeline() { reliability_pipeline "$1" "$2" 48 "$3"; }
oracle=$(dirname "${BASH_SOURCE[0]}")/../support/live_oracle.py
utc_second() { date -u +%Y-%m-%dT%H:%M:%SZ; }  # now, rounded down to its second
mutations() { curl -sf "$killed_url/_emulator/stats" | jq .mutations; }

run() {  # run DIR: one run of DIR's pipeline with DIR's state, in the background; pid in $run_pid
  "$bin" run "$1/pipeline.toml" --state-dir "$1/state" --progress never --log-level warning \
    >>"$1/run.log" 2>&1 &
  run_pid=$!
}

mkdir -p "$work/clean" "$work/killed"
pipeline "$clean_url" "$work/clean" "killloop${churn:+-uninterrupted}" >"$work/clean/pipeline.toml"
pipeline "$killed_url" "$work/killed" killloop >"$work/killed/pipeline.toml"

# The clean run (on a live tenant: the uninterrupted one). S and E of a run: the
# seconds it started and ended in, both rounded down (tests/support/live_oracle.py says why).
clean_name=$([ -n "$churn" ] && echo uninterrupted || echo clean)
clean_start=$(utc_second)
start=$(date +%s%N)
run "$work/clean"
wait "$run_pid"
clean_status=$?
clean_end=$(utc_second)
check "the $clean_name run exits 0" test "$clean_status" -eq 0
[ "$clean_status" -eq 0 ] || { tail -n 30 "$work/clean/run.log"; finish kill_loop; exit 1; }
clean_ms=$((($(date +%s%N) - start) / 1000000))
echo "$clean_name run: ${clean_ms} ms"

# KILLS kills that hit a running pipeline: a run that finished before its moment
# (possible when a resumed run has less to do) is not a kill and does not count.
killed=0 attempts=0
while [ "$killed" -lt "$kills" ] && [ "$attempts" -lt $((3 * kills)) ]; do
  attempts=$((attempts + 1))
  run "$work/killed"
  delay_ms=$((RANDOM % (clean_ms + 1)))  # the random moment: anywhere in a clean run's span
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -9 "$run_pid" 2>/dev/null
  wait "$run_pid" 2>/dev/null
  if [ $? -eq 137 ]; then  # 128 + SIGKILL: it was running (kill succeeds on a zombie too)
    killed=$((killed + 1))
    echo "kill $killed at ${delay_ms} ms"
  else
    echo "run $attempts had finished by ${delay_ms} ms: not counted"
  fi
done
check "$kills kills hit a running pipeline (in $attempts runs)" test "$killed" -eq "$kills"
if [ -n "$churn" ]; then
  # An account deleted before S, for certain (the churn deletes at random): the final
  # run's sinks must not hold it, and the oracle must see it when it is put back.
  gone=$(curl -sf -X POST "$killed_url/_emulator/mutate" -d '{"object":"Account","delete":1}' | jq -r '.deleted[0]')
  deleted_in=$(utc_second)
  later_second() { [[ $(utc_second) > $deleted_in ]]; }
  check "an account was deleted before the final run ($gone)" test -n "$gone" -a "$gone" != null
  check "the final run starts in a later second than the deletion" wait_for 5 later_second
  mutations_before=$(mutations)
fi
final_start=$(utc_second)
run "$work/killed"
wait "$run_pid"
final=$?
final_end=$(utc_second)
check "the final run exits 0" test "$final" -eq 0
[ "$final" -eq 0 ] || tail -n 30 "$work/killed/run.log"

leftovers=$(cd "$work/killed/out" && find . -type f ! -name '*.csv' ! -path './sync/*')
check "csv: no temporary file is left after the kills (found: $leftovers)" test -z "$leftovers"
# A killed incremental file's temporary (.<query>.<start>.csv.tmp-*): its name is never
# opened again (the next run's <start> differs), so the sink sweeps every dead writer's.
leftovers=$(cd "$work/killed/out" && find ./sync -type f ! -name '*.csv')
check "csv: no temporary file is left in the stateful job's directory (found: $leftovers)" test -z "$leftovers"

tables() { sqlite3 "$1" "select name from sqlite_master where type = 'table' and name not like '\_%' escape '\' order by name"; }
files() { (cd "$1/out" && find . -type f ! -path './sync/*' | LC_ALL=C sort); }
check "sqlite: the same tables as the $clean_name run" test "$(tables "$work/clean/sink.db")" = "$(tables "$work/killed/sink.db")"
check "sqlite: 50 tables" test "$(tables "$work/clean/sink.db" | wc -l)" -eq 50
check "csv: the same stateless files as the $clean_name run" test "$(files "$work/clean")" = "$(files "$work/killed")"
check "csv: 49 stateless files" test "$(files "$work/clean" | wc -l)" -eq 49
check "csv: the stateful query has its full file" test -f "$work/killed/out/sync/Subscription.csv"

# --- on a live tenant: the oracle judges both runs' sinks against the truth ---
judge() {  # judge DIR S E: every sink of DIR's pipeline against the truth from S to E
  reliability_oracle_plan "$1" >"$1/oracle.plan"
  python3 "$oracle" --truth "$killed_url" --start "$2" --end "$3" --plan "$1/oracle.plan" >"$1/oracle.out" 2>&1
  local status=$?
  grep -v ': ok: ' "$1/oracle.out"  # the broken promises and the tally
  return "$status"
}
# blind KIND ID ARGS...: the oracle, given ARGS (one sink that breaks the promise once),
# exits 1 and names ID among the rows of that KIND.
blind() {
  local kind=$1 id=$2 out status
  shift 2
  out=$(python3 "$oracle" --truth "$killed_url" --start "$final_start" --end "$final_end" "$@" 2>&1)
  status=$?
  [ "$status" -eq 1 ] && grep -F "row(s) $kind: " <<<"$out" | grep -qF "$id" || { echo "$out"; return 1; }
}
judge_live() {
  local mutations_after t f id
  mutations_after=$(mutations)
  echo "the tenant changed $mutations_after times since the emulator started," \
    "$((mutations_after - mutations_before)) of them while the final run ran ($final_start to $final_end)"
  check "the tenant changed while the final run ran" test "$((mutations_after - mutations_before))" -gt 0
  check "the uninterrupted run keeps the live-tenant promise in all 100 sinks ($clean_start to $clean_end)" \
    judge "$work/clean" "$clean_start" "$clean_end"
  check "after $kills kills, the final run keeps the live-tenant promise in all 100 sinks (S $final_start, E $final_end)" \
    judge "$work/killed" "$final_start" "$final_end"
  check "the oracle judged 100 sinks" test "$(grep -c . "$work/killed/oracle.plan")" -eq 100
  check "the deleted account is in no Account table" \
    test -z "$(for t in $(tables "$work/killed/sink.db"); do [[ $t == *__Account ]] &&
      sqlite3 "$work/killed/sink.db" "select 1 from \"$t\" where \"Account.Id\" = '$gone'"; done)"

  # The oracle is not blind: each copy below breaks the promise once, as a lost,
  # stale, doubled or resurrected row would, and it must say so.
  mkdir -p "$work/blind"
  id=$(alive_throughout Account)
  t=$(tables "$work/killed/sink.db" | grep -m 1 '__Account$')
  f=$(cd "$work/killed/out" && find . -name Account.csv | LC_ALL=C sort | head -n 1)
  local account=(--object Account --id Account.Id --updated Account.UpdatedDate)
  cp "$work/killed/sink.db" "$work/blind/lost.db"
  sqlite3 "$work/blind/lost.db" "delete from \"$t\" where \"Account.Id\" = '$id'"
  check "the oracle sees a row lost from $t ($id)" blind missing "$id" "${account[@]}" --sqlite "$work/blind/lost.db" --table "$t"
  cp "$work/killed/sink.db" "$work/blind/stale.db"
  sqlite3 "$work/blind/stale.db" "update \"$t\" set \"Account.UpdatedDate\" = '2000-01-01T00:00:00+0000' where \"Account.Id\" = '$id'"
  check "the oracle sees a row older than at S in $t ($id)" blind "older than at S" "$id" "${account[@]}" --sqlite "$work/blind/stale.db" --table "$t"
  csv_append "$work/killed/out/$f" "$id" "$id" >"$work/blind/twice.csv"
  check "the oracle sees a row twice in $f ($id)" blind twice "$id" "${account[@]}" --csv "$work/blind/twice.csv"
  csv_append "$work/killed/out/$f" "$id" "$gone" >"$work/blind/deleted.csv"
  check "the oracle sees a row deleted before S in $f ($gone)" blind "deleted before S" "$gone" "${account[@]}" --csv "$work/blind/deleted.csv"
  csv_append "$work/killed/out/$f" "$id" 2c92c0f8ffffffffffffffffffffffff >"$work/blind/invented.csv"
  check "the oracle sees a row the tenant never had in $f" blind "not of the tenant" 2c92c0f8ffffffffffffffffffffffff "${account[@]}" --csv "$work/blind/invented.csv"
  # The stateful files are one set whose newest record counts: a later file that flags
  # an alive subscription deleted takes it out of the set.
  id=$(alive_throughout Subscription)
  { head -n 1 "$work/killed/out/sync/Subscription.csv"; echo "true,$id,,,,2999-01-01T00:00:00+0000"; } \
    >"$work/blind/Subscription.29990101T000000Z.csv"
  check "the oracle sees a subscription flagged deleted by a newer file of the set ($id)" \
    blind missing "$id" --object Subscription --id Subscription.Id --updated Subscription.UpdatedDate \
    --deleted Subscription.IsDeleted --csv "$work/killed/out/sync"/Subscription*.csv "$work/blind/Subscription.29990101T000000Z.csv"
}
csv_append() {  # csv_append FILE ID NEW_ID: FILE, then its record of ID again under NEW_ID (Id first)
  python3 -c 'import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerows(rows + [[sys.argv[3]] + r[1:] for r in rows[1:] if r[0] == sys.argv[2]])' "$@"
}
alive_throughout() {  # alive_throughout OBJECT: an Id of OBJECT alive from S to E of the final run
  python3 "$oracle" --truth "$killed_url" --start "$final_start" --end "$final_end" --alive-throughout "$1"
}
if [ -n "$churn" ]; then
  judge_live
  finish kill_loop
  exit
fi

# --- sqlite: every table equal as a row multiset (the stateful one too) ---
table_digest() {  # table_digest DB TABLE: its header, row count and sorted-rows hash
  sqlite3 -header -csv "$1" "select * from \"$2\"" | head -n 1
  sqlite3 -csv "$1" "select * from \"$2\"" | LC_ALL=C sort | tee >(wc -l) | sha256sum
}
for t in $(tables "$work/clean/sink.db"); do
  clean=$(table_digest "$work/clean/sink.db" "$t")
  check "sqlite: $t holds the clean run's rows" test "$clean" = "$(table_digest "$work/killed/sink.db" "$t")"
  check "sqlite: $t is not empty" test "$(sqlite3 "$work/clean/sink.db" "select count(*) from \"$t\"")" -gt 0
done

# --- csv: stateless and partitioned files equal; the stateful query per the guarantee ---
file_digest() { head -n 1 "$1"; tail -n +2 "$1" | LC_ALL=C sort | tee >(wc -l) | sha256sum; }
for f in $(files "$work/clean"); do
  check "csv: $f holds the clean run's rows" test "$(file_digest "$work/clean/out/$f")" = "$(file_digest "$work/killed/out/$f")"
done

clean_sync=$work/clean/out/sync/Subscription.csv
check "csv: the clean stateful run wrote one full file" test "$(ls "$work/clean/out/sync")" = Subscription.csv
header=$(head -n 1 "$clean_sync")
tail -n +2 "$clean_sync" | LC_ALL=C sort >"$work/clean.sync"
: >"$work/killed.sync"
for f in "$work/killed/out/sync"/Subscription*.csv; do
  check "csv: $(basename "$f") has the clean header" test "$(head -n 1 "$f")" = "$header"
  check "csv: $(basename "$f") holds no row twice" test -z "$(tail -n +2 "$f" | LC_ALL=C sort | uniq -d)"
  tail -n +2 "$f" >>"$work/killed.sync"
done
LC_ALL=C sort -u -o "$work/killed.sync" "$work/killed.sync"
check "csv: the stateful files' rows are the clean rows, none lost, none invented" \
  cmp -s "$work/clean.sync" "$work/killed.sync"
echo "stateful csv files after the kills (data rows): $(cd "$work/killed/out/sync" &&
  for f in *; do printf '%s (%d) ' "$f" $(($(wc -l <"$f") - 1)); done)"
finish kill_loop
