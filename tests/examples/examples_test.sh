#!/usr/bin/env bash
# Every pipeline in examples/ run as its header comment tells a user to run it, against
# a standalone `aquaduct emulate`; only base_url is pointed at that emulator's port.
# (examples/demo.toml and examples/emulator.toml are run by tests/cli/cli_test.sh.)
# Usage: examples_test.sh AQUADUCT_BINARY SOURCE_DIR
set -u
bin=$(realpath "$1")
src=$(realpath "$2")
work=$(mktemp -d)
chmod 755 "$work"  # as root, scripts/dev-postgres.sh runs the server as aquaduct-pg: it must reach $work/pg
pg_dir=$work/pg
trap 'kill "${EMU_PID:-}" 2>/dev/null; "$src/scripts/dev-postgres.sh" stop "$pg_dir" >/dev/null 2>&1; rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"  # check, wait_for, start_emulator, finish
py=/usr/bin/python3  # Debian's, with python3-yaml (scripts/install-deps.sh)


# Data rows of a CSV file (fields may hold line breaks, so not `wc -l`).
csv_rows() { "$py" -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline="", encoding="utf-8"))) - 1)' "$1"; }
# Column NAME of a CSV file, one value a line, sorted.
csv_column() {
  "$py" -c 'import csv,sys
r = csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8"))
print("\n".join(sorted(row[sys.argv[2]] for row in r)))' "$1" "$2"
}
# The sorted data rows of a CSV file, each re-encoded as a JSON list.
csv_sorted() {
  "$py" -c 'import csv,json,sys
rows = list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))
print(json.dumps(rows[0])); print("\n".join(sorted(json.dumps(r) for r in rows[1:])))' "$1"
}

coproc EMU { exec "$bin" emulate --port 0 --scale 200; }
EMU_PID=$EMU_PID
read -t 30 -r line <&"${EMU[0]}"
url=${line#listening on }
check "emulator started" test -n "$url"
export ZUORA_CLIENT_ID=aquaduct ZUORA_CLIENT_SECRET=aquaduct

# example NAME DIR: examples/NAME.toml copied into DIR with base_url set to the emulator.
example() {
  mkdir -p "$2"
  sed "s|^base_url = \"http://127.0.0.1:8080\"|base_url = \"$url\"|" "$src/examples/$1.toml" >"$2/$1.toml"
  grep -q "^base_url = \"$url\"" "$2/$1.toml"
}

# --- stateful incremental: a full load, a mutation, then only the changes -------------
d=$work/stateful
check "stateful example points at the emulator" example stateful_incremental "$d"
(cd "$d" && "$bin" run stateful_incremental.toml 2>run1.err)
check "stateful first run exits 0" test $? -eq 0
check "stateful first run is a full load" test -s "$d/out/sync/Account.csv"
full_rows=$(csv_rows "$d/out/sync/Account.csv")
check "stateful full load has every account" test "$full_rows" -ge 200
curl -s -X POST "$url/_emulator/mutate" -d '{"object":"Account","create":2,"update":3,"delete":1}' >"$d/mutation.json"
check "mutation answered" grep -q '"status":"ok"' "$d/mutation.json"
# the rows the second run must bring: every id created, updated or deleted, flagged deleted:
# the deleted ones (a row created and deleted between two runs is never seen: AQuA §4)
"$py" -c 'import json,sys
m = json.load(open(sys.argv[1]))
c, u, d = set(m["created"]), set(m["updated"]), set(m["deleted"])
open(sys.argv[2], "w").write("".join(i + "\n" for i in sorted((c | u | d) - (c & d))))
open(sys.argv[3], "w").write("".join(i + "\n" for i in sorted(d - c)))' "$d/mutation.json" "$d/expected.ids" "$d/expected.deleted"
check "mutation changed rows" test -s "$d/expected.ids"
before=$(date -u +%Y%m%dT%H%M%SZ)
(cd "$d" && "$bin" run stateful_incremental.toml 2>run2.err)
check "stateful second run exits 0" test $? -eq 0
after=$(date -u +%Y%m%dT%H%M%SZ)
incr=$(find "$d/out/sync" -regextype posix-extended -regex '.*/Account\.[0-9]{8}T[0-9]{6}Z\.csv')
check "second run wrote one incremental file Account.<start>.csv" test "$(echo "$incr" | grep -c .)" -eq 1
start=$(basename "$incr" .csv)
start=${start#Account.}
check "incremental file is named by the second job's start ($before <= $start <= $after)" \
  bash -c "[[ ! '$start' < '$before' && ! '$start' > '$after' ]]"
check "full file kept beside it" test -s "$d/out/sync/Account.csv"
csv_column "$incr" Account.Id >"$d/got.ids"
check "incremental rows are exactly the mutated accounts" diff "$d/expected.ids" "$d/got.ids"
"$py" -c 'import csv,sys
print("\n".join(sorted(r["Account.Id"] for r in csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")) if r["Account.IsDeleted"] == "true")))' "$incr" >"$d/got.deleted"
check "deleted accounts flagged IsDeleted=true, the others false" diff "$d/expected.deleted" "$d/got.deleted"
check "run report counts the incremental rows" grep -Eq "^sync +Account +$(wc -l <"$d/expected.ids") " "$d/run2.err"

# --- partitioned backfill: one file, exactly the rows of the unpartitioned query ----------
d=$work/partitioned
check "partitioned example points at the emulator" example partitioned_backfill "$d"
(cd "$d" && "$bin" run partitioned_backfill.toml --report report.json 2>run.err)
check "partitioned run exits 0" test $? -eq 0
windows=$(grep -o '"window":"[^"]*"' "$d/report.json" | wc -l)
check "partitioned windows each in the JSON report" test "$windows" -ge 2
check "partitioned windows are one line of the table" grep -Eq "^backfill \($windows windows\) +InvoiceItem .* completed$" "$d/run.err"
check "partitioned query landed as one file" test "$(ls "$d/out/backfill")" = "InvoiceItem.csv"
mkdir -p "$d/plain"
grep -v '^partition = ' "$d/partitioned_backfill.toml" >"$d/plain/plain.toml"
check "the plain variant has no partition" bash -c "! grep -q '^partition' '$d/plain/plain.toml'"
(cd "$d/plain" && "$bin" run plain.toml 2>run.err)
check "unpartitioned run exits 0" test $? -eq 0
check "the data set is not trivial" test "$(csv_rows "$d/plain/out/backfill/InvoiceItem.csv")" -ge 1000
csv_sorted "$d/out/backfill/InvoiceItem.csv" >"$d/partitioned.rows"
csv_sorted "$d/plain/out/backfill/InvoiceItem.csv" >"$d/plain.rows"
check "partitioned rows equal the unpartitioned query's rows" cmp -s "$d/partitioned.rows" "$d/plain.rows"

# --- PostgreSQL: scripts/dev-postgres.sh, the example, psql ---------------------------------
d=$work/postgres
check "postgres example points at the emulator" example postgres "$d"
AQUADUCT_PG_DSN=$("$src/scripts/dev-postgres.sh" start "$pg_dir" 2>"$work/pg-start.err")
check "dev-postgres.sh start prints a DSN" test "$AQUADUCT_PG_DSN" = "host=$pg_dir user=aquaduct dbname=postgres"
test -n "$AQUADUCT_PG_DSN" || cat "$work/pg-start.err"
export AQUADUCT_PG_DSN
(cd "$d" && "$bin" run postgres.toml 2>run.err)
check "postgres run exits 0" test $? -eq 0
# the same queries into CSV, to count against
mkdir -p "$d/csv"
sed -e 's|^type = "postgres"|type = "csv"|' -e 's|^dsn = .*|path = "out"|' "$d/postgres.toml" >"$d/csv/csv.toml"
(cd "$d/csv" && "$bin" run csv.toml 2>run.err)
check "csv variant exits 0" test $? -eq 0
for q in Account Invoice; do
  want=$(csv_rows "$d/csv/out/sync/$q.csv")
  got=$(psql "$AQUADUCT_PG_DSN" -XAtc "select count(*) from \"sync__$q\"")
  check "postgres table sync__$q has the CSV's $want rows (psql says $got)" test "$got" = "$want"
  check "sync__$q has rows" test "$want" -gt 0
  csv_column "$d/csv/out/sync/$q.csv" "$q.Id" >"$d/$q.csv.ids"
  psql "$AQUADUCT_PG_DSN" -XAtc "select \"$q.Id\" from \"sync__$q\"" | LC_ALL=C sort >"$d/$q.pg.ids"
  LC_ALL=C sort -o "$d/$q.csv.ids" "$d/$q.csv.ids"
  check "sync__$q holds the CSV's ids" cmp -s "$d/$q.csv.ids" "$d/$q.pg.ids"
done
(cd "$d" && "$bin" run postgres.toml 2>run2.err)
check "postgres rerun (a full load again) exits 0" test $? -eq 0
got=$(psql "$AQUADUCT_PG_DSN" -XAtc 'select count(*) from "sync__Account"')
check "a rerun replaces the table, no duplicates" test "$got" = "$(csv_rows "$d/csv/out/sync/Account.csv")"
"$src/scripts/dev-postgres.sh" stop "$pg_dir" --rm 2>/dev/null
check "dev-postgres.sh stop --rm removes DIR" test ! -e "$pg_dir"

# --- Singer piped into a target ---------------------------------------------------------
d=$work/singer
check "singer example points at the emulator" example singer "$d"
(cd "$d" && set -o pipefail && "$bin" run singer.toml 2>run.err | tee messages.singer |
  "$py" "$src/examples/singer/target_csv.py" --out target-out >target.stdout 2>target.err)
check "aquaduct | target_csv exits 0" test $? -eq 0
mkdir -p "$d/csv"
sed -e 's|^type = "singer"|type = "csv"\npath = "out"|' "$d/singer.toml" >"$d/csv/csv.toml"
(cd "$d/csv" && "$bin" run csv.toml 2>run.err)
check "csv variant of the singer pipeline exits 0" test $? -eq 0
for q in Account Payment; do
  want=$(csv_rows "$d/csv/out/billing/$q.csv")
  check "target wrote stream billing__$q with $want rows" test "$(csv_rows "$d/target-out/billing__$q.csv")" = "$want"
  # Singer carries datetimes typed, in RFC 3339 (+00:00 where the export writes +0000).
  check "target's billing__$q has the same rows as the csv sink" \
    cmp -s <(csv_sorted "$d/csv/out/billing/$q.csv" | sed -E 's/(T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2})([0-9]{2})/\1:\2/g') \
    <(csv_sorted "$d/target-out/billing__$q.csv")
  check "final STATE bookmarks billing__$q with $want rows" \
    "$py" -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["bookmarks"][sys.argv[2]]["rows"] == int(sys.argv[3])' \
    "$d/target-out/state.json" "billing__$q" "$want"
done
check "state file is the last STATE message" \
  "$py" -c 'import json,sys
last = [json.loads(l)["value"] for l in open(sys.argv[1]) if json.loads(l)["type"] == "STATE"][-1]
assert json.load(open(sys.argv[2])) == last' "$d/messages.singer" "$d/target-out/state.json"
check "target echoes the final STATE on stdout" cmp -s <("$py" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))' "$d/target-out/state.json") "$d/target.stdout"
check "stdout carries only Singer messages (logs on stderr)" \
  "$py" -c 'import json,sys; [json.loads(l)["type"] for l in open(sys.argv[1])]' "$d/messages.singer"
printf '{"type":"RECORD","stream":"s","record":{}}\n' | "$py" "$src/examples/singer/target_csv.py" --out "$d/bad" 2>"$d/bad.err"
check "target refuses a RECORD before its SCHEMA" test $? -eq 1
check "target names the input line" grep -q "stdin line 1: RECORD for stream 's' before its SCHEMA" "$d/bad.err"

# --- documentation-only examples: parsed and checked -------------------------------------
check "airflow DAG compiles" "$py" -c 'import sys; compile(open(sys.argv[1]).read(), sys.argv[1], "exec")' "$src/examples/airflow/aquaduct_dag.py"
check "airflow DAG fails exit codes 2 and 3 without retries" "$py" -c 'import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
no_retry = [n.value for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "NO_RETRY"]
assert set(ast.literal_eval(no_retry[0])) == {2, 3}' "$src/examples/airflow/aquaduct_dag.py"
check "kubernetes manifests parse, CronJob is Forbid" "$py" -c 'import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = {d["kind"]: d for d in docs}
cj = kinds["CronJob"]
assert cj["spec"]["concurrencyPolicy"] == "Forbid", cj["spec"]
pod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
c = pod["containers"][0]
assert "--report" in " ".join(c.get("args", []) + c.get("command", []))
assert any(v.get("persistentVolumeClaim") for v in pod["volumes"])
assert any("secretKeyRef" in e.get("valueFrom", {}) for e in c["env"])
assert "ConfigMap" in kinds and "PersistentVolumeClaim" in kinds' "$src/examples/kubernetes/cronjob.yaml"
# the pipeline embedded in the ConfigMap validates
"$py" -c 'import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ConfigMap":
        open(sys.argv[2], "w").write(d["data"]["pipeline.toml"])' "$src/examples/kubernetes/cronjob.yaml" "$work/k8s.toml"
ZUORA_CLIENT_ID=x ZUORA_CLIENT_SECRET=y "$bin" validate "$work/k8s.toml" >/dev/null 2>"$work/k8s.err"
check "the CronJob's pipeline validates" test $? -eq 0

# --- kubernetes/fleet: the manifests of a fleet of workers (tests/examples/k8s_fleet.py) ----
fleet=$src/examples/kubernetes/fleet
kf() { "$py" "$src/tests/examples/k8s_fleet.py" "$@"; }
check "fleet: every manifest parses, each object named" kf parse "$fleet"
check "fleet: a Secret, a ConfigMap and a Job that uses both" kf kinds "$fleet"
check "fleet: the Job is Indexed, parallelism == completions, FailJob on exits 2 and 3" kf job "$fleet"
check "fleet: the pods run worker --run \$(job name) --health-dir on an emptyDir" kf worker "$fleet"
check "fleet: readiness and liveness probes read the health dir" kf probes "$fleet"
check "fleet: every \${VAR} of the pipeline comes from the Secret's keys" kf env "$fleet"
check "fleet: the Secret holds placeholders only" kf secret "$fleet"
kf pipeline "$fleet" "$work/fleet.toml" >"$work/fleet.env"
check "fleet: the pipeline has several [[jobs]] and [state] url" test $? -eq 0
(set -a && source "$work/fleet.env" && "$bin" validate "$work/fleet.toml" >/dev/null 2>"$work/fleet.err")
check "the fleet's pipeline validates" test $? -eq 0
cat "$work/fleet.err"
# The worker takes every option the Job passes it.
"$bin" worker --help >"$work/worker.help" 2>&1
worker_options=$(kf options "$fleet")
check "fleet: the Job passes the worker options" test -n "$worker_options"
for opt in $worker_options; do
  check "aquaduct worker takes $opt" grep -q -- "$opt" "$work/worker.help"
done

# --- Meltano: examples/meltano, its settings against docs/singer.md's config keys ----------
meltano=$src/examples/meltano
mp() { "$py" "$src/tests/examples/meltano_project.py" "$@"; }
mp check "$meltano/meltano.yml" "$src/docs/singer.md" 2>"$work/meltano-check.err"
check "meltano.yml: a tap_zuora extractor with catalog/discover/state, every setting a config key of docs/singer.md, ./aquaduct-tap executable" \
  test $? -eq 0
cat "$work/meltano-check.err"
# What `meltano run tap-zuora ...` does, without Meltano: the config it would write from the
# settings (secrets from TAP_ZUORA_*), discovery through the wrapper, the select rules applied
# to the catalog, a sync through the wrapper (aquaduct on PATH, as the wrapper expects it).
d=$work/meltano
mkdir -p "$d"
TAP_ZUORA_USERNAME=aquaduct TAP_ZUORA_PASSWORD=aquaduct mp config "$meltano/meltano.yml" "$url" >"$d/config.json"
check "meltano.yml's settings make a config" test -s "$d/config.json"
tap() { (cd "$d" && PATH="$(dirname "$bin"):$PATH" "$meltano/aquaduct-tap" "$@"); }
tap --config config.json --discover >"$d/catalog.json" 2>"$d/discover.err"
check "the wrapper discovers with meltano.yml's config" test $? -eq 0
check "every select rule names a stream of the catalog" "$py" -c 'import json, sys, yaml, fnmatch
tap = [p for p in yaml.safe_load(open(sys.argv[1]))["plugins"]["extractors"] if p["name"] == "tap-zuora"][0]
streams = [s["tap_stream_id"] for s in json.load(open(sys.argv[2]))["streams"]]
for rule in tap["select"]:
    entity = rule.lstrip("!").partition(".")[0]
    assert fnmatch.filter(streams, entity), (rule, streams)' "$meltano/meltano.yml" "$d/catalog.json"
mp select "$meltano/meltano.yml" "$d/catalog.json" >"$d/selected.json"
tap --config config.json --catalog selected.json >"$d/messages.singer" 2>"$d/sync.err"
check "the wrapper syncs the selected streams" test $? -eq 0
cat "$d/discover.err" "$d/sync.err" | grep -i error
for o in Account Invoice; do
  curl -sf "$url/_emulator/truth?object=$o" >"$d/$o.truth"
  check "the sync's $o records are the tenant's live $o rows (and only deleted ones besides)" "$py" -c 'import json, sys
truth = json.load(open(sys.argv[2]))
recs = [m["record"] for m in map(json.loads, open(sys.argv[1])) if m["type"] == "RECORD" and m["stream"] == sys.argv[3]]
live = sorted(r["Id"] for r in recs if not r.get("Deleted"))
assert live == sorted(truth["live"]), (len(live), truth["live_count"])
assert {r["Id"] for r in recs if r.get("Deleted")} <= set(truth["deleted"])' "$d/messages.singer" "$d/$o.truth" "$o"
done
check "only the streams the rules select are synced" "$py" -c 'import json, sys
got = {m["stream"] for m in map(json.loads, open(sys.argv[1])) if m["type"] in ("SCHEMA", "RECORD")}
assert got == {"Account", "Invoice"}, got' "$d/messages.singer"
check "the last STATE bookmarks both streams in tap-zuora's layout" "$py" -c 'import json, sys
state = [m["value"] for m in map(json.loads, open(sys.argv[1])) if m["type"] == "STATE"][-1]
for o in ("Account", "Invoice"):
    b = state["bookmarks"][o]
    assert isinstance(b["version"], int) and b["UpdatedDate"].endswith("Z") and b["file_ids"] is None, b' "$d/messages.singer"

kill -TERM "$EMU_PID"
wait "$EMU_PID"
EMU_PID=
finish examples
