#!/usr/bin/env bash
# `aquaduct jobs get|cancel|last` against real `aquaduct emulate` processes:
# JSON on stdout, the service's refusals on stderr, exit codes 0/1/2/3, and
# never a secret in any output.
# Usage: jobs_test.sh AQUADUCT_BINARY
set -u
bin=$(realpath "$1")
work=$(mktemp -d)
trap 'stop_emulators; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"  # check, wait_for, start_emulator, finish


# Credentials nobody could guess, so that finding them in an output is a leak.
secret="s3cret-$RANDOM$RANDOM-$$"
cat >"$work/credentials.conf" <<JSON
{"client_id": "ops-client", "client_secret": "$secret", "access_key_id": "ops-key", "secret_access_key": "$secret"}
JSON

emulator() {  # emulator VAR ARGS...: one of ours (20 accounts, these credentials); VAR = its URL
  local var=$1
  shift
  start_emulator "$var" --scale 20 --credentials "$work/credentials.conf" "$@"
}

pipeline() {  # pipeline FILE URL [AUTH_LINES...]
  local file=$1 url=$2
  shift 2
  {
    echo '[source]'
    echo "base_url = \"$url\""
    echo '[source.auth]'
    printf '%s\n' "$@"
    echo '[source.poll]'
    echo 'initial_ms = 20'
    echo 'max_ms = 200'
    echo '[[jobs]]'
    echo 'name = "sync"'
    echo 'partner = "acme"'
    echo 'project = "warehouse"'
    echo '[[jobs.queries]]'
    echo 'name = "Account"'
    echo 'query = "select Id, Name from Account"'
    echo '[[sinks]]'
    echo 'type = "csv"'
    echo "path = \"$work/out\""
  } >"$file"
}

token() {  # token URL
  curl -sf -X POST "$1/oauth/token" -d "client_id=ops-client&client_secret=$secret&grant_type=client_credentials" |
    jq -r .access_token
}

submit() {  # submit URL: a one-query stateless job, its id on stdout
  curl -sf -H "Authorization: Bearer $(token "$1")" -H 'Content-Type: application/json' \
    -d '{"format":"csv","version":"1.1","name":"by-hand","queries":[{"name":"A","query":"select Id from Account","type":"zoqlexport"}]}' \
    "$1/v1/batch-query/" | jq -r .id
}

export OPS_SECRET=$secret
emulator fast --latency-ms 20 || exit 1
emulator slow --latency-ms 600000 || exit 1
check "both emulators listen" test -n "$fast" -a -n "$slow"
pipeline "$work/fast.toml" "$fast" 'type = "api_key"' 'access_key_id = "ops-key"' 'secret_access_key = "${OPS_SECRET}"'
pipeline "$work/slow.toml" "$slow" 'type = "oauth"' 'client_id = "ops-client"' 'client_secret = "${OPS_SECRET}"'

# get and cancel a job in flight (the slow emulator never finishes one)
job=$(submit "$slow")
check "curl submitted a job" bash -c "[[ '$job' =~ ^[0-9a-f]{32}$ ]]"
"$bin" jobs get "$job" --config "$work/slow.toml" >"$work/get.json" 2>"$work/get.err"
check "get exits 0" test $? -eq 0
check "get prints the job JSON" test "$(jq -r .id "$work/get.json")" = "$job"
check "the job is in flight" bash -c "jq -r .status '$work/get.json' | grep -Eqx 'submitted|executing'"
"$bin" jobs cancel "$job" --config "$work/slow.toml" >"$work/cancel.json" 2>"$work/cancel.err"
check "cancel exits 0" test $? -eq 0
check "cancel prints the cancelled job" test "$(jq -r '.id + " " + .status' "$work/cancel.json")" = "$job cancelled"
"$bin" jobs get "$job" --config "$work/slow.toml" >"$work/get2.json" 2>/dev/null
check "the service keeps it cancelled" test "$(jq -r .status "$work/get2.json")" = cancelled

# unknown job id: the service's 404 90002
"$bin" jobs get 0123456789abcdef0123456789abcdef --config "$work/slow.toml" >"$work/unknown.out" 2>"$work/unknown.err"
check "unknown id exits 1" test $? -eq 1
check "unknown id: the service's code and message" grep -q "404 90002 Invalid Job Id" "$work/unknown.err"
check "unknown id: nothing on stdout" test ! -s "$work/unknown.out"
"$bin" jobs cancel 0123456789abcdef0123456789abcdef --config "$work/slow.toml" >/dev/null 2>"$work/unknown-cancel.err"
check "unknown id cancel exits 1" test $? -eq 1

# a stateful run on the fast emulator, then its session's last completed job
"$bin" run "$work/fast.toml" --state-dir "$work/state" 2>"$work/run.err"
check "stateful run exits 0" test $? -eq 0
cursor_job=$(jq -r .last_job_id "$work/state"/sync.Account.*.json)
"$bin" jobs last acme warehouse --config "$work/fast.toml" >"$work/last.json" 2>"$work/last.err"
check "last exits 0" test $? -eq 0
check "last is the run's committed job" test "$(jq -r .id "$work/last.json")" = "$cursor_job"
check "last is completed" test "$(jq -r .status "$work/last.json")" = completed
"$bin" jobs last acme nowhere --config "$work/fast.toml" >/dev/null 2>"$work/last-none.err"
check "a session without a completed job exits 1" test $? -eq 1
check "... and says so" grep -q "90002" "$work/last-none.err"

# cancelling a completed job: HTTP 200 with errorCode 90003
"$bin" jobs cancel "$cursor_job" --config "$work/fast.toml" >"$work/cc.out" 2>"$work/cc.err"
check "completed-job cancel exits 1" test $? -eq 1
check "completed-job cancel: errorCode 90003 and message" grep -q "errorCode 90003: Invalid Job Id for cancellation" "$work/cc.err"
check "completed-job cancel: nothing on stdout" test ! -s "$work/cc.out"
"$bin" jobs get "$cursor_job" --config "$work/fast.toml" >"$work/still.json" 2>/dev/null
check "the completed job stays completed" test "$(jq -r .status "$work/still.json")" = completed

# wrong credentials: exit 3, for oauth and api_key, and the wrong secret is not printed
OPS_SECRET=wrong-$secret "$bin" jobs get "$job" --config "$work/slow.toml" >"$work/auth1.out" 2>"$work/auth1.err"
check "refused oauth client exits 3" test $? -eq 3
OPS_SECRET=wrong-$secret "$bin" jobs get "$cursor_job" --config "$work/fast.toml" >"$work/auth2.out" 2>"$work/auth2.err"
check "refused api key exits 3" test $? -eq 3
check "auth refusal is explained" grep -q "authentication refused" "$work/auth2.err"

# nobody listening: the service failed, exit 1, after the configured attempts
{ sed '/^base_url/d; /^\[source\]$/a base_url = "http://127.0.0.1:1"' "$work/fast.toml"; printf '[source.retry]\nmax_attempts = 2\n'; } \
  >"$work/unreachable.toml"
"$bin" jobs get "$job" --config "$work/unreachable.toml" >/dev/null 2>"$work/unreachable.err"
check "an unreachable service exits 1" test $? -eq 1
check "... saying why, after the retries" grep -q "Connection refused (gave up after 2 attempts)" "$work/unreachable.err"
check "... with the retry warned about" grep -q " warning .*retrying GET" "$work/unreachable.err"

# usage errors: exit 2, nothing contacted
sed '/^base_url/d' "$work/fast.toml" >"$work/nowhere.toml"
"$bin" jobs get "$job" --config "$work/nowhere.toml" >/dev/null 2>"$work/nowhere.err"
check "no base_url exits 2" test $? -eq 2
check "no base_url is explained" grep -q "no base_url or environment" "$work/nowhere.err"
"$bin" jobs get "../../oauth/token" --config "$work/fast.toml" >/dev/null 2>"$work/badid.err"
check "a malformed id exits 2" test $? -eq 2
"$bin" jobs get "$job" >/dev/null 2>&1
check "missing --config exits 2" test $? -eq 2
"$bin" jobs >/dev/null 2>&1
check "jobs without an operation exits 2" test $? -eq 2
env -u OPS_SECRET "$bin" jobs get "$job" --config "$work/fast.toml" >/dev/null 2>"$work/env.err"
check "a missing \${VAR} exits 2" test $? -eq 2
check "... naming FILE:LINE:COL" grep -q "fast.toml:[0-9]*:[0-9]*: environment variable OPS_SECRET is not set" "$work/env.err"

# help a newcomer can act on
"$bin" jobs cancel --help >"$work/help.txt"
check "help has an example" grep -q "aquaduct jobs cancel .* --config pipeline.toml" "$work/help.txt"
check "help lists exit codes" grep -q "Exit codes: 0 ok" "$work/help.txt"
"$bin" help jobs | grep -q "jobs last acme warehouse"
check "help jobs shows the examples" test $? -eq 0

check "no secret in any output" bash -c "! grep -rqF -- '$secret' '$work'/*.out '$work'/*.err '$work'/*.json '$work'/*.txt"

finish jobs
