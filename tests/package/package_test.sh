#!/usr/bin/env bash
# aquaduct as a consumer gets it: examples/embed built against the library, run
# against the emulator, its row counts checked against what `aquaduct run` writes.
#
# Usage: package_test.sh MODE SOURCE_DIR BUILD_DIR BUILD_TYPE C_COMPILER CXX_COMPILER
#   MODE find_package      `cmake --install` BUILD_DIR into a fresh prefix; examples/embed
#                          through find_package(aquaduct); a one-file program through
#                          `pkg-config --cflags --libs aquaduct`; a missing dependency's message.
#   MODE add_subdirectory  examples/embed with -DAQUADUCT_SOURCE_DIR=SOURCE_DIR (the library
#                          compiled again, Release); its build dir stays in BUILD_DIR for reruns.
set -u
mode=$1
src=$(realpath "$2")
build=$(realpath "$3")
build_type=$4
cc=$5
cxx=$6
jobs=2
exec 3>&1  # the times, whatever a command's output is redirected to
work=$(mktemp -d)
trap 'kill "${EMU_PID:-}" 2>/dev/null; rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"  # check, wait_for, start_emulator, finish
finish() {
  echo "$mode: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}
must() {  # must NAME CONDITION...: check, and stop at once when it fails (the rest would only fail after it)
  check "$@" || finish
}
timed() {  # timed LABEL COMMAND...: runs it, prints its seconds
  local label=$1 start=$SECONDS rc
  shift
  "$@"
  rc=$?
  echo "time: $label took $((SECONDS - start)) s" >&3
  return $rc
}

# CSV records of a file, header excluded; a quoted field may hold newlines.
csv_records() {
  awk '{ quotes += gsub(/"/, "&") } quotes % 2 == 0 { records++ } END { print records - 1 }' "$1"
}

# check_counts NAME OUTPUT CSV_DIR: every "job/query: N rows" line of the
# program's OUTPUT equals the records of CSV_DIR/job/query.csv, every CSV has its
# line, and the summary adds them up.
check_counts() {
  local name=$1 output=$2 dir=$3 csv query rows expected total=0 files
  check "$name: counted some queries" grep -q ' rows$' "$output"
  while read -r csv; do
    query=${csv#"$dir"/}
    query=${query%.csv}
    expected=$(csv_records "$csv")
    total=$((total + expected))
    rows=$(sed -n "s|^$query: \([0-9]*\) rows$|\1|p" "$output")
    check "$name: $query counted as $expected rows (got '${rows}')" test "$rows" = "$expected"
  done < <(find "$dir" -name '*.csv' | sort)
  files=$(find "$dir" -name '*.csv' | wc -l)
  check "$name: one line per CSV" test "$(grep -c ' rows$' "$output")" -eq "$files"
  check "$name: summary of $files queries, $total rows" grep -q "^status ok: $files queries, $total rows in " "$output"
}

# A pipeline of two plain queries into CSV; base_url given as $1 (may be empty).
write_pipeline() {
  local file=$1 base_url=$2
  {
    echo "[source]"
    if [ -n "$base_url" ]; then
      printf 'base_url = "%s"\n[source.auth]\ntype = "api_key"\naccess_key_id = "aquaduct"\nsecret_access_key = "aquaduct"\n' "$base_url"
    fi
    cat <<'TOML'
[source.poll]
initial_ms = 50
max_ms = 500
[[jobs]]
name = "billing"
format = "gzip"
[[jobs.queries]]
name = "Account"
query = "select Id, Name, Balance, Status from Account"
[[jobs.queries]]
name = "Contact"
query = "select Id, AccountId, FirstName, LastName, Country from Contact"
[[sinks]]
type = "csv"
path = "out"
TOML
  } >"$file"
}

# run_both NAME AQUADUCT EMBED PIPELINE [EMBED_ARGS...]: `aquaduct run` and the
# embedder's program on the same pipeline, each in its own directory; the
# program's counts must equal the records of the CSV files the command wrote.
run_both() {
  local name=$1 bin=$2 embed=$3 pipeline=$4
  shift 4
  mkdir -p "$work/$name/cli" "$work/$name/embed"
  # A copy in each directory: its path = "out" is relative to the pipeline file.
  cp "$pipeline" "$work/$name/cli/pipeline.toml"
  cp "$pipeline" "$work/$name/embed/pipeline.toml"
  (cd "$work/$name/cli" && "$bin" run pipeline.toml --state-dir "$work/$name/state" 2>"$work/$name/cli.err")
  check "$name: aquaduct run exits 0" test $? -eq 0
  (cd "$work/$name/embed" && "$embed" pipeline.toml --state-dir "$work/$name/embed-state" "$@" \
    >"$work/$name/embed.out" 2>"$work/$name/embed.err")
  check "$name: the program exits 0" test $? -eq 0
  cat "$work/$name/embed.out"
  check_counts "$name" "$work/$name/embed.out" "$work/$name/cli/out"
  # Its CSV sink (from the pipeline file) wrote what the command wrote; a
  # partitioned query's windows may land in another order.
  check "$name: the program's CSV files are the command's" \
    test "$(cd "$work/$name/cli/out" && find . | sort)" = "$(cd "$work/$name/embed/out" && find . | sort)"
  while read -r csv; do
    check "$name: the program's $csv has the command's lines" \
      cmp -s <(sort "$work/$name/cli/out/$csv") <(sort "$work/$name/embed/out/$csv")
  done < <(cd "$work/$name/cli/out" && find . -name '*.csv' | sort)
  if [ "$failed" -gt 0 ]; then cat "$work/$name/cli.err" "$work/$name/embed.err"; fi
}

# An emulator of SCALE accounts from BIN; sets url.
start_emulator() {
  local bin=$1 scale=$2 line
  coproc EMU { exec "$bin" emulate --port 0 --latency-ms 50 --scale "$scale"; }
  EMU_PID=$EMU_PID
  read -t 60 -r line <&"${EMU[0]}"
  must "emulate prints its address first" bash -c "[[ '$line' =~ ^listening\ on\ http://[0-9.]+:[0-9]+$ ]]"
  url=${line#listening on }
}

configure() {  # configure BUILD_DIR CMAKE_ARGS...: examples/embed
  local dir=$1
  shift
  cmake -S "$src/examples/embed" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" "$@"
}

if [ "$mode" = find_package ]; then
  prefix=$work/prefix
  timed install cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 || cat "$work/install.log"
  must "cmake --install exits 0" test $? -eq 0
  for f in bin/aquaduct include/aquaduct/engine.hpp include/aquaduct/emulator.hpp lib/libaquaduct_engine.a \
    lib/libaquaduct_llhttp.a lib/cmake/aquaduct/aquaduct-config.cmake lib/cmake/aquaduct/aquaduct-config-version.cmake \
    lib/pkgconfig/aquaduct.pc; do
    check "installed $f" test -f "$prefix/$f"
  done
  # Public headers include only public or standard headers.
  check "public headers include nothing of the source tree" \
    test -z "$(grep -h '#include' "$prefix"/include/aquaduct/*.hpp | grep -v -e '<aquaduct/' -e '#include <[a-z_]*>')"
  check "no library dependency missing (ldd)" bash -c "! ldd '$prefix/bin/aquaduct' | grep -q 'not found'"
  echo "install size: $(du -sh "$prefix" | cut -f1); aquaduct binary $(du -h "$prefix/bin/aquaduct" | cut -f1)," \
    "$(ldd "$prefix/bin/aquaduct" | wc -l) shared libraries"

  timed configure_find configure "$work/embed-build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_CXX_FLAGS="-Wall -Wextra -Wpedantic -Werror" >"$work/configure.log" 2>&1
  check "examples/embed configures with find_package" test $? -eq 0 || { cat "$work/configure.log"; finish; }
  check "find_package found the installed tree" grep -qx "aquaduct_DIR:PATH=$prefix/lib/cmake/aquaduct" \
    "$work/embed-build/CMakeCache.txt"
  timed build_find cmake --build "$work/embed-build" -j $jobs >"$work/build.log" 2>&1
  check "examples/embed builds against the install" test $? -eq 0 || { cat "$work/build.log"; finish; }
  embed=$work/embed-build/embed

  # A pipeline against `aquaduct emulate` (the installed one), and one served in-process.
  scale=50
  start_emulator "$prefix/bin/aquaduct" $scale
  write_pipeline "$work/remote.toml" "$url"
  run_both remote "$prefix/bin/aquaduct" "$embed" "$work/remote.toml"
  check "remote: Account rows = the emulator's --scale" grep -qx "billing/Account: $scale rows" "$work/remote/embed.out"
  # The demo (plain, partitioned and stateful queries), served in-process by both.
  run_both demo "$prefix/bin/aquaduct" "$embed" "$src/examples/demo.toml" --emulator
  check "demo: the partitioned query's windows add up in one line" grep -q '^invoices/Invoice: [0-9]* rows$' \
    "$work/demo/embed.out"
  sed 's/secret_access_key = "aquaduct"/secret_access_key = "wrong"/' "$work/remote.toml" >"$work/wrong.toml"
  (cd "$work" && "$embed" "$work/wrong.toml" >/dev/null 2>&1)
  check "refused credentials: the report's exit code 3" test $? -eq 3
  write_pipeline "$work/local.toml" ""
  "$embed" "$work/local.toml" >/dev/null 2>"$work/no_url.err"
  check "no base_url and no --emulator: exit 2" test $? -eq 2
  check "no base_url: says what to do" grep -q 'no \[source\] base_url: pass --base-url URL or --emulator' "$work/no_url.err"

  # pkg-config: one file, config built in code, rows counted by a callback.
  cat >"$work/count.cpp" <<'CPP'
#include <aquaduct/engine.hpp>
#include <cstdio>
#include <string>
int main(int, char** argv) {
  auto cfg = aquaduct::parse_pipeline(
      "[source]\nbase_url = \"" + std::string(argv[1]) + "\"\n"
      "[source.auth]\ntype = \"oauth\"\nclient_id = \"aquaduct\"\nclient_secret = \"aquaduct\"\n"
      "[[jobs]]\nname = \"j\"\n[[jobs.queries]]\nname = \"Account\"\nquery = \"select Id from Account\"\n",
      "count.toml");
  std::size_t rows = 0;
  aquaduct::engine eng{cfg};
  eng.add_sink(aquaduct::make_callback_sink([&](const aquaduct::row_batch& b) { rows += b.size(); }));
  const auto report = eng.run();
  std::printf("%zu\n", rows);
  return report.exit_code();
}
CPP
  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
  check "pkg-config knows aquaduct" pkg-config --exists aquaduct
  echo "pkg-config --cflags --libs aquaduct: $(pkg-config --cflags --libs aquaduct)"
  # shellcheck disable=SC2046
  timed build_pkg_config "$cxx" -std=c++20 -O1 -Wall -Wextra -Werror "$work/count.cpp" -o "$work/count" $(pkg-config --cflags --libs aquaduct) \
    2>"$work/pkg.log"
  check "a program builds with pkg-config --cflags --libs aquaduct" test $? -eq 0 || cat "$work/pkg.log"
  check "the pkg-config program counts the emulator's accounts" test "$("$work/count" "$url")" = "$scale"

  # A missing dependency stops find_package with its name and the package to install.
  configure "$work/missing-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_DISABLE_FIND_PACKAGE_SQLite3=ON \
    >"$work/missing.log" 2>&1
  check "find_package fails when SQLite3 is missing" test $? -ne 0
  # (CMake wraps the message: compare it with the lines joined)
  check "the failure names SQLite3 and its Debian package" bash -c "tr -s ' \n' '  ' <'$work/missing.log' |
    grep -qF 'aquaduct needs SQLite3, which was not found (Debian: apt-get install libsqlite3-dev)'"
  finish
fi

if [ "$mode" = add_subdirectory ]; then
  dir=$build/tests/package/add_subdirectory
  # Release whatever the outer build is: this compiles the library once more.
  build_type=Release
  # An embedder needs no CLI11: the command is not built inside another project.
  timed configure_subdir configure "$dir" -DAQUADUCT_SOURCE_DIR="$src" -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=ON \
    >"$work/configure.log" 2>&1
  check "examples/embed configures with add_subdirectory, without CLI11" test $? -eq 0 || { cat "$work/configure.log"; finish; }
  check "its tests and benchmarks are not built" bash -c "! grep -q 'test_engine\|decode_bench' '$dir/build.ninja'"
  timed build_subdir cmake --build "$dir" -j $jobs --target embed >"$work/build.log" 2>&1
  check "examples/embed builds with the library's sources" test $? -eq 0 || { tail -50 "$work/build.log"; finish; }
  check "nothing but the program and its libraries was built" test ! -e "$dir/aquaduct/aquaduct"
  run_both demo "$build/aquaduct" "$dir/embed" "$src/examples/demo.toml" --emulator
  finish
fi

echo "unknown mode $mode"
exit 2
