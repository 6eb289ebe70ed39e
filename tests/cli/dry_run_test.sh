#!/usr/bin/env bash
# `aquaduct run PIPELINE --dry-run` against a real `aquaduct emulate`: it
# contacts nothing, writes nothing, redacts every secret, and its bodies are
# what the real run submits (compared with what the emulator echoes).
# Usage: dry_run_test.sh AQUADUCT_BINARY
set -u
bin=$(realpath "$1")
work=$(mktemp -d)
trap 'stop_emulators; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"  # check, wait_for, start_emulator, finish


secret="dry-$RANDOM$RANDOM-$$"
proxy_pw="pp-$RANDOM$RANDOM"
cat >"$work/credentials.conf" <<JSON
{"client_id": "dry-client", "client_secret": "$secret", "access_key_id": "dry-key", "secret_access_key": "$secret"}
JSON
start_emulator url --scale 20 --latency-ms 20 --credentials "$work/credentials.conf" || exit 1

export DRY_SECRET=$secret DRY_PROXY_PW=$proxy_pw
cat >"$work/p.toml" <<TOML
[source]
base_url = "$url"
proxy = "none"
[source.headers]
track_id = "dry-run-test"
[source.auth]
type = "oauth"
client_id = "dry-client"
client_secret = "\${DRY_SECRET}"
[source.poll]
initial_ms = 20
max_ms = 200
[[jobs]]
name = "billing"
format = "csv"
source_data = "WAREHOUSE"
notify_url = "http://cb:\${DRY_PROXY_PW}@127.0.0.1:9/cb?job=\$\${JOBID}"
[[jobs.queries]]
name = "Account"
query = "select Id, Name from Account where Name != 'Basic plan'"
convert_to_currencies = "EUR,GBP"
[[jobs.queries]]
name = "Invoice"
query = "select Id, UpdatedDate from Invoice"
partition = { by = "UpdatedDate", from = "2015-01-01", to = "2026-01-01", step = "P2000D" }
[[jobs]]
name = "sync"
version = "1.2"
partner = "acme"
project = "dry"
use_last_completed_job_queries = true
[[jobs.queries]]
name = "Subscription"
query = "select Id, Status from Subscription"
deleted = { column = "IsDeleted", format = "Boolean" }
[[sinks]]
type = "csv"
path = "$work/out"
TOML

requests_seen() { curl -s "$url/_emulator/stats" | jq -c '.requests | del(."/_emulator/stats")'; }

before=$(requests_seen)
"$bin" run "$work/p.toml" --dry-run --state-dir "$work/state" >"$work/dry1.txt" 2>"$work/dry1.err"
check "dry run exits 0" test $? -eq 0
check "nothing reached the emulator" test "$(requests_seen)" = "$before"
check "no sink output" test ! -e "$work/out"
check "no state directory created" test ! -e "$work/state"
check "no secret in the output" bash -c "! grep -qF -e '$secret' -e '$proxy_pw' '$work/dry1.txt' '$work/dry1.err'"
check "the token request, secret redacted" grep -qx 'client_id=dry-client&client_secret=\[REDACTED\]&grant_type=client_credentials' "$work/dry1.txt"
check "the token shown redacted" grep -qx 'Authorization: Bearer \[REDACTED\]' "$work/dry1.txt"
check "the track id header" grep -qx 'Zuora-Track-Id: dry-run-test' "$work/dry1.txt"
check "the session is asked first" grep -q "^GET $url/v1/batch-query/jobs/partner/acme/project/dry$" "$work/dry1.txt"
check "describe of each object a query uses, before any submit" grep -q "^GET $url/v1/describe/Account$" "$work/dry1.txt"
check "describe asked with an XML Accept" grep -qx 'Accept: application/xml, text/xml;q=0.9, \*/\*;q=0.1' "$work/dry1.txt"
grep '^{' "$work/dry1.txt" >"$work/bodies1.jsonl"
check "every body is a JSON object" jq_true -s 'length > 0 and all(type == "object")' "$work/bodies1.jsonl"
check "one body per job and window (1 + 3 windows of 2000 days + 1 session)" test "$(wc -l <"$work/bodies1.jsonl")" -eq 5
check "POST lines match the bodies" test "$(grep -c "^POST $url/v1/batch-query/$" "$work/dry1.txt")" -eq 5
check "the notify URL's password is redacted, its placeholder kept" \
  grep -qF '"notifyUrl":"http://[REDACTED]@127.0.0.1:9/cb?job=${JOBID}"' "$work/bodies1.jsonl"

# The real run, then what the emulator echoes for each job it received.
"$bin" run "$work/p.toml" --state-dir "$work/state" --report "$work/report.json" 2>"$work/run1.err"
check "the real run exits 0" test $? -eq 0
# A job's echo, in the shape of a submit body (format upper-cased by the service; sourceData defaulted).
echo_of() {
  "$bin" jobs get "$1" --config "$work/p.toml" |
    jq -c '{name, format: (.format|ascii_downcase), version, encrypted, sourceData, useLastCompletedJobQueries,
            partner, project, notifyUrl,
            queries: [.batches[] | {name, query, type: .batchType, convertToCurrencies, deleted}]}'
}
as_echo() {  # a dry-run body in the same shape
  jq -c '{name, format, version, encrypted, sourceData: (.sourceData // "LIVE"),
          useLastCompletedJobQueries: (.useLastCompletedJobQueries // false), partner, project, notifyUrl,
          queries: [.queries[] | {name, query, type, convertToCurrencies, deleted}]}'
}
for id in $(jq -r '.jobs[].job_id' "$work/report.json"); do echo_of "$id"; done | sort >"$work/echoed.jsonl"
as_echo <"$work/bodies1.jsonl" | sort >"$work/planned.jsonl"
# The notify URL differs only by the redaction; the first stateful job went without incrementalTime.
sed -i "s|http://cb:$proxy_pw@|http://[REDACTED]@|" "$work/echoed.jsonl"
check "the emulator received what the dry run showed" diff "$work/planned.jsonl" "$work/echoed.jsonl"

# With the session's cursor committed: incrementalTime from it, the service not asked first.
"$bin" run "$work/p.toml" --dry-run --state-dir "$work/state" >"$work/dry2.txt" 2>&1
check "second dry run exits 0" test $? -eq 0
check "second dry run does not ask the session" bash -c "! grep -q '^GET .*/v1/batch-query/' '$work/dry2.txt'"
planned_time=$(grep '^{' "$work/dry2.txt" | jq -r 'select(.name == "sync") | .incrementalTime')
cursor=$(jq -r .position "$work/state"/sync.Subscription.*.json)
# The cursor (UTC) written in the data centre's zone (Pacific for this host).
check "incrementalTime is the committed cursor" \
  test "$(TZ=America/Los_Angeles date -d "$cursor" '+%Y-%m-%d %H:%M:%S')" = "$planned_time"
"$bin" run "$work/p.toml" --state-dir "$work/state" --report "$work/report2.json" 2>"$work/run2.err"
check "the second real run exits 0" test $? -eq 0
sync_id=$(jq -r '.jobs[] | select(.name == "sync") | .job_id' "$work/report2.json")
echoed_ms=$("$bin" jobs get "$sync_id" --config "$work/p.toml" | jq -r .incrementalTime)
check "the emulator received that incrementalTime" \
  test "$echoed_ms" = "$(( $(TZ=America/Los_Angeles date -d "$planned_time" +%s) * 1000 ))"

# A stateful job of two queries with cursors; one query gains a field: only that query
# reloads (the service reloads a changed query, contract §4.2), the job stays incremental
# from the other's cursor, and the dry run says so before anything is sent.
sed -e 's/^query = "select Id, Status from Subscription"/&\n[[jobs.queries]]\nname = "Contact"\nquery = "select Id from Contact"/' \
  "$work/p.toml" >"$work/two.toml"
"$bin" run "$work/two.toml" --state-dir "$work/state" 2>"$work/run3.err"
check "a run with a second stateful query exits 0" test $? -eq 0
sed 's/^query = "select Id, Status from Subscription"/query = "select Id, Status, Name from Subscription"/' \
  "$work/two.toml" >"$work/changed.toml"
"$bin" run "$work/changed.toml" --dry-run --state-dir "$work/state" >"$work/dry3.txt" 2>&1
check "the dry run names the one query that reloads, and why" \
  grep -q "query Subscription: full reload of this query only: the query changed since its cursor was committed" "$work/dry3.txt"
check "... and no full reload of the whole job" bash -c "! grep -q 'full reload of the whole job' '$work/dry3.txt'"
contact_cursor=$(jq -r .position "$work/state"/sync.Contact.*.json)
check "incrementalTime is the unchanged query's cursor, not the floor" \
  test "$(grep '^{' "$work/dry3.txt" | jq -r 'select(.name == "sync") | .incrementalTime')" = \
       "$(TZ=America/Los_Angeles date -d "$contact_cursor" '+%Y-%m-%d %H:%M:%S')"
"$bin" run "$work/changed.toml" --state-dir "$work/state" --report "$work/report3.json" 2>"$work/run4.err"
check "the run with the changed query exits 0" test $? -eq 0
check "its log says the same" grep -q "full reload of this query only" "$work/run4.err"
check "Subscription came back full, Contact incremental" \
  test "$(jq -c '[.jobs[] | select(.name == "sync") | .queries[] | {name, full}] | sort_by(.name)' "$work/report3.json")" = \
       '[{"name":"Contact","full":false},{"name":"Subscription","full":true}]'

# A config error is still exit 2, before anything.
sed 's/^source_data = .*/source_data = "lake"/' "$work/p.toml" >"$work/bad.toml"
"$bin" run "$work/bad.toml" --dry-run >/dev/null 2>"$work/bad.err"
check "a bad config exits 2" test $? -eq 2
check "... naming FILE:LINE:COL" grep -q "bad.toml:[0-9]*:[0-9]*: source_data = \"lake\" is not one of: LIVE, WAREHOUSE" "$work/bad.err"
# Redaction replaces secret values, never ordinary words that equal one: with the emulator's
# credentials (user name and secret both "aquaduct"), the user name and the default state
# directory .aquaduct/state are shown as they are; a strong secret pasted into a query is cut.
mkdir -p "$work/plain"
cat >"$work/plain/p.toml" <<TOML
[source]
base_url = "$url"
[source.auth]
type = "oauth"
client_id = "aquaduct"
client_secret = "aquaduct"
[[jobs]]
name = "billing"
[[jobs.queries]]
name = "Account"
query = "select Id from Account where Name != 'aquaduct'"
[[sinks]]
type = "csv"
path = "out"
TOML
"$bin" run "$work/plain/p.toml" --dry-run >"$work/plain.txt" 2>&1
check "dry run with word-like credentials exits 0" test $? -eq 0
check "the default state directory is shown whole, not .[REDACTED]/state" \
  grep -qF "the state directory $work/plain/.aquaduct/state does not exist yet" "$work/plain.txt"
check "the user name (client_id) is shown" grep -qx 'client_id=aquaduct&client_secret=\[REDACTED\]&grant_type=client_credentials' "$work/plain.txt"
check "the secret stays redacted where it is a credential" bash -c "! grep -q 'client_secret=aquaduct' '$work/plain.txt'"
strong="Str0ng-$RANDOM$RANDOM"
sed -e "s/^client_secret = .*/client_secret = \"$strong\"/" -e "s/'aquaduct'/'$strong'/" "$work/plain/p.toml" >"$work/plain/strong.toml"
"$bin" run "$work/plain/strong.toml" --dry-run >"$work/strong.txt" 2>&1
check "a strong secret pasted into a query is cut from it" grep -qF "where Name != '[REDACTED]'" "$work/strong.txt"
check "... and shows nowhere" bash -c "! grep -qF '$strong' '$work/strong.txt'"

"$bin" run --help | grep -q -- "--dry-run"
check "run --help documents --dry-run" test $? -eq 0

finish dry_run
