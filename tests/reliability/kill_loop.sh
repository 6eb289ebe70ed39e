#!/usr/bin/env bash
# The kill loop (issue 9): a 50-job pipeline, run by the `aquaduct` binary
# against a standalone `aquaduct emulate` with latency, is killed with SIGKILL
# at random moments KILLS times, resumed each time with the same --state-dir,
# then run to completion. Its sinks (sqlite and csv at once) are compared with
# a clean run's against a second emulator of the same seed and scale.
#
# The pipeline: 48 stateless plain jobs, one partitioned query (yearly
# UpdatedDate windows: several AQuA jobs landing as one file) and one stateful
# job (partner + project). The tenant is never mutated, so a clean run's rows
# are the tenant's rows.
#
# What "equal to a clean run" means (docs/architecture.md, "Delivery guarantee"):
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
# Three bugs this loop found are fixed and stay checked: a kill while the session's first
# job still ran on the service lost the stateful rows (tests/reliability/stateful_resume_test.sh
# reproduces it); a kill during an incremental file's write left its temporary for good; and
# a run killed just after committing the session's rows, resumed at once, had its next job
# start in the same second, so that job's empty Subscription.<start>.csv replaced the
# committed one (tests/engine/stateful_file_names_test.cpp reproduces it).
# Usage: kill_loop.sh AQUADUCT_BINARY [KILLS] [SEED]
set -u
bin=$(realpath "$1")
kills=${2:-20}
seed=${3:-$RANDOM}
work=$(mktemp -d)
trap 'stop_emulators; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"  # check, wait_for, start_emulator, finish
[ -z "${KEEP:-}" ] || echo "KEEP: the scratch directory stays: $work"
RANDOM=$seed
echo "kill loop: $kills kills, seed $seed (rerun with: $0 $1 $kills $seed)"

emulator_args=(--seed 11 --scale 30 --latency-ms 400)
start_emulator clean_url "${emulator_args[@]}" || exit 1
start_emulator killed_url "${emulator_args[@]}" || exit 1

source "$(dirname "${BASH_SOURCE[0]}")/../support/reliability_pipeline.sh"  # reliability_pipeline
pipeline() { reliability_pipeline "$1" "$2" 48 killloop; }  # pipeline URL DIR: the 50-job pipeline

run() {  # run DIR: one run of DIR's pipeline with DIR's state, in the background; pid in $run_pid
  "$bin" run "$1/pipeline.toml" --state-dir "$1/state" --progress never --log-level warning \
    >>"$1/run.log" 2>&1 &
  run_pid=$!
}

mkdir -p "$work/clean" "$work/killed"
pipeline "$clean_url" "$work/clean" >"$work/clean/pipeline.toml"
pipeline "$killed_url" "$work/killed" >"$work/killed/pipeline.toml"

start=$(date +%s%N)
run "$work/clean"
wait "$run_pid"
clean_status=$?
check "the clean run exits 0" test "$clean_status" -eq 0
[ "$clean_status" -eq 0 ] || { tail -n 30 "$work/clean/run.log"; finish kill_loop; exit 1; }
clean_ms=$((($(date +%s%N) - start) / 1000000))
echo "clean run: ${clean_ms} ms"

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
run "$work/killed"
wait "$run_pid"
final=$?
check "the final run exits 0" test "$final" -eq 0
[ "$final" -eq 0 ] || tail -n 30 "$work/killed/run.log"

# --- sqlite: every table equal as a row multiset (the stateful one too) ---
tables() { sqlite3 "$1" "select name from sqlite_master where type = 'table' and name not like '\_%' escape '\' order by name"; }
table_digest() {  # table_digest DB TABLE: its header, row count and sorted-rows hash
  sqlite3 -header -csv "$1" "select * from \"$2\"" | head -n 1
  sqlite3 -csv "$1" "select * from \"$2\"" | LC_ALL=C sort | tee >(wc -l) | sha256sum
}
check "sqlite: the same tables as the clean run" test "$(tables "$work/clean/sink.db")" = "$(tables "$work/killed/sink.db")"
check "sqlite: 50 tables" test "$(tables "$work/clean/sink.db" | wc -l)" -eq 50
for t in $(tables "$work/clean/sink.db"); do
  clean=$(table_digest "$work/clean/sink.db" "$t")
  check "sqlite: $t holds the clean run's rows" test "$clean" = "$(table_digest "$work/killed/sink.db" "$t")"
  check "sqlite: $t is not empty" test "$(sqlite3 "$work/clean/sink.db" "select count(*) from \"$t\"")" -gt 0
done

# --- csv: stateless and partitioned files equal; the stateful query per the guarantee ---
files() { (cd "$1/out" && find . -type f ! -path './sync/*' | LC_ALL=C sort); }
file_digest() { head -n 1 "$1"; tail -n +2 "$1" | LC_ALL=C sort | tee >(wc -l) | sha256sum; }
check "csv: the same stateless files as the clean run" test "$(files "$work/clean")" = "$(files "$work/killed")"
check "csv: 49 stateless files" test "$(files "$work/clean" | wc -l)" -eq 49
for f in $(files "$work/clean"); do
  check "csv: $f holds the clean run's rows" test "$(file_digest "$work/clean/out/$f")" = "$(file_digest "$work/killed/out/$f")"
done

leftovers=$(cd "$work/killed/out" && find . -type f ! -name '*.csv' ! -path './sync/*')
check "csv: no temporary file is left after the kills (found: $leftovers)" test -z "$leftovers"
# A killed incremental file's temporary (.<query>.<start>.csv.tmp-*): its name is never
# opened again (the next run's <start> differs), so the sink sweeps every dead writer's.
leftovers=$(cd "$work/killed/out" && find ./sync -type f ! -name '*.csv')
check "csv: no temporary file is left in the stateful job's directory (found: $leftovers)" test -z "$leftovers"

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
