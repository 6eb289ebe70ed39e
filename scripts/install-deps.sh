#!/usr/bin/env bash
# Installs every Debian 12 package aquaduct needs to build, test and demo.
# Idempotent: installs only what is missing. Nothing comes from outside Debian's archive.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config ca-certificates
  # from the design
  libasio-dev libssl-dev libsimdjson-dev zlib1g-dev libarchive-dev libfmt-dev doctest-dev
  # fast inflate, HTTP parsing (llhttp C sources), CLI, config
  libisal-dev node-llhttp libcli11-dev libtomlplusplus-dev
  # describe's XML (decode/describe_xml.cpp)
  libexpat1-dev
  # OpenPGP: decrypting encrypted results in process (client), encrypting them (emulator);
  # gnupg makes the tests' throwaway keys
  librnp-dev gnupg
  # sinks
  libsqlite3-dev libpq-dev
  # PostgreSQL server for the sink tests; tools the tests and benches use as baselines
  postgresql gzip curl bc
  # fuzzing (libFuzzer ships in libclang-rt) and the zip tests' archives
  clang libclang-rt-14-dev zip unzip
  # the sqlite3 CLI: the sink bench's baseline
  sqlite3
  # the emulator's TLS tests make a throwaway CA with the openssl command
  openssl
  # the emulator-data tests check describe XML with xmllint
  libxml2-utils
  # docs/emulator.md's curl walkthrough reads JSON answers with jq
  jq
  # the engine's window tests check the Pacific wall clock against `TZ=America/Los_Angeles date`
  tzdata
  # IANA time zones for the tenant's wall clock (engine and emulator): Howard Hinnant's date/tz
  # reading the system tzdata (g++ 12's <chrono> has no time zones)
  libhowardhinnant-date-dev
  # the CLI's progress display is tested in a real terminal
  tmux
  # bench/plot.py draws the bench records' plots
  gnuplot-nox
  # examples/singer/target_csv.py, and the examples test's CSV/YAML checks (tests/examples)
  python3 python3-yaml
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# The sink tests run PostgreSQL, which refuses root: as root, they run it as this
# unprivileged user (tests/support/postgres_server.hpp).
if [ "$(id -u)" -eq 0 ] && ! id aquaduct-pg >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin aquaduct-pg
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
