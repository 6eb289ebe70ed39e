#!/usr/bin/env bash
# A throwaway local PostgreSQL for trying aquaduct's postgres sink, in seconds.
#
#   export AQUADUCT_PG_DSN=$(scripts/dev-postgres.sh start /tmp/aquaduct-pg)
#   psql "$AQUADUCT_PG_DSN" -c 'select 1'
#   scripts/dev-postgres.sh stop /tmp/aquaduct-pg        # stops it; `start` again reuses the data
#   scripts/dev-postgres.sh stop /tmp/aquaduct-pg --rm   # stops it and deletes DIR
#
# The server listens only on a Unix socket inside DIR (no TCP port, nothing to clash
# with), trusts local connections as user `aquaduct`, and keeps its data in DIR/data.
# `start` prints the libpq DSN on stdout (and only that); progress goes to stderr.
# As root, PostgreSQL refuses to run, so the server runs as the unprivileged user
# `aquaduct-pg` that scripts/install-deps.sh creates (or Debian's `postgres`).
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|dsn DIR [--rm]" >&2
  exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
dir=$(realpath -m "$2")

bindir=""
for v in 17 16 15 14 13; do
  if [ -x "/usr/lib/postgresql/$v/bin/initdb" ]; then bindir=/usr/lib/postgresql/$v/bin; break; fi
done
if [ -z "$bindir" ]; then
  echo "dev-postgres: no /usr/lib/postgresql/*/bin/initdb: run scripts/install-deps.sh first" >&2
  exit 1
fi

# Runs a PostgreSQL program as the server's user.
as_pg() {
  if [ "$(id -u)" -ne 0 ]; then
    "$@"
    return
  fi
  local user=aquaduct-pg
  id "$user" >/dev/null 2>&1 || user=postgres
  if ! id "$user" >/dev/null 2>&1; then
    echo "dev-postgres: running as root, but there is no user aquaduct-pg: run scripts/install-deps.sh" >&2
    exit 1
  fi
  runuser -u "$user" -- "$@"
}

dsn="host=$dir user=aquaduct dbname=postgres"

case "$cmd" in
  start)
    # A Unix socket path is limited to 107 bytes: DIR/.s.PGSQL.5432 must fit.
    if [ $((${#dir} + 16)) -gt 107 ]; then
      echo "dev-postgres: '$dir' is too long for a Unix socket path; choose a shorter DIR" >&2
      exit 2
    fi
    mkdir -p "$dir"
    chmod 755 "$dir"
    if [ "$(id -u)" -eq 0 ]; then
      user=aquaduct-pg
      id "$user" >/dev/null 2>&1 || user=postgres
      id "$user" >/dev/null 2>&1 && chown "$user:" "$dir"
    fi
    if ! as_pg test -w "$dir" -a -x "$dir"; then
      echo "dev-postgres: the server's user cannot write '$dir': every parent directory must be searchable (chmod o+x), e.g. not inside a 0700 mktemp -d" >&2
      exit 1
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      echo "dev-postgres: initdb $dir/data" >&2
      as_pg "$bindir/initdb" -D "$dir/data" -U aquaduct -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if as_pg "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      echo "dev-postgres: already running in $dir" >&2
    else
      as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-k $dir -c listen_addresses='' -c fsync=off" start >&2 ||
        { cat "$dir/server.log" >&2; exit 1; }
    fi
    echo "$dsn"
    ;;
  stop)
    if [ -f "$dir/data/PG_VERSION" ] && as_pg "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2
    fi
    if [ "${3:-}" = "--rm" ]; then rm -rf "$dir"; fi
    ;;
  dsn)
    echo "$dsn"
    ;;
  *)
    usage
    ;;
esac
