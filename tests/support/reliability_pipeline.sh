# The pipeline the kill loop (tests/reliability/kill_loop.sh) and the soak
# (scripts/soak.sh) run, so both exercise the same shapes: PLAIN stateless jobs
# over five objects (gzip and csv alternating), one partitioned query (yearly
# UpdatedDate windows landing as one file) and one stateful job (partner +
# project), into a csv and a sqlite sink under DIR. Every query is one the live-tenant
# promise covers (docs/architecture.md, "Delivery guarantee"), so the kill loop's churn
# form can judge it against the emulator's truth: each selects its object's Id and
# UpdatedDate, the partitioned one runs up to now (with its catch-up), and the stateful
# one asks for deletions (`deleted`), so rows deleted between runs reach the sinks.
# Usage (after `source`): reliability_pipeline URL DIR PLAIN PROJECT [SOURCE_KEYS] [SOURCE_TABLES]
#   SOURCE_KEYS    extra `key = value` lines of [source] (e.g. idle_timeout_ms)
#   SOURCE_TABLES  extra tables under [source] (e.g. a [source.retry] block)
reliability_objects=("Account:Id, AccountNumber, Name, Balance, Status, UpdatedDate"
  "Contact:Id, AccountId, FirstName, LastName, Country, UpdatedDate"
  "Payment:Id, AccountId, PaymentNumber, Amount, Status, UpdatedDate"
  "Invoice:Id, AccountId, InvoiceNumber, Amount, Balance, UpdatedDate"
  "Subscription:Id, AccountId, Name, Status, TermStartDate, UpdatedDate")

reliability_pipeline() {
  local url=$1 dir=$2 plain=$3 project=$4 source_keys=${5:-} source_tables=${6:-} i spec object fields format
  cat <<TOML
[source]
base_url = "$url"
max_active_jobs = 50
$source_keys
[source.auth]
type = "basic"
username = "aquaduct"
password = "aquaduct"
[source.poll]
initial_ms = 50
max_ms = 200
$source_tables
TOML
  for i in $(seq -w 1 "$plain"); do
    spec=${reliability_objects[$((10#$i % ${#reliability_objects[@]}))]}
    object=${spec%%:*}
    fields=${spec#*:}
    format=$([ $((10#$i % 2)) -eq 0 ] && echo gzip || echo csv)
    cat <<TOML
[[jobs]]
name = "plain$i"
format = "$format"
[[jobs.queries]]
name = "$object"
query = "select $fields from $object"
TOML
  done
  cat <<TOML
[[jobs]]
name = "windows"
format = "gzip"
[[jobs.queries]]
name = "Invoice"
query = "select Id, AccountId, InvoiceNumber, Amount, UpdatedDate from Invoice"
partition = { by = "UpdatedDate", from = "2000-01-01", to = "now", step = "P1095D" }
[[jobs]]
name = "sync"
format = "gzip"
version = "1.1"
partner = "reliability"
project = "$project"
[[jobs.queries]]
name = "Subscription"
query = "select Id, AccountId, Name, Status, UpdatedDate from Subscription"
deleted = { column = "IsDeleted", format = "Boolean" }
[[sinks]]
type = "csv"
path = "$dir/out"
[[sinks]]
type = "sqlite"
path = "$dir/sink.db"
TOML
}

# reliability_oracle_plan DIR: the --plan of tests/support/live_oracle.py for the sinks of
# reliability_pipeline under DIR, one line per sink: every sqlite table and every stateless
# or partitioned csv file on its own, the stateful query's csv files (the full file and its
# incremental files) as one set. Each query is named after its object and selects the
# object's Id and UpdatedDate; the stateful one carries the deleted flag.
reliability_oracle_plan() {
  local dir=$1 t f object deleted
  for t in $(sqlite3 "$dir/sink.db" "select name from sqlite_master where type = 'table' and name not like '\_%' escape '\' order by name"); do
    object=${t#*__}
    deleted=$([ "${t%%__*}" = sync ] && echo "--deleted $object.IsDeleted")
    printf -- '--label %q --object %q --sqlite %q --table %q --id %q --updated %q %s\n' \
      "sqlite $t" "$object" "$dir/sink.db" "$t" "$object.Id" "$object.UpdatedDate" "$deleted"
  done
  for f in $(cd "$dir/out" && find . -type f -name '*.csv' ! -path './sync/*' | LC_ALL=C sort); do
    object=$(basename "$f" .csv)
    printf -- '--label %q --object %q --csv %q --id %q --updated %q\n' \
      "csv ${f#./}" "$object" "$dir/out/${f#./}" "$object.Id" "$object.UpdatedDate"
  done
  printf -- '--label %q --object Subscription --csv' "csv sync/Subscription*.csv (as one set)"
  for f in "$dir/out/sync"/Subscription*.csv; do printf ' %q' "$f"; done
  printf ' --id Subscription.Id --updated Subscription.UpdatedDate --deleted Subscription.IsDeleted\n'
}
