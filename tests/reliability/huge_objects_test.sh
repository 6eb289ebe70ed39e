#!/usr/bin/env bash
# Huge objects (issue 19): a plain `select * from InvoiceItem` finishes on a tenant
# whose service cannot export it in one piece. The emulator aborts every batch over
# 20,000 rows as out of processing time (90027) and 30,000 of the 100,000 rows share
# one UpdatedDate second (a bill run), so the engine must split the query in time
# windows, then cut that second into pages by Id, and still land one file and one
# table load with every row exactly once.
#   huge_objects_test.sh [--churn RATE] [--max-file-bytes N] AQUADUCT
# Without churn the sinks are compared with the same query on an emulator without
# limits (same seed, scale and burst); with --churn the tenant changes all along and
# the sinks are judged by the emulator's truth (tests/support/live_oracle.py), as
# tests/reliability/kill_loop.sh does. --max-file-bytes makes result files over N
# bytes answer 403 as well (small enough that the burst second does not fit in one).
set -u
churn="" max_file_bytes=""
while [ $# -gt 1 ]; do
  case $1 in
    --churn) churn=$2; shift 2 ;;
    --max-file-bytes) max_file_bytes=$2; shift 2 ;;
    *) break ;;
  esac
done
bin=$1
work=$(mktemp -d)
trap 'stop_emulators; [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"  # check, start_emulator, finish
oracle=$(dirname "${BASH_SOURCE[0]}")/../support/live_oracle.py
name="huge_objects${churn:+_churn}${max_file_bytes:+_403}"

tenant=(--seed 3 --scale 2000 --burst InvoiceItem:30000 --latency-ms 50)
limits=(--max-job-rows 20000)
[ -n "$max_file_bytes" ] && limits+=(--max-file-bytes "$max_file_bytes")
[ -n "$churn" ] && limits+=(--churn "$churn:7")
start_emulator limited_url "${tenant[@]}" "${limits[@]}" || exit 1
[ -z "$churn" ] && { start_emulator plain_url "${tenant[@]}" || exit 1; }

pipeline() {  # pipeline URL DIR
  cat <<TOML
[source]
base_url = "$1"
[source.auth]
type = "basic"
username = "aquaduct"
password = "aquaduct"
[source.poll]
initial_ms = 20
max_ms = 100
[[jobs]]
name = "items"
format = "gzip"
[[jobs.queries]]
name = "InvoiceItem"
query = "select * from InvoiceItem"
[[sinks]]
type = "csv"
path = "$2/out"
[[sinks]]
type = "sqlite"
path = "$2/sink.db"
TOML
}
utc_second() { date -u +%Y-%m-%dT%H:%M:%SZ; }

run() {  # run URL DIR: one run with a JSON report; its status in $status
  mkdir -p "$2"
  pipeline "$1" "$2" >"$2/pipeline.toml"
  "$bin" run "$2/pipeline.toml" --state-dir "$2/state" --progress never --log-level info \
    --report "$2/report.json" >"$2/run.log" 2>&1
  status=$?
}

start=$(utc_second)
run "$limited_url" "$work/split"
end=$(utc_second)
check "the split run exits 0" test "$status" -eq 0
[ "$status" -eq 0 ] || tail -n 30 "$work/split/run.log"
check "the report says the query was split, and why" \
  jq_true '[.summary[] | select(.query == "InvoiceItem") | .split | test("Id page.*why: ran out of processing time")] == [true]' \
  "$work/split/report.json"
check "the log shows the time splits and the Id pages" \
  grep -q "cutting the window into pages by Id" "$work/split/run.log"
check "one commit: one csv file, one table" test "$(find "$work/split/out" -type f | wc -l)" -eq 1
dry_run_says() { "$bin" run "$work/split/pipeline.toml" --dry-run 2>&1 | grep -q "InvoiceItem: may be split"; }
check "--dry-run says the query may be split" dry_run_says
sed 's|from InvoiceItem"|from InvoiceItem order by CreatedDate"|' "$work/split/pipeline.toml" >"$work/split/ordered.toml"
dry_run_refuses() {
  "$bin" run "$work/split/ordered.toml" --dry-run 2>&1 | grep -q "InvoiceItem: cannot be split if .*, as it has order by"
}
check "--dry-run says a query with order by cannot be split" dry_run_refuses

if [ -z "$churn" ]; then
  run "$plain_url" "$work/plain"
  check "the run on the emulator without limits exits 0" test "$status" -eq 0
  check "it needed no split" jq_true '[.summary[].split] == [null]' "$work/plain/report.json"
  compare() {
    python3 - "$work/plain/out/items/InvoiceItem.csv" "$work/split/out/items/InvoiceItem.csv" \
      "$work/split/sink.db" <<'PY'
import csv, gzip, io, sqlite3, sys
def rows_of(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8") as f:
        r = list(csv.reader(f))
    return r[0], r[1:]
ref_h, ref = rows_of(sys.argv[1])
got_h, got = rows_of(sys.argv[2])
ok = True
def say(msg):
    global ok
    ok = False
    print(msg)
if got_h != ref_h: say(f"csv header differs: {got_h[:3]} vs {ref_h[:3]}")
ids = [r[0] for r in got]
if len(set(ids)) != len(ids): say(f"csv: {len(ids) - len(set(ids))} Ids twice")
if sorted(got) != sorted(ref): say(f"csv: {len(got)} rows, the unlimited emulator's file {len(ref)}; they differ")
db = sqlite3.connect(sys.argv[3])
t = db.execute("select name from sqlite_master where type='table' and name not like '\\_%' escape '\\'").fetchall()
cols = [c[1] for c in db.execute(f'pragma table_info("{t[0][0]}")')]
idx = cols.index("InvoiceItem.Id")
table_ids = [r[idx] for r in db.execute(f'select * from "{t[0][0]}"')]
if len(set(table_ids)) != len(table_ids): say("sqlite: an Id twice")
if sorted(table_ids) != sorted(r[0] for r in ref): say(f"sqlite: {len(table_ids)} Ids, not the {len(ref)} of the reference")
print(f"{len(ref)} rows compared")
sys.exit(0 if ok else 1)
PY
  }
  check "every row exactly once, as the unlimited emulator exports them (csv and sqlite)" compare
else
  plan() {
    printf -- '--label sqlite --object InvoiceItem --sqlite %q --table items__InvoiceItem --id InvoiceItem.Id --updated InvoiceItem.UpdatedDate\n' "$work/split/sink.db"
    printf -- '--label csv --object InvoiceItem --csv %q --id InvoiceItem.Id --updated InvoiceItem.UpdatedDate\n' "$work/split/out/items/InvoiceItem.csv"
  }
  plan >"$work/oracle.plan"
  judged() { python3 "$oracle" --truth "$limited_url" --start "$start" --end "$end" --plan "$work/oracle.plan"; }
  check "the live-tenant promise holds in csv and sqlite (truth from $start to $end)" judged
  check "the tenant changed during the run" \
    test "$(curl -sf "$limited_url/_emulator/stats" | jq .mutations)" -gt 0
fi
finish "$name"
