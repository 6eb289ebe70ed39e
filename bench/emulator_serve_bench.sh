#!/usr/bin/env bash
# How fast the emulator serves a large gzip result: `curl` downloading it over loopback
# against the baseline of `cat`ing the same bytes through a pipe into curl's output
# (`cat FILE | curl file:///dev/stdin`), best of 5 each, in the same run. Also reports the
# rows/s the emulator generates (submit -> completed with --latency-ms 0) and its peak RSS.
# When python3 is there, a third figure: a minimal blocking sendfile(2) HTTP server serving
# the same file, i.e. what curl over TCP loopback can take at best on this machine.
#   bench/emulator_serve_bench.sh [AQUADUCT_BINARY] [ACCOUNTS]
# ACCOUNTS 200000 gives a 10-million-row InvoiceItem result.
set -euo pipefail
bin=${1:-build/rel/aquaduct}
scale=${2:-20000}
work=$(mktemp -d)
EMU_PID=""
trap '[ -n "$EMU_PID" ] && kill "$EMU_PID" 2>/dev/null; rm -rf "$work"' EXIT

coproc EMU { exec "$bin" emulate --port 0 --scale "$scale" --latency-ms 0 --segment-rows 0 --rate-limit 0 \
  --data-dir "$work/data"; }
EMU_PID=$EMU_PID
read -t 60 -r line <&"${EMU[0]}"
url=${line#listening on }
auth=(-u aquaduct:aquaduct)
now() { date +%s.%N; }
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b) ? a : b }'; }

body='{"format":"gzip","version":"1.0","name":"bench","useQueryLabels":true,"dateTimeUtc":true,"queries":[{"name":"InvoiceItem","type":"zoqlexport","query":"select * from InvoiceItem"}]}'
t0=$(now)
id=$(curl -sf "${auth[@]}" -H 'Content-Type: application/json' -d "$body" "$url/v1/batch-query/" |
  grep -o '"id":"[0-9a-f]*"' | tail -1 | cut -d'"' -f4)
job=""
for _ in $(seq 1 36000); do
  job=$(curl -sf "${auth[@]}" "$url/v1/batch-query/jobs/$id")
  case "$job" in *'"status":"completed","format"'*) break ;; esac
  case "$job" in *'"status":"aborted"'*) echo "the job aborted: $job" >&2; exit 1 ;; esac
  sleep 0.05
done
t1=$(now)
file=$(echo "$job" | grep -o '"fileId":"[0-9a-f]*"' | cut -d'"' -f4)
rows=$(echo "$job" | grep -o '"recordCount":[0-9]*' | cut -d: -f2)
[ -n "$file" ] || { echo "the job did not complete with one file: $job" >&2; exit 1; }
gen_s=$(echo "$t1 - $t0" | bc -l)

curl -sf "${auth[@]}" -o "$work/result.gz" "$url/v1/file/$file"
bytes=$(stat -c %s "$work/result.gz")
gzip -t "$work/result.gz"

emu_best=999999
base_best=999999
for _ in 1 2 3 4 5; do
  t0=$(now)
  curl -sf "${auth[@]}" -o /dev/null "$url/v1/file/$file"
  t1=$(now)
  emu_best=$(best "$(echo "$t1 - $t0" | bc -l)" "$emu_best")
  t0=$(now)
  cat "$work/result.gz" | curl -sf -o /dev/null file:///dev/stdin
  t1=$(now)
  base_best=$(best "$(echo "$t1 - $t0" | bc -l)" "$base_best")
done
rss_kb=$(awk '/VmHWM/ { print $2 }' "/proc/$EMU_PID/status")

ideal_best=""
if command -v python3 >/dev/null; then
  cat >"$work/sendfile_server.py" <<'PY'
import os, socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
print(s.getsockname()[1], flush=True)
fd = os.open(sys.argv[1], os.O_RDONLY); size = os.fstat(fd).st_size
while True:
    c, _ = s.accept(); c.recv(65536)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size)
    off = 0
    while off < size:
        off += os.sendfile(c.fileno(), fd, off, size - off)
    c.close()
PY
  python3 "$work/sendfile_server.py" "$work/result.gz" >"$work/ideal.port" &
  IDEAL_PID=$!
  ideal_port=""
  for _ in $(seq 1 300); do
    ideal_port=$(head -1 "$work/ideal.port")
    [ -n "$ideal_port" ] && break
    sleep 0.1
  done
  ideal_best=999999
  for _ in 1 2 3 4 5; do
    t0=$(now)
    curl -sf -o /dev/null "http://127.0.0.1:$ideal_port/x"
    t1=$(now)
    ideal_best=$(best "$(echo "$t1 - $t0" | bc -l)" "$ideal_best")
  done
  kill "$IDEAL_PID" 2>/dev/null || true
fi

mb=$(echo "$bytes / 1000000" | bc -l)
printf 'result: %d rows of InvoiceItem, gzip %.1f MB (scale %d)\n' "$rows" "$mb" "$scale"
printf 'generation:  %.2f s submit->completed = %.0f rows/s\n' "$gen_s" "$(echo "$rows / $gen_s" | bc -l)"
printf 'emulator:    curl over loopback        %.3f s  %8.1f MB/s\n' "$emu_best" "$(echo "$mb / $emu_best" | bc -l)"
printf 'baseline:    cat FILE | curl file://   %.3f s  %8.1f MB/s\n' "$base_best" "$(echo "$mb / $base_best" | bc -l)"
printf 'ratio emulator/baseline (speed): %.2f\n' "$(echo "$base_best / $emu_best" | bc -l)"
if [ -n "$ideal_best" ]; then
  printf 'ceiling:     minimal sendfile server   %.3f s  %8.1f MB/s\n' "$ideal_best" "$(echo "$mb / $ideal_best" | bc -l)"
  printf 'ratio emulator/ceiling (speed): %.2f\n' "$(echo "$ideal_best / $emu_best" | bc -l)"
fi
printf 'emulator peak RSS: %.1f MB\n' "$(echo "$rss_kb / 1024" | bc -l)"
