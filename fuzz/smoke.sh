#!/usr/bin/env bash
# Every libFuzzer target in BUILD_DIR/fuzz runs SECONDS seconds from the seed
# corpus (fuzz_seeds) and must end without a finding; two targets at a time
# (the build machine has 2 cores). `make test` runs it for 30 s (the smoke),
# `make fuzz` for 600 s; each line ends with the runs and the corpus size.
#   fuzz/smoke.sh BUILD_DIR [SECONDS]
set -euo pipefail
build=${1:?usage: fuzz/smoke.sh BUILD_DIR [SECONDS]}
seconds=${2:-60}
work="$build/fuzz-smoke"
rm -rf "$work"
mkdir -p "$work"
"$build/fuzz/fuzz_seeds" "$work/seeds"

targets=()
for exe in "$build"/fuzz/fuzz_*; do
  name=$(basename "$exe")
  [ -x "$exe" ] && [ -f "$exe" ] && [ "$name" != fuzz_seeds ] && targets+=("${name#fuzz_}")
done
echo "fuzz-smoke: ${#targets[@]} targets, ${seconds}s each, 2 at a time: ${targets[*]}"

run() {  # run TARGET: fuzz it; the log and any crash input stay in $work
  local t=$1 corpus="$work/corpus/$1"
  mkdir -p "$corpus"
  [ -d "$work/seeds/$t" ] && cp "$work/seeds/$t"/* "$corpus"/
  if "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$work/$t-" "$corpus" > "$work/$t.log" 2>&1; then
    echo "fuzz-smoke: $t ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$') runs, corpus $(find "$corpus" -type f | wc -l) inputs)"
  else
    echo "fuzz-smoke: $t FOUND A PROBLEM; log $work/$t.log, input $(ls "$work/$t"-* 2>/dev/null | head -1)"
    tail -40 "$work/$t.log"
    return 1
  fi
}

failed=0
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  pids=()
  for t in "${targets[@]:i:2}"; do
    run "$t" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
done
exit $failed
