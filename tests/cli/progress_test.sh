#!/usr/bin/env bash
# `aquaduct run` on stderr as a user sees it: the live progress display in a real
# terminal (tmux), its absence off a terminal, --progress both ways, and the logs
# as text and as JSON lines.
# Usage: progress_test.sh AQUADUCT_BINARY
set -u
bin=$(realpath "$1")
work=$(mktemp -d)
sock="$work/tmux.sock"
trap 'tmux -S "$sock" kill-server 2>/dev/null; stop_emulators; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"  # check, wait_for, start_emulator, finish

# An emulator whose jobs take 3 s, with a password of our own (it must never show).
secret="Pa55-word-never-shown"
printf '{"client_id":"aquaduct","client_secret":"aquaduct","access_key_id":"etl","secret_access_key":"%s"}' \
  "$secret" >"$work/creds.json"
start_emulator url --latency-ms 3000 --scale 300 --credentials "$work/creds.json" || exit 1
cat >"$work/p.toml" <<TOML
[source]
base_url = "$url"
[source.auth]
type = "basic"
username = "etl"
password = "\${ETL_PASSWORD}"
[source.poll]
initial_ms = 100
max_ms = 500
[[jobs]]
name = "billing"
[[jobs.queries]]
name = "Account"
query = "select Id, Name from Account"
[[jobs.queries]]
name = "Invoice"
query = "select Id, Amount from Invoice"
[[jobs]]
name = "payments"
[[jobs.queries]]
name = "Payment"
query = "select Id, Amount from Payment"
[[sinks]]
type = "csv"
path = "$work/out"
TOML
export ETL_PASSWORD="$secret"

# Once a job is active on the service the run is well under way.
active() { curl -s "$url/_emulator/stats" | grep -Eq '"active_stateless":[1-9]'; }

# --- the live display in a 120x40 terminal
tmux -S "$sock" new-session -d -x 120 -y 40 -e "ETL_PASSWORD=$secret" "bash --norc"
pane() { tmux -S "$sock" capture-pane -p -t 0; }
tmux -S "$sock" send-keys -t 0 "cd '$work' && '$bin' run p.toml --state-dir st1; echo \"exit=\$?\" >exit1" Enter
# A whole frame (tmux may catch one half drawn): the header, a line per job
# with its state and AQuA jobs done of planned, and the totals line.
shows_running() {
  pane >"$work/running.txt"
  grep -Eq '^JOB +STATE +AQUA JOBS +ROWS +MB +MB/s' "$work/running.txt" &&
    grep -Eq '^billing +(queued|running|downloading|done) +[0-9]/1 +[0-9,]+ +[0-9.]+ +([0-9.]+|-)$' "$work/running.txt" &&
    grep -Eq '^payments +(queued|running|downloading|done) +[0-9]/1 +[0-9,]+ +[0-9.]+ +([0-9.]+|-)$' "$work/running.txt" &&
    grep -Eq '^total +running +[0-9]/2 +[0-9,]+ +[0-9.]+ +([0-9.]+|-) +[0-9]+ on the service, [0-9]+ downloading, 0:[0-9]{2}$' "$work/running.txt"
}
check "live display on a terminal: header, a line per job, totals" wait_for 60 shows_running
check "display lines fit the terminal" test "$(awk '{ if (length($0) > 120) n++ } END { print n + 0 }' "$work/running.txt")" -eq 0
check "no info log lines under the live display" bash -c "! grep -q ' info ' '$work/running.txt'"
check "run in the terminal ends" wait_for 120 test -s "$work/exit1"
pane >"$work/final.txt"
check "run in the terminal exits 0" grep -qx 'exit=0' "$work/exit1"
check "display erased before the report" bash -c "! grep -q 'AQUA JOBS' '$work/final.txt'"
check "report table shown in the terminal" grep -Eq '^billing +Account +300 ' "$work/final.txt"
check "the password never shows in the terminal" bash -c "! grep -q '$secret' '$work/final.txt' '$work/running.txt'"

# --- Ctrl-C under the live display: the notice, exit 130, the display gone, no final file
tmux -S "$sock" send-keys -t 0 "clear; '$bin' run p.toml --state-dir st6 2>&1; echo \"exit=\$?\" >exit6" Enter
rm -rf "$work/out"
check "live display before Ctrl-C" wait_for 60 shows_running
check "a job is on the service before Ctrl-C" wait_for 60 active
tmux -S "$sock" send-keys -t 0 C-c
check "interrupted run ends" wait_for 120 test -s "$work/exit6"
pane >"$work/interrupted.txt"
check "Ctrl-C exits 130" grep -qx 'exit=130' "$work/exit6"
check "Ctrl-C notice shown" grep -q 'interrupted: cancelling the jobs in flight on the server' "$work/interrupted.txt"
check "Ctrl-C: the report says cancelled" grep -Eq '^(billing|payments) .* cancelled$' "$work/interrupted.txt"
check "Ctrl-C: display erased" bash -c "! grep -q 'AQUA JOBS' '$work/interrupted.txt'"
check "Ctrl-C: no final file written" test -z "$(find "$work/out" -name '*.csv' 2>/dev/null)"

# --- a second Ctrl-C quits at once, while the first one's cancel still waits on the
# service (its DELETE stalls for 10 minutes: without the second, the run would wait)
curl -s -X POST "$url/_emulator/faults" -d '{"rules":[{"method":"DELETE","path":"/v1/batch-query/jobs/*","fault":"stall_ms","ms":600000}]}' >/dev/null
rm -rf "$work/out"
tmux -S "$sock" send-keys -t 0 "clear; '$bin' run p.toml --state-dir st7 2>&1; echo \"exit=\$?\" >exit7" Enter
check "live display before two Ctrl-C" wait_for 60 shows_running
check "a job is on the service before two Ctrl-C" wait_for 60 active
tmux -S "$sock" send-keys -t 0 C-c
notice() { pane | grep -q 'interrupted: cancelling the jobs in flight on the server'; }
check "first Ctrl-C: the notice" wait_for 60 notice
check "first Ctrl-C: still cancelling (the DELETE stalls)" test ! -s "$work/exit7"
tmux -S "$sock" send-keys -t 0 C-c
check "second Ctrl-C: the run is gone within 20 s" wait_for 20 test -s "$work/exit7"
check "second Ctrl-C exits 130" grep -qx 'exit=130' "$work/exit7"
check "second Ctrl-C: no final file written" test -z "$(find "$work/out" -name '[^.]*.csv' 2>/dev/null)"
curl -s -X DELETE "$url/_emulator/faults" >/dev/null

# --- --progress never, in the same terminal: no display at any moment
tmux -S "$sock" send-keys -t 0 "clear; '$bin' run p.toml --state-dir st2 --progress never; echo \"exit=\$?\" >exit2" Enter
check "second run reaches the service" wait_for 60 active
pane >"$work/never.txt"
check "run ends" wait_for 120 test -s "$work/exit2"
pane >>"$work/never.txt"
check "--progress never draws nothing" bash -c "! grep -q 'AQUA JOBS' '$work/never.txt'"
check "--progress never keeps info logs" grep -q ' info job=billing job_id=[0-9a-f]*: submitted' "$work/never.txt"

# --- off a terminal: silent but for logs; no escape sequences
"$bin" run "$work/p.toml" --state-dir "$work/st3" 2>"$work/off.err"
check "off a terminal exits 0" test $? -eq 0
check "off a terminal: no display" bash -c "! grep -q 'AQUA JOBS' '$work/off.err'"
check "off a terminal: no escape sequences" bash -c "! grep -q $'\x1b' '$work/off.err'"
check "text logs name job and query" grep -Eq '^[0-9T:-]+Z info job=billing job_id=[0-9a-f]+ query=Account batch=[0-9a-f]+: committed 300 rows' "$work/off.err"

# --- --progress always off a terminal: plain totals lines (every 5 s: jobs of 6 s)
curl -s -X POST "$url/_emulator/faults" -d '{"rules":[{"path":"/v1/batch-query/","method":"POST","fault":"stall_ms","ms":6000,"times":1}]}' >/dev/null
"$bin" run "$work/p.toml" --state-dir "$work/st4" --progress always 2>"$work/always.err"
check "--progress always off a terminal exits 0" test $? -eq 0
check "--progress always prints plain progress lines" grep -Eq '^[0-9T:-]+Z info: progress: [0-9]+/2 AQuA jobs done' "$work/always.err"
check "--progress always off a terminal: no escape sequences" bash -c "! grep -q $'\x1b' '$work/always.err'"

# --- JSON lines, with a retry that carries its attempt
curl -s -X POST "$url/_emulator/faults" -d '{"rules":[{"path":"/v1/batch-query/jobs/*","method":"GET","fault":"status","code":503,"times":1}]}' >/dev/null
"$bin" run "$work/p.toml" --state-dir "$work/st5" --log-format json 2>"$work/json.err"
check "--log-format json exits 0" test $? -eq 0
cp "$work/json.err" "$work/json.lines"  # no table: the run report is the last record
check "every stderr line is one JSON object" jq_true -s 'length > 0 and all(type == "object" and has("ts") and has("level") and has("msg"))' "$work/json.lines"
check "as many JSON objects as lines" test "$(jq -c . "$work/json.lines" | wc -l)" -eq "$(wc -l <"$work/json.lines")"
check "the run report is the last record" jq_true -s '.[-1].report.status == "ok"' "$work/json.lines"
check "JSON commit records carry job, job_id, query and batch" \
  jq_true -s 'any(.msg | startswith("committed")) and all(.[] | select(.msg | startswith("committed")); has("job") and has("job_id") and has("query") and has("batch"))' "$work/json.lines"
check "the retry is a warning with its attempt (the second) and job id" \
  jq_true -s 'any(.level == "warning" and (.msg | startswith("retrying GET")) and .attempt == 2 and (.job_id | length) > 0)' "$work/json.lines"
check "the password never shows in the logs" bash -c "! grep -q '$secret' '$work/json.err' '$work/off.err' '$work/always.err'"

finish progress
