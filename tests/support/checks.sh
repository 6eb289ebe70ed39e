# Sourced by the shell tests, after they set `bin` (the aquaduct binary) and
# `work` (their scratch directory):
#   check NAME CONDITION...     one assertion: counts it, prints FAILED: NAME when CONDITION fails
#   wait_for SECONDS CONDITION...
#                               polls CONDITION every 0.1 s until it holds (status 0) or
#                               SECONDS have passed (status 1); never a sleep standing in for it
#   start_emulator VAR ARGS...  `aquaduct emulate --port 0 ARGS` in the background; VAR is set
#                               to its URL once it listens (status 1 when it did not start)
#   stop_emulators              kills them: call it from the script's EXIT trap
#   jq_true ARGS...             jq ARGS prints exactly `true` (jq -e alone passes empty input)
#   finish NAME                 prints the tally; its status is the script's
passed=0
failed=0
emulator_pids=()

check() {
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $name"; fi
}

wait_for() {
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@"; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

start_emulator() {
  local var=$1 line="" fd fifo="$work/emulator.${#emulator_pids[@]}"
  shift
  mkfifo "$fifo"
  "$bin" emulate --port 0 "$@" >"$fifo" 2>"$fifo.log" &
  emulator_pids+=($!)
  exec {fd}<"$fifo"  # kept open: the emulator's stdout never breaks
  read -t 30 -r line <&"$fd"
  if [[ $line != "listening on "* ]]; then
    echo "the emulator did not start: $(cat "$fifo.log")"
    return 1
  fi
  printf -v "$var" '%s' "${line#listening on }"
}

stop_emulators() {
  local p
  for p in "${emulator_pids[@]}"; do kill "$p" 2>/dev/null; done
}

jq_true() {
  [ "$(jq "$@")" = true ]
}

finish() {
  echo "$1: $passed passed, $failed failed"
  test "$failed" -eq 0
}
