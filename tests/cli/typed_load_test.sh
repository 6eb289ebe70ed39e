#!/usr/bin/env bash
# Issue 17's "done when", as a user would do it: against `aquaduct emulate`,
# `aquaduct discover --write p.toml` and then `aquaduct run p.toml` with a postgres and an
# sqlite sink load every object of the tenant, typed. The oracle is the emulator itself:
#   - each column's PostgreSQL type (information_schema.columns) and SQLite type is the one
#     docs/sinks.md maps describe's type to (describe asked with curl, not through aquaduct);
#   - each value equals the emulator's own export of the same query (an AQuA job submitted,
#     polled and downloaded here with urllib, no aquaduct code), compared by meaning: numeric
#     digits exactly (Decimal), datetimes as instants, booleans, dates, integers, text
#     byte for byte, an empty field as NULL.
# Usage: typed_load_test.sh AQUADUCT_BINARY PROJECT_SOURCE_DIR
set -u
bin=$(realpath "$1")
src=$(realpath "$2")
work=$(mktemp -d)
chmod 755 "$work"  # as root, scripts/dev-postgres.sh runs the server as aquaduct-pg: it must reach $work/pg
trap 'stop_emulators; "$src/scripts/dev-postgres.sh" stop "$work/pg" >/dev/null 2>&1; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"  # check, wait_for, start_emulator, finish

start_emulator url --seed 17 --scale 4 --tz America/Los_Angeles || exit 1
dsn=$("$src/scripts/dev-postgres.sh" start "$work/pg" 2>"$work/pg.err")
check "a local PostgreSQL starts" test -n "$dsn"
[ -n "$dsn" ] || { cat "$work/pg.err"; finish typed_load; exit 1; }

mkdir -p "$work/conf"
export TYPED_PASSWORD=aquaduct
cat >"$work/conf/source.toml" <<TOML
[source]
base_url = "$url"
[source.auth]
type = "basic"
username = "aquaduct"
password = "\${TYPED_PASSWORD}"
[source.poll]
initial_ms = 20
max_ms = 200
[[sinks]]
type = "postgres"
dsn = "$dsn"
[[sinks]]
type = "sqlite"
path = "warehouse.db"
TOML
"$bin" discover --config "$work/conf/source.toml" --write "$work/conf/p.toml" >"$work/discover.out" 2>&1
check "discover --write exits 0" test $? -eq 0
"$bin" validate --connect "$work/conf/p.toml" >"$work/validate.out" 2>&1
check "the written pipeline validates against the tenant" test $? -eq 0
# A Pacific tenant writes datetimes with its offset when asked (-0800 in winter, -0700 in summer).
sed -i 's/^name = "zuora"$/name = "zuora"\ndate_time_utc = false/' "$work/conf/p.toml"
"$bin" run "$work/conf/p.toml" --state-dir "$work/state" --progress never --report "$work/report.json" \
  >"$work/run.out" 2>&1
check "the run of the written pipeline exits 0" test $? -eq 0

/usr/bin/python3 - "$url" "$dsn" "$work/conf/p.toml" "$work/conf/warehouse.db" "$work/report.json" \
  >"$work/judge.out" 2>&1 <<'PY'
import csv, io, json, re, sqlite3, subprocess, sys, time, tomllib, urllib.request
from datetime import date, datetime
from decimal import Decimal

url, dsn, pipeline, db, report = sys.argv[1:6]
auth = {"apiAccessKeyId": "aquaduct", "apiSecretAccessKey": "aquaduct"}
problems = []

def call(method, path, body=None):
    req = urllib.request.Request(url + path, method=method, headers=dict(auth, **{"Content-Type": "application/json"}),
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read()

def describe(obj):
    xml = call("GET", "/v1/describe/" + obj).decode()
    return {m.group(1): m.group(2) for m in re.finditer(r"<field><name>([^<]*)</name><label>[^<]*</label><type>([^<]*)</type>", xml)}

def export(name, query):  # the emulator's own rows for `query`, as a user's curl would fetch them
    job = json.loads(call("POST", "/v1/batch-query/", {"format": "csv", "version": "1.1", "useQueryLabels": "true",
                                                         "dateTimeUtc": "false", "queries": [{"name": name, "query": query, "type": "zoqlexport"}]}))
    deadline = time.monotonic() + 120
    while job["status"] not in ("completed", "error", "aborted", "cancelled"):
        assert time.monotonic() < deadline, f"{name}: the export did not complete"
        time.sleep(0.05)
        job = json.loads(call("GET", "/v1/batch-query/jobs/" + job["id"]))
    assert job["status"] == "completed", job
    rows = list(csv.reader(io.StringIO(call("GET", "/v1/file/" + job["batches"][0]["fileId"]).decode())))
    return rows[0], rows[1:]

pg_type = {"text": "text", "picklist": "text", "longtext": "text", "boolean": "boolean", "integer": "bigint",
           "decimal": "numeric", "date": "date", "datetime": "timestamp with time zone",
           "timestamp": "timestamp with time zone"}

def psql(sql):
    out = subprocess.run(["psql", dsn, "-XA", "--csv", "-c", sql], capture_output=True, text=True, check=True).stdout
    return list(csv.reader(io.StringIO(out)))

def instant(text):  # an export datetime (+hhmm, or a date alone at midnight) or PostgreSQL's (+hh)
    if len(text) == 10:
        return datetime.fromisoformat(text + "T00:00:00+00:00")
    m = re.fullmatch(r"(.{10})[T ](\d\d:\d\d:\d\d)([+-]\d\d)(:?(\d\d))?", text)
    assert m, f"not a datetime: {text!r}"
    return datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{m.group(3)}:{m.group(5) or '00'}")

def same(kind, want, got, where):  # want: the export's text; got: the sink's value as text (None: NULL)
    if want == "":
        return got is None or (kind in ("text", "picklist", "longtext") and got == "")
    if got is None:
        return False
    if kind == "decimal":
        return Decimal(want) == Decimal(got)  # exact: no float on either side
    if kind == "integer":
        return int(want) == int(got)
    if kind == "boolean":
        return {"true": True, "false": False}[want] == {"t": True, "f": False, "true": True, "false": False, "1": True, "0": False}[got]
    if kind == "date":
        return date.fromisoformat(want) == date.fromisoformat(got)
    if kind in ("datetime", "timestamp"):
        return instant(want) == instant(got)
    return want == got

queries = tomllib.load(open(pipeline, "rb"))["jobs"][0]["queries"]
lite = sqlite3.connect(db)
typed_cells = {"numeric": 0, "timestamp with time zone": 0, "boolean": 0, "bigint": 0, "date": 0}
offsets = set()
for q in queries:
    name, query = q["name"], q["query"]
    fields = describe(name)
    header, rows = export(name, query)
    table = f"zuora__{name}"
    cols = {r[0]: r[1] for r in psql(f"select column_name, data_type from information_schema.columns where table_name = '{table}'")[1:]}
    for h in header:
        obj, _, field = h.partition(".")
        kind = fields.get(field, "text") if obj == name else "text"
        if h == f"{name}.IsDeleted":
            kind = "boolean"
        want_type = pg_type.get(kind, "text")
        if cols.get(h) != want_type:
            problems.append(f"{table}.{h}: postgres type {cols.get(h)}, describe says {kind} ({want_type})")
    pg_rows = psql(f'select * from "{table}"')
    pg_header, pg_data = pg_rows[0], pg_rows[1:]
    # psql --csv writes NULL as an empty field: a typed column's empty field must be NULL (any
    # other text would not be empty), a text column's may be NULL or ''.
    lite_cur = lite.execute(f'select * from "{table}"')
    lite_header = [d[0] for d in lite_cur.description]
    lite_data = lite_cur.fetchall()
    id_col = f"{name}.Id"
    if len(rows) != len(pg_data) or len(rows) != len(lite_data):
        problems.append(f"{table}: the export has {len(rows)} rows, postgres {len(pg_data)}, sqlite {len(lite_data)}")
    by_id_pg = {r[pg_header.index(id_col)]: r for r in pg_data}
    by_id_lite = {r[lite_header.index(id_col)]: r for r in lite_data}
    for row in rows:
        rid = row[header.index(id_col)]
        for i, h in enumerate(header):
            obj, _, field = h.partition(".")
            kind = fields.get(field, "text") if obj == name else "text"
            want = row[i]
            if re.search(r"T\d\d:\d\d:\d\d[+-]\d{4}$", want):
                offsets.add(want[-5:])
            p = by_id_pg.get(rid)
            got = None if p is None or p[pg_header.index(h)] == "" else p[pg_header.index(h)]
            if p is None or not same(kind, want, got if kind not in ("text", "picklist", "longtext") else (got or ""), h):
                problems.append(f"{table} {rid} {h} ({kind}): the export says {want!r}, postgres {None if p is None else got!r}")
            elif want != "" and pg_type.get(kind) in typed_cells:
                typed_cells[pg_type[kind]] += 1
            s = by_id_lite.get(rid)
            lv = None if s is None else s[lite_header.index(h)]
            if s is None or not same(kind, want, None if lv is None else str(lv), h):
                problems.append(f"{table} {rid} {h} ({kind}): the export says {want!r}, sqlite {lv!r}")

for t, n in typed_cells.items():
    if n == 0:
        problems.append(f"no non-empty {t} value was compared")
if not any(o.startswith("-08") for o in offsets):
    problems.append(f"no -0800 datetime seen (offsets {sorted(offsets)})")
big = psql('select "Account.LedgerBalance"::text from "zuora__Account" where "Account.LedgerBalance" is not null')
if ["12345678901234567.123456789"] not in big[1:]:
    problems.append("Account.LedgerBalance 12345678901234567.123456789 is not in postgres exactly")
objects = len(re.findall(r"<object ", call("GET", "/v1/describe").decode()))
if len(queries) != objects:
    problems.append(f"the pipeline has {len(queries)} queries, the tenant {objects} objects")
for p in problems[:40]:
    print("PROBLEM:", p)
print(f"{len(queries)} objects; typed values compared: {typed_cells}; offsets seen: {sorted(offsets)}; {len(problems)} problems")
sys.exit(1 if problems else 0)
PY
status=$?
cat "$work/judge.out"
check "postgres and sqlite hold every object with describe's types and the export's values, exactly" test $status -eq 0
finish typed_load
