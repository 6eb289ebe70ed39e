#!/usr/bin/env bash
# `aquaduct emulate`'s live-tenant and time-zone options as a user types them:
# --tz (any IANA zone; an unknown one is exit 2, named), --data-center,
# --churn RATE[:SEED], and the endpoints they feed (stats, churn, truth).
# Usage: emulate_cli_test.sh AQUADUCT_BINARY
set -u
bin=$(realpath "$1")
work=$(mktemp -d)
trap 'stop_emulators; rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"  # check, wait_for, start_emulator, finish

# Usage errors: exit 2 before anything listens, the message naming the value.
"$bin" emulate --port 0 --tz Mars/Olympus_Mons >"$work/out" 2>"$work/err"
check "an unknown zone exits 2" test $? -eq 2
check "the message names the zone" grep -q "Mars/Olympus_Mons" "$work/err"
check "nothing listened" test ! -s "$work/out"
"$bin" emulate --port 0 --data-center mars >/dev/null 2>"$work/err"
check "an unknown data centre exits 2" test $? -eq 2
for bad in fast -5 50:x 20000; do
  "$bin" emulate --port 0 --churn "$bad" >/dev/null 2>"$work/err"
  check "--churn $bad exits 2" test $? -eq 2
  check "--churn $bad is named" grep -q -- "$bad" "$work/err"
done

# A Tokyo tenant behind a US data centre, churning 200 a second from seed 9.
start_emulator url --scale 20 --latency-ms 20 --tz Asia/Tokyo --churn 200:9
check "the emulator started" test -n "${url:-}"
stats() { curl -s "$url/_emulator/stats"; }
churned() { jq_true '.churn.sequence >= 100' <(stats); }
check "it churns" wait_for 60 churned
check "at the rate and seed asked" jq_true '.churn.rate == 200 and .churn.seed == 9' <(stats)
check "stats count the churn by object" jq_true \
  '[.churn.objects[] | .created + .updated + .deleted] | add > 0' <(stats)
curl -s "$url/_emulator/truth?object=InvoiceItem" >"$work/truth.json"
check "the truth lists live rows and deletions" jq_true \
  '(.live | length) == .live_count and .live_count > 900 and (.deleted | length) == .deleted_count' "$work/truth.json"
check "the truth's versions are result-file UTC datetimes" jq_true \
  '[.live[] | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\+0000$")] | all' "$work/truth.json"
check "POST /_emulator/churn stops it" jq_true '.rate == 0' \
  <(curl -s -X POST "$url/_emulator/churn" -d '{"rate":0}')
# startTime in Tokyo wall time: nine hours ahead of UTC.
token=$(curl -s -X POST "$url/oauth/token" -d 'client_id=aquaduct&client_secret=aquaduct&grant_type=client_credentials' | jq -r .access_token)
job=$(curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$url/v1/batch-query/" \
  -d '{"format":"csv","version":"1.1","name":"tz","queries":[{"name":"A","query":"select Id from Account","type":"zoqlexport"}]}')
start=$(jq -r .startTime <<<"$job")
utc_now=$(date -u +%s)
start_s=$(date -u -d "$start" +%s)
check "startTime is the Tokyo wall clock" test $((start_s - 9 * 3600 - utc_now)) -le 1 -a $((utc_now - (start_s - 9 * 3600))) -le 5

# A multi-entity, multi-org tenant (--entity, --org; docs/emulator.md "Entities and orgs").
start_emulator eurl --scale 5 --latency-ms 20 --entity ent-a --entity ent-b --org org-1
check "the multi-entity emulator started" test -n "${eurl:-}"
auth=(-H 'apiAccessKeyId: aquaduct' -H 'apiSecretAccessKey: aquaduct')
code() { curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$@"; }
check "no Zuora-Entity-Ids with two entities is 400" test "$(code "$eurl/v1/describe/Account")" = 400
check "an unknown entity is 400" test "$(code -H 'Zuora-Entity-Ids: ent-z' "$eurl/v1/describe/Account")" = 400
check "a known entity is served" test "$(code -H 'Zuora-Entity-Ids: ent-b' "$eurl/v1/describe/Account")" = 200
check "an org the tenant lacks is 403" \
  test "$(code -H 'Zuora-Entity-Ids: ent-a' -H 'Zuora-Org-Ids: org-1,org-2' "$eurl/v1/describe/Account")" = 403
check "/_emulator/clock moves the calendar" jq_true '.offset_s == 86400' \
  <(curl -s -X POST "$eurl/_emulator/clock" -d '{"advance_s":86400}')

finish emulate_cli
