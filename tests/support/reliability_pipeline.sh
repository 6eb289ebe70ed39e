# The pipeline the kill loop (tests/reliability/kill_loop.sh) and the soak
# (scripts/soak.sh) run, so both exercise the same shapes: PLAIN stateless jobs
# over five objects (gzip and csv alternating), one partitioned query (yearly
# UpdatedDate windows landing as one file) and one stateful job (partner +
# project), into a csv and a sqlite sink under DIR.
# Usage (after `source`): reliability_pipeline URL DIR PLAIN PROJECT [SOURCE_KEYS] [SOURCE_TABLES]
#   SOURCE_KEYS    extra `key = value` lines of [source] (e.g. idle_timeout_ms)
#   SOURCE_TABLES  extra tables under [source] (e.g. a [source.retry] block)
reliability_objects=("Account:Id, AccountNumber, Name, Balance, Status"
  "Contact:Id, AccountId, FirstName, LastName, Country"
  "Payment:Id, AccountId, PaymentNumber, Amount, Status"
  "Invoice:Id, AccountId, InvoiceNumber, Amount, Balance"
  "Subscription:Id, AccountId, Name, Status, TermStartDate")

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
[[sinks]]
type = "csv"
path = "$dir/out"
[[sinks]]
type = "sqlite"
path = "$dir/sink.db"
TOML
}
