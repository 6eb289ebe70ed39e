#!/usr/bin/env bash
# The aquaduct command as a user runs it: exit codes, messages, files.
# Usage: cli_test.sh AQUADUCT_BINARY SOURCE_DIR
set -u
bin=$(realpath "$1")
src=$(realpath "$2")
work=$(mktemp -d)
trap 'kill "${EMU_PID:-}" 2>/dev/null; stop_emulators; rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"  # check, wait_for, start_emulator, finish


# --version and help
check "version" bash -c "'$bin' --version | grep -qx 'aquaduct [0-9.]*'"
check "help lists commands" bash -c "'$bin' --help | grep -q 'emulate'"
"$bin" frobnicate >/dev/null 2>&1; check "unknown command is usage error" test $? -eq 2

# validate
check "demo validates" "$bin" validate "$src/examples/demo.toml"
cat >"$work/bad.toml" <<'TOML'
[source]
base_urll = "http://127.0.0.1:1"
[[jobs]]
name = "billing"
format = "parquet"
[[jobs.queries]]
name = "Account"
query = "select Id from Account"
[[sinks]]
type = "csv"
TOML
"$bin" validate "$work/bad.toml" >"$work/validate.out" 2>&1
check "bad config exits 2" test $? -eq 2
check "unknown key names file:line:col" grep -q "bad.toml:2:1: unknown key 'base_urll' in \[source\]" "$work/validate.out"
check "all problems reported" grep -q "3 problems found" "$work/validate.out"
"$bin" run "$work/bad.toml" >/dev/null 2>&1
check "run with a bad config exits 2" test $? -eq 2

# the demo, copied to a directory of its own and run from another one: its
# path = "out" is relative to the pipeline file, not to the working directory
mkdir -p "$work/demo" "$work/elsewhere"
cp "$src/examples/demo.toml" "$work/demo/demo.toml"
(cd "$work/elsewhere" && "$bin" run ../demo/demo.toml --state-dir "$work/state" --report "$work/report.json" 2>"$work/demo.err")
check "demo exits 0" test $? -eq 0
check "demo wrote the CSV beside the pipeline file" test -s "$work/demo/out/billing/Account.csv"
check "demo wrote nothing in the working directory" test -z "$(ls -A "$work/elsewhere")"
ln -s demo/out "$work/out"  # the checks below read $work/out
check "no temporary files left" test "$(find "$work/out/" -name '.*' | wc -l)" -eq 0
check "demo header" bash -c "head -1 '$work/out/billing/Account.csv' | grep -qx 'Account.Id,Account.AccountNumber,Account.Name,Account.Balance,Account.Currency,Account.Status,Account.CreatedDate,Account.UpdatedDate'"
check "run report table on stderr" grep -q "^billing  *Account  *200 " "$work/demo.err"
check "the table's byte columns say which bytes" grep -Eq "^job  +query  +rows  +downloaded +decoded +files +seconds  +status$" "$work/demo.err"
check "the JSON report's summary counts both kinds of bytes, as the table" \
  jq_true '[.summary[] | has("bytes_downloaded") and has("bytes_decoded")] | all and length > 0' "$work/report.json"
# The demo is gzip: the table's downloaded (compressed) column is below its decoded one,
# and both equal the JSON report's figures for the line.
read -r t_down t_dec < <(awk '$1 == "billing" && $2 == "Account" {print $4, $5}' "$work/demo.err")
check "the table's downloaded and decoded bytes are the JSON report's" \
  jq_true --argjson d "${t_down:-0}" --argjson c "${t_dec:-0}" \
  '.summary[] | select(.job == "billing" and .query == "Account") | .bytes_downloaded == $d and .bytes_decoded == $c and $d < $c' "$work/report.json"
l_bytes=$(sed -n 's/.* job=billing .*query=Account .*: committed [0-9]* rows from [0-9]* file(s), \([0-9]*\) bytes downloaded, \([0-9]*\) bytes decoded$/\1 \2/p' "$work/demo.err")
check "the commit log record names both byte counts, as the table" test "$l_bytes" = "$t_down $t_dec"

# --log-format json: every stderr line is one JSON object, the run report included
# (a record whose "report" is the --report file's object), and so are config problems.
json_lines() {
  python3 -c 'import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "no lines"
for n, line in enumerate(lines, 1):
    try:
        assert isinstance(json.loads(line), dict)
    except Exception as e:
        sys.exit("line %d is not a JSON object (%s): %s" % (n, e, line))' "$1"
}
"$bin" run "$work/demo/demo.toml" --state-dir "$work/state-json" --log-format json --report "$work/report-json.json" 2>"$work/demo-json.err"
check "--log-format json: the demo exits 0" test $? -eq 0
check "--log-format json: every stderr line is a JSON object" json_lines "$work/demo-json.err"
check "--log-format json: the last line is the run report" \
  jq_true -s --slurpfile file "$work/report-json.json" \
  '.[-1] | .level == "info" and (.msg | startswith("run ok: ")) and .report.status == "ok" and (.report.summary | length) == ($file[0].summary | length)' "$work/demo-json.err"
check "--log-format json: no table" bash -c "! grep -q '^job  ' '$work/demo-json.err'"
"$bin" run "$work/bad.toml" --log-format json 2>"$work/bad-json.err"
check "--log-format json: a bad config still exits 2" test $? -eq 2
check "--log-format json: config problems are JSON error records" json_lines "$work/bad-json.err"
check "--log-format json: ... naming FILE:LINE:COL" \
  jq_true -s 'any(.level == "error" and (.msg | test("bad.toml:2:1: unknown key .base_urll.")))' "$work/bad-json.err"
check "JSON report written" grep -q '"status":"ok"' "$work/report.json"
check "demo's partitioned query landed as one file" test "$(ls "$work/out/invoices")" = "Invoice.csv"
windows=$(grep -o '"window":"[^"]*"' "$work/report.json" | wc -l)
check "demo's windows each in the JSON report" test "$windows" -ge 2
check "the JSON summary adds the windows up" jq_true --argjson n "$windows" \
  '([.jobs[] | select(.window != null) | .queries[].rows] | add) as $rows | .summary[] | select(.job == "invoices") | .windows == $n and .rows == $rows and .status == "completed"' "$work/report.json"
check "demo's windows are one line of the table" grep -q "^invoices ($windows windows)  *Invoice  *[0-9]* .* completed$" "$work/demo.err"
check "demo saved its cursors in --state-dir" test -n "$(ls "$work/state"/sync.Subscription.*.json)"
check "demo's stateful cursor has a position" grep -q '"mode":"stateful","position":"20' "$work/state"/sync.Subscription.*.json
check "demo's cursor names its source and sink" grep -q '"source":"http://127.0.0.1:[0-9]* as client aquaduct","destinations":\["csv:/' "$work/state"/sync.Subscription.*.json

# state show | reset
"$bin" state show --state-dir "$work/state" >"$work/state.out" 2>&1
check "state show exits 0" test $? -eq 0
check "state show lists the demo's stateful cursor" grep -q "^sync / Subscription: stateful at 20[0-9-]*T[0-9:]*Z, [0-9]* rows, committed 20" "$work/state.out"
check "state show says where it was read from" grep -q "^  from http://127.0.0.1:[0-9]* as client aquaduct$" "$work/state.out"
check "state show --json is the cursor file's JSON" jq_true -s 'map(select(.job == "sync")) | length == 1 and .[0].mode == "stateful"' <("$bin" state show --state-dir "$work/state" --json)
"$bin" state show >"$work/state-noplace.out" 2>&1
check "state without --config or --state-dir is a usage error" test $? -eq 2
"$bin" state reset --state-dir "$work/state" >"$work/reset-all.out" 2>&1
check "state reset without JOB or --all is a usage error" test $? -eq 2
"$bin" state reset sync Subscription --state-dir "$work/state" >"$work/reset.out" 2>&1
check "state reset exits 0" test $? -eq 0
check "state reset says what it removed" grep -qx "reset job sync, query Subscription: its next run loads it in full" "$work/reset.out"
check "the reset cursor is gone" test -z "$(ls "$work/state"/sync.Subscription.*.json 2>/dev/null)"
"$bin" state reset sync Subscription --state-dir "$work/state" >/dev/null 2>&1
check "resetting a cursor that is not there exits 1" test $? -eq 1

# a standalone emulator, and a pipeline pointed at it
coproc EMU { exec "$bin" emulate --port 0 --latency-ms 50 --scale 50 \
  --faults '{"rules":[{"path":"/v1/batch-query*","fault":"job_abort","message":"java.lang.RuntimeException: You must specify a select.","times":1}]}'; }
EMU_PID=$EMU_PID
read -t 30 -r line <&"${EMU[0]}"
check "emulate prints its address first" bash -c "[[ '$line' =~ ^listening\ on\ http://127\.0\.0\.1:[0-9]+$ ]]"
url=${line#listening on }
# one job of one query: the fault aborts the first job submitted, which must be this one
cat >"$work/remote.toml" <<TOML
[source]
base_url = "$url"
[source.auth]
type = "api_key"
access_key_id = "aquaduct"
secret_access_key = "aquaduct"
[source.poll]
initial_ms = 50
max_ms = 500
[[jobs]]
name = "billing"
[[jobs.queries]]
name = "Account"
query = "select Id, Name from Account"
[[sinks]]
type = "csv"
path = "$work/out2"
TOML
"$bin" run "$work/remote.toml" 2>"$work/abort.err"
check "aborted job exits 1" test $? -eq 1
check "aborted job shows the service's message" grep -q "You must specify a select." "$work/abort.err"
check "aborted job wrote nothing" test ! -e "$work/out2/billing/Account.csv"
"$bin" run "$work/remote.toml" 2>"$work/ok.err"
check "second run against the emulator exits 0" test $? -eq 0
check "second run wrote 50 rows" test "$(wc -l <"$work/out2/billing/Account.csv")" -ge 51
# examples/emulator.toml as the README's quickstart runs it, pointed at this emulator's port
sed -e "s|^base_url = .*|base_url = \"$url\"|" -e "s|^path = \"out\"|path = \"$work/out3\"|" \
  "$src/examples/emulator.toml" >"$work/quickstart.toml"
ZUORA_CLIENT_ID=aquaduct ZUORA_CLIENT_SECRET=aquaduct "$bin" run "$work/quickstart.toml" 2>"$work/qs.err"
check "quickstart example exits 0" test $? -eq 0
check "quickstart wrote both queries" test -s "$work/out3/billing/Account.csv" -a -s "$work/out3/billing/AccountSample.csv"
check "quickstart sample has 25 rows" test "$(wc -l <"$work/out3/billing/AccountSample.csv")" -ge 26
env -u ZUORA_CLIENT_ID ZUORA_CLIENT_SECRET=x "$bin" run "$work/quickstart.toml" 2>"$work/qs-env.err"
check "missing secret variable exits 2" test $? -eq 2
check "missing variable is named, with its position" grep -q "quickstart.toml:10:.*environment variable ZUORA_CLIENT_ID is not set" "$work/qs-env.err"
ZUORA_CLIENT_ID=aquaduct ZUORA_CLIENT_SECRET=not-the-secret "$bin" run "$work/quickstart.toml" 2>"$work/qs-auth.err"
check "refused credentials exit 3" test $? -eq 3
check "the secret never appears in the output" bash -c "! grep -q not-the-secret '$work/qs-auth.err'"

# validate --connect checks the source: the credentials, then every field against describe
"$bin" validate --connect "$work/remote.toml" >"$work/vc-ok.out" 2>&1
check "validate --connect of a good pipeline exits 0" test $? -eq 0
sed -e 's/^secret_access_key = .*/secret_access_key = "wrong-secret"/' "$work/remote.toml" >"$work/vc-auth.toml"
"$bin" validate --connect "$work/vc-auth.toml" >"$work/vc-auth.out" 2>&1
check "validate --connect with a wrong secret exits 3" test $? -eq 3
check "validate --connect says the credentials were refused" grep -q "the source refused the credentials" "$work/vc-auth.out"
check "validate --connect never prints the secret" bash -c "! grep -q wrong-secret '$work/vc-auth.out'"
sed -e 's/^query = "select Id, Name from Account"/query = "select Id, Nmae, BillToContact.WorkEmial from Account"/' \
  "$work/remote.toml" >"$work/vc-field.toml"
"$bin" validate --connect "$work/vc-field.toml" >"$work/vc-field.out" 2>&1
check "validate --connect with a misspelled field exits 2" test $? -eq 2
check "a misspelled field, with did you mean" \
  grep -q "vc-field.toml:[0-9]*:[0-9]*: job billing, query Account: Account has no field Nmae (did you mean Name?)" "$work/vc-field.out"
check "a misspelled joined field, with did you mean" \
  grep -q "Contact has no field WorkEmial (did you mean WorkEmail?)" "$work/vc-field.out"
# columns = "fields" names Account.BillToContactId and BillToContact.Id both BillToContactId:
# the sink's own renaming (sinks::check_sink_columns) finds the collision before a run.
sed -e 's/^query = "select Id, Name from Account"/query = "select Id, BillToContactId, BillToContact.Id from Account"/' \
  -e 's/^type = "csv"$/type = "csv"\ncolumns = "fields"/' "$work/remote.toml" >"$work/vc-collide.toml"
"$bin" validate --connect "$work/vc-collide.toml" >"$work/vc-collide.out" 2>&1
check "validate --connect with colliding field names exits 2" test $? -eq 2
check "the collision names the query, the sink and both columns" \
  grep -q "vc-collide.toml:[0-9]*:[0-9]*: job billing, query Account: with the csv sink's columns = \"fields\": .*BillToContactId.*BillToContact.Id" "$work/vc-collide.out"
# run checks --report before anything is submitted
jobs_before=$(curl -s "$url/_emulator/stats" | jq -c .jobs)
"$bin" run "$work/remote.toml" --report "$work/no/such/dir/r.json" 2>"$work/bad-report.err"
check "an unwritable --report path exits 2" test $? -eq 2
check "the --report path is named" grep -q "no/such/dir/r.json: the directory .* does not exist" "$work/bad-report.err"
check "no job submitted for a bad --report path" test "$(curl -s "$url/_emulator/stats" | jq -c .jobs)" = "$jobs_before"

# a stateful pipeline: full, incremental, then --full-refresh loads it in full again
csv_records() { python3 -c 'import csv, sys; print(sum(sum(1 for _ in csv.reader(open(f, newline=""))) for f in sys.argv[1:]))' "$@"; }
cat >"$work/stateful.toml" <<TOML
[source]
base_url = "$url"
[source.auth]
type = "api_key"
access_key_id = "aquaduct"
secret_access_key = "aquaduct"
[source.poll]
initial_ms = 50
max_ms = 500
[[jobs]]
name = "sync"
partner = "acme"
project = "cli"
[[jobs.queries]]
name = "Account"
query = "select Id, Name, UpdatedDate from Account"
[[sinks]]
type = "csv"
path = "$work/out4"
TOML
"$bin" run "$work/stateful.toml" --state-dir "$work/st4" 2>"$work/st1.err"
check "stateful: first run exits 0" test $? -eq 0
check "stateful: first run is the full file" test "$(csv_records "$work/out4/sync/Account.csv")" -eq 51
curl -s -X POST "$url/_emulator/mutate" -d '{"object":"Account","update":2}' >/dev/null
"$bin" run "$work/stateful.toml" --state-dir "$work/st4" 2>"$work/st2.err"
check "stateful: second run exits 0" test $? -eq 0
check "stateful: second run wrote the 2 changes beside the full file" test "$(csv_records "$work/out4/sync/"Account.*Z.csv)" -eq 3
"$bin" run "$work/stateful.toml" --state-dir "$work/st4" --full-refresh sync/Account 2>"$work/st3.err"
check "--full-refresh exits 0" test $? -eq 0
check "--full-refresh says the cursor is set aside" grep -q "query=Account.*--full-refresh sets its cursor aside" "$work/st3.err"
check "--full-refresh replaced the full file" test "$(csv_records "$work/out4/sync/Account.csv")" -eq 51
check "--full-refresh removed the older incremental files" test -z "$(ls "$work/out4/sync/"Account.*Z.csv 2>/dev/null)"
"$bin" run "$work/stateful.toml" --state-dir "$work/st4" 2>"$work/st4.err"
check "after --full-refresh the next run is incremental again" grep -q "^sync  *Account  *0 " "$work/st4.err"

kill -TERM "$EMU_PID"
wait "$EMU_PID"
check "emulator exits 0 on SIGTERM" test $? -eq 0
EMU_PID=

# A client that gives up during a large download (here: in the middle of a stall) must
# not take the emulator down: sendfile() to a closed socket once raised a fatal SIGPIPE.
start_emulator big --scale 20000 --latency-ms 10 \
  --faults '{"rules":[{"path":"/v1/file/*","fault":"stall_ms","ms":1500,"after_bytes":1000}]}' || exit 1
auth=(-s -u aquaduct:aquaduct)
job=$(curl "${auth[@]}" -H 'Content-Type: application/json' -X POST "$big/v1/batch-query/" \
  -d '{"format":"csv","version":"1.0","name":"t","queries":[{"name":"A","query":"select * from Account","type":"zoqlexport"}]}' | jq -r .id)
completed() { [ "$(curl "${auth[@]}" "$big/v1/batch-query/jobs/$job" | jq '.status == "completed"')" = true ]; }
check "the big job completes" wait_for 60 completed
file=$(curl "${auth[@]}" "$big/v1/batch-query/jobs/$job" | jq -r '.batches[0].fileId')
curl "${auth[@]}" --max-time 0.5 "$big/v1/file/$file" -o /dev/null
check "the client gave up during the stall" test $? -eq 28
sent() { [ "$(curl "${auth[@]}" "$big/_emulator/stats" | jq '.downloads_in_flight')" = 0 ]; }
check "the emulator is still there once the download ended" wait_for 60 sent
check "the emulator process lives" kill -0 "${emulator_pids[0]}"
stop_emulators

finish cli
