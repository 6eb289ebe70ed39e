#!/usr/bin/env bash
# End-to-end download speed: `aquaduct run` (HTTP -> gunzip -> CSV parse -> sink) against
# `curl URL | gzip -dc > /dev/null` on the same result file, in the same run, from an
# emulator started as a separate process.
#   bench/e2e_bench.sh [AQUADUCT_BINARY] [ACCOUNTS]
set -euo pipefail
bin=${1:-build/release/aquaduct}
scale=${2:-300000}
work=$(mktemp -d)
trap 'kill "$EMU_PID" 2>/dev/null || true; rm -rf "$work"' EXIT

coproc EMU { exec "$bin" emulate --port 0 --scale "$scale" --latency-ms 200; }
EMU_PID=$EMU_PID
read -t 60 -r line <&"${EMU[0]}"
url=${line#listening on }
query="select Id, AccountNumber, Name, Balance, CreditBalance, AutoPay, Currency, BillCycleDay, PaymentTerm, Status, Batch, SalesRepName, ParentId, CrmId, CreatedDate, UpdatedDate, CreatedById, UpdatedById from Account"

now() { date +%s.%N; }

# Baseline: submit and poll with curl, then time curl | gzip -dc on the file.
body="{\"format\":\"gzip\",\"version\":\"1.1\",\"name\":\"bench\",\"useQueryLabels\":true,\"dateTimeUtc\":true,\"queries\":[{\"name\":\"Account\",\"type\":\"zoqlexport\",\"query\":\"$query\"}]}"
id=$(curl -sf -u aquaduct:aquaduct -H 'Content-Type: application/json' -d "$body" "$url/v1/batch-query/" |
  grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4)
file=""
for _ in $(seq 1 600); do
  file=$(curl -sf -u aquaduct:aquaduct "$url/v1/batch-query/jobs/$id" | grep -o '"fileId":"[0-9a-f]*"' | cut -d'"' -f4 || true)
  [ -n "$file" ] && break
  sleep 0.2
done
[ -n "$file" ] || { echo "the baseline job did not complete" >&2; exit 1; }

base_best=999999
for _ in 1 2 3; do
  t0=$(now)
  curl -sf -u aquaduct:aquaduct "$url/v1/file/$file" | gzip -dc >/dev/null
  t1=$(now)
  base_best=$(echo "$t1 - $t0" | bc -l | awk -v b="$base_best" '{print ($1 < b) ? $1 : b}')
done

run_sink() {  # run_sink TYPE EXTRA_TOML -> prints "rows bytes_decoded download_s"
  cat >"$work/p.toml" <<TOML
[source]
base_url = "$url"
[source.auth]
type = "basic"
username = "aquaduct"
password = "aquaduct"
[source.poll]
initial_ms = 50
max_ms = 500
[[jobs]]
name = "bench"
format = "gzip"
[[jobs.queries]]
name = "Account"
query = "$query"
[[sinks]]
type = "$1"
$2
TOML
  "$bin" run "$work/p.toml" --report "$work/r.json" 2>/dev/null
  grep -o '"rows":[0-9]*,"files":[0-9]*,"bytes_downloaded":[0-9]*,"bytes_decoded":[0-9]*,"download_s":[0-9.]*' "$work/r.json" |
    sed 's/"[a-z_]*"://g' | awk -F, '{print $1, $4, $5}'
}

best() {  # best of three runs of run_sink, by download_s
  local out="" b=999999
  for _ in 1 2 3; do
    read -r rows bytes secs < <(run_sink "$@")
    if awk -v s="$secs" -v b="$b" 'BEGIN{exit !(s < b)}'; then b=$secs; out="$rows $bytes $secs"; fi
  done
  echo "$out"
}

read -r rows bytes null_s < <(best null "")
read -r _ _ csv_s < <(best csv "path = \"$work/out\"")
mb=$(echo "$bytes / 1000000" | bc -l)
echo "| pipeline | rows | CSV MB | seconds | MB/s | rows/s |"
echo "|---|---|---|---|---|---|"
printf '| aquaduct -> null sink | %d | %.1f | %.3f | %.0f | %.0f |\n' "$rows" "$mb" "$null_s" "$(echo "$mb / $null_s" | bc -l)" "$(echo "$rows / $null_s" | bc -l)"
printf '| aquaduct -> csv sink | %d | %.1f | %.3f | %.0f | %.0f |\n' "$rows" "$mb" "$csv_s" "$(echo "$mb / $csv_s" | bc -l)" "$(echo "$rows / $csv_s" | bc -l)"
printf '| baseline curl \\| gzip -dc | %d | %.1f | %.3f | %.0f | %.0f |\n' "$rows" "$mb" "$base_best" "$(echo "$mb / $base_best" | bc -l)" "$(echo "$rows / $base_best" | bc -l)"
printf 'ratio (aquaduct null sink speed / curl|gzip -dc speed): %.2fx\n' "$(echo "$base_best / $null_s" | bc -l)"
printf 'ratio (aquaduct csv sink speed / curl|gzip -dc speed): %.2fx\n' "$(echo "$base_best / $csv_s" | bc -l)"
printf 'vs a Python Singer tap at ~3,300 rows/s: %.0fx (csv sink)\n' "$(echo "$rows / $csv_s / 3300" | bc -l)"
