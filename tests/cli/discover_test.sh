#!/usr/bin/env bash
# `aquaduct discover` against a real `aquaduct emulate`: it lists the tenant's objects
# with their exportable fields, deleted support and replication column, --object
# filters, --write writes a pipeline that validates and loads every object, as the
# emulator's truth oracle counts them, into SQLite. Robust to the emulator's realism
# (fields describe lists but export refuses, objects without deleted rows): what the
# probes find is checked against the emulator's own answers, not a fixed list.
# Usage: discover_test.sh AQUADUCT_BINARY
set -u
bin=$(realpath "$1")
work=$(mktemp -d)
trap 'stop_emulators; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"  # check, wait_for, start_emulator, finish

secret="disc-$RANDOM$RANDOM-$$"
cat >"$work/credentials.conf" <<JSON
{"client_id": "disc-client", "client_secret": "$secret", "access_key_id": "disc-key", "secret_access_key": "$secret"}
JSON
start_emulator url --scale 30 --latency-ms 20 --credentials "$work/credentials.conf" || exit 1
export DISC_ID=disc-client DISC_SECRET=$secret
mkdir -p "$work/conf" "$work/gen" "$work/elsewhere"
cat >"$work/conf/source.toml" <<TOML
[source]
base_url = "$url"
[source.auth]
type = "oauth"
client_id = "\${DISC_ID}"
client_secret = "\${DISC_SECRET}"
[source.poll]
initial_ms = 20
max_ms = 200
[[jobs]]
name = "x"
[[jobs.queries]]
name = "A"
query = "select Id from Account"
[[sinks]]
type = "sqlite"
path = "db/warehouse.db"
TOML

objects=$(curl -s -H "apiAccessKeyId: disc-key" -H "apiSecretAccessKey: $secret" "$url/v1/describe" | grep -o '<name>[^<]*</name>' | sed 's/<[^>]*>//g')
check "the emulator describes objects" test -n "$objects"

# --- every object, as JSON
(cd "$work/elsewhere" && "$bin" discover --config ../conf/source.toml --json >"$work/all.json" 2>"$work/all.err")
check "discover exits 0" test $? -eq 0
check "discover lists every object describe lists" \
  test "$(jq -r '.objects[].name' "$work/all.json" | sort)" = "$(echo "$objects" | sort)"
check "each object has fields with types, Id first" \
  jq_true '[.objects[] | select(.refused_object == null) | .fields[0].name == "Id" and all(.fields[]; .type != "")] | all' "$work/all.json"
check "Account: exportable fields with Zuora types and column types" \
  jq_true '.objects[] | select(.name == "Account") | any(.fields[]; .name == "Balance" and .type == "decimal" and .column_type == "decimal") and any(.fields[]; .name == "UpdatedDate" and .column_type == "datetime")' "$work/all.json"
check "Account supports deleted rows, incremental on UpdatedDate" \
  jq_true '.objects[] | select(.name == "Account") | .deleted == true and .replication_column == "UpdatedDate"' "$work/all.json"
check "AccountingPeriod has no deleted rows (90017)" \
  jq_true '.objects[] | select(.name == "AccountingPeriod") | .deleted == false' "$work/all.json"
check "no field both accepted and refused" \
  jq_true '[.objects[] | ([.fields[].name] - ([.fields[].name] - [.refused[].name])) | length == 0] | all' "$work/all.json"
check "the secret never shows" bash -c "! grep -qF '$secret' '$work/all.json' '$work/all.err'"

# What the probes found is what the service says: a refused field is refused by a job
# selecting it alone; every accepted field list is accepted (one job each, cancelled).
submit() {  # submit OBJECT SELECT [DELETED]: prints the submit answer
  local q
  q=$(jq -nc --arg o "$1" --arg s "$2" --arg d "${3:-}" \
    '{name: $o, query: ("select " + $s + " from " + $o + " limit 1"), type: "zoqlexport"} +
     (if $d == "" then {} else {deleted: {column: "IsDeleted", format: "Boolean", forceExport: true}} end)')
  curl -s -H "apiAccessKeyId: disc-key" -H "apiSecretAccessKey: $secret" -H 'Content-Type: application/json' -X POST "$url/v1/batch-query/" \
    -d "{\"format\":\"csv\",\"version\":\"1.1\",\"name\":\"check\",\"queries\":[$q]}"
}
refusals_ok=true accepts_ok=true deleted_ok=true
while IFS=$'\t' read -r o fields deleted refused; do  # (refused last: it may be empty)
  [ "$(submit "$o" "$fields" | jq -r .status)" != error ] || accepts_ok=false
  for f in $refused; do [ "$(submit "$o" "$f" | jq -r .errorCode)" = 90005 ] || refusals_ok=false; done
  code=$(submit "$o" Id deleted | jq -r '.errorCode // "accepted"')
  { [ "$deleted" = true ] && [ "$code" = accepted ]; } || { [ "$deleted" = false ] && [ "$code" = 90017 ]; } || { deleted_ok=false; echo "$o: deleted $deleted, the service: $code"; }
done < <(jq -r '.objects[] | select(.refused_object == null) | [.name, ([.fields[].name] | join(", ")), (.deleted | tostring), ([.refused[].name] | join(" "))] | @tsv' "$work/all.json")
check "every object's accepted fields are accepted by the export" $accepts_ok
check "every refused field is refused on its own (90005)" $refusals_ok
check "deleted support is what the service answers (accepted or 90017)" $deleted_ok

# --- for people, and --object
"$bin" discover --config "$work/conf/source.toml" --object account --object Invoice >"$work/two.txt" 2>&1
check "--object exits 0" test $? -eq 0
check "--object: exactly those objects, as tables" \
  test "$(grep -Ec '^(Account|Invoice)( \(.*\))?: [0-9]+ exportable fields?; deleted rows: (yes|no|unknown); ' "$work/two.txt")" -eq 2
check "--object: no other object" bash -c "! grep -q '^Contact' '$work/two.txt'"
check "the table names each field with its type" grep -Eq '^  Balance +decimal +decimal$' "$work/two.txt"
"$bin" discover --config "$work/conf/source.toml" --object Acount >/dev/null 2>"$work/unknown.err"
check "an unknown --object exits 2" test $? -eq 2
check "... naming it, with a did-you-mean" grep -q "Acount.*not described.*did you mean Account" "$work/unknown.err"

# --- a config with a [source] and sinks only, as a user writes one for discovery
sed '/^\[\[jobs\]\]/,/^query = /d' "$work/conf/source.toml" >"$work/conf/nojobs.toml"
check "the config without jobs has none" bash -c "! grep -q jobs '$work/conf/nojobs.toml'"
"$bin" discover --config "$work/conf/nojobs.toml" --object Account >"$work/nojobs.txt" 2>&1
check "discover takes a config without [[jobs]]" test $? -eq 0
check "... and lists the object" grep -q "Account" "$work/nojobs.txt"
"$bin" validate "$work/conf/nojobs.toml" >/dev/null 2>&1
check "a run still needs [[jobs]] (validate exits 2)" test $? -eq 2

# --- bad configs
printf '[source]\nbase_urll = "x"\n' >"$work/bad.toml"
"$bin" discover --config "$work/bad.toml" >"$work/bad.out" 2>&1
check "a bad --config exits 2" test $? -eq 2
check "... naming FILE:LINE:COL" grep -q "bad.toml:2:1: unknown key 'base_urll'" "$work/bad.out"
env -u DISC_SECRET "$bin" discover --config "$work/conf/source.toml" >/dev/null 2>"$work/env.err"
check "a missing variable exits 2" test $? -eq 2
DISC_SECRET=wrong-secret "$bin" discover --config "$work/conf/source.toml" >/dev/null 2>"$work/auth.err"
check "refused credentials exit 3" test $? -eq 3
check "... and the wrong secret never shows" bash -c "! grep -q wrong-secret '$work/auth.err'"

# --- --write, validate, run: every object loads into SQLite, as many rows as the truth
(cd "$work/elsewhere" && "$bin" discover --config ../conf/source.toml --write ../gen/p.toml >"$work/write.out" 2>"$work/write.err")
check "discover --write exits 0" test $? -eq 0
check "the written file keeps \${VAR} references, never the secret" \
  bash -c "grep -qF 'client_secret = '\"'\"'\${DISC_SECRET}'\"'\"'' '$work/gen/p.toml' && ! grep -qF '$secret' '$work/gen/p.toml'"
check "its sink path is rebased onto its own directory" grep -qF "path = '../conf/db/warehouse.db'" "$work/gen/p.toml"
refused_count=$(jq '[.objects[].refused | length] | add' "$work/all.json")
check "each refused field is left out with a comment ($refused_count)" \
  test "$(grep -c '^# left out: .* the export refused: ' "$work/gen/p.toml")" -eq "$refused_count"
"$bin" validate "$work/gen/p.toml" >"$work/validate.out" 2>&1
check "the written pipeline validates" test $? -eq 0
n=$(jq '[.objects[] | select(.refused_object == null and (.fields | length) > 0)] | length' "$work/all.json")
check "one query per object ($n)" grep -q "ok (1 jobs, $n queries, 1 sinks)" "$work/validate.out"
(cd "$work/elsewhere" && "$bin" run ../gen/p.toml --state-dir "$work/state" --report "$work/report.json" 2>"$work/run.err")
check "the written pipeline runs, exit 0" test $? -eq 0
db=$work/conf/db/warehouse.db
counts_ok=true
for o in $(jq -r '.objects[] | select(.refused_object == null and (.fields | length) > 0) | .name' "$work/all.json"); do
  got=$(sqlite3 "$db" "select count(*) from \"zuora__$o\"" 2>/dev/null)
  want=$(curl -s "$url/_emulator/truth?object=$o" | jq .live_count)
  [ "$got" = "$want" ] || { counts_ok=false; echo "$o: sqlite $got rows, truth $want"; }
done
check "every object loaded, as many rows as the emulator's truth" $counts_ok
check "the deleted column is there where supported" \
  test -n "$(sqlite3 "$db" "select name from pragma_table_info('zuora__Account') where name like '%IsDeleted'")"
check "no secret in the run's output" bash -c "! grep -qF '$secret' '$work/run.err' '$work/write.out' '$work/write.err'"

# --- without --config: the embedded emulator, a csv sink beside the file
(cd "$work/elsewhere" && "$bin" discover --object Account --write "$work/gen/plain.toml" >/dev/null 2>&1)
check "discover without --config exits 0" test $? -eq 0
check "... its pipeline validates" "$bin" validate "$work/gen/plain.toml"
"$bin" discover --help >"$work/help.txt"
check "discover --help has examples" grep -q "aquaduct discover --config pipeline.toml --write" "$work/help.txt"

finish discover
