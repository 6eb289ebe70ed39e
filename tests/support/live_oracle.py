#!/usr/bin/env python3
"""Judges a sink's content against the emulator's truth (docs/emulator.md, "The truth oracle").

The promise of a run that started at S and ended at E on a live tenant
(docs/architecture.md, "Delivery guarantee"):
  1. every row alive at S and not deleted before E is in the sink;
  2. no row is there twice;
  3. no row deleted before S is there, unless it is flagged deleted;
  4. every row's version (UpdatedDate) is at least its version at S.

Usage:
  live_oracle.py --truth URL --object O --start S --end E --label NAME
                 (--sqlite DB --table T | --csv FILE [FILE ...])
                 --id COLUMN --updated COLUMN [--deleted COLUMN [--deleted-true TEXT]]
S and E are YYYY-MM-DDTHH:MM:SSZ. One table (or one full file) is a "table": every
Id at most once. Several csv files (a stateful query's full file and its incremental
files) are judged together: no Id twice within one file, and for each Id its newest
record (by version) counts. Prints one line per broken promise (at most 10 of each,
with counts) and exits 1 when any is broken; prints a summary line either way.
"""
import argparse
import csv
import json
import sqlite3
import sys
import urllib.parse
import urllib.request


def truth_at(url, obj, at):
    q = urllib.parse.urlencode({"object": obj, "at": at})
    with urllib.request.urlopen(f"{url}/_emulator/truth?{q}", timeout=120) as r:
        return json.load(r)


def records_from_sqlite(db, table, cols):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
        tq = '"' + table.replace('"', '""') + '"'
        return [tuple(row) for row in con.execute(f"select {quoted} from {tq}")]
    finally:
        con.close()


def records_from_csv(path, cols):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        return []
    header = rows[0]
    missing = [c for c in cols if c not in header]
    if missing:
        raise SystemExit(f"{path}: no column {missing} in header {header}")
    at = [header.index(c) for c in cols]
    return [tuple(r[i] for i in at) for r in rows[1:]]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--truth", required=True)
    p.add_argument("--object", required=True)
    p.add_argument("--start", required=True)
    p.add_argument("--end", required=True)
    p.add_argument("--label", required=True)
    p.add_argument("--sqlite")
    p.add_argument("--table")
    p.add_argument("--csv", nargs="+")
    p.add_argument("--id", required=True)
    p.add_argument("--updated", required=True)
    p.add_argument("--deleted")
    p.add_argument("--deleted-true", default="true")
    a = p.parse_args()

    start = truth_at(a.truth, a.object, a.start)
    # A deletion's time is known in any answer: `deleted` lists all of them.
    deletions = start["deleted"]
    s_text, e_text = a.start[:-1] + "+0000", a.end[:-1] + "+0000"
    deleted_before = lambda i, t: i in deletions and deletions[i] < t

    cols = [a.id, a.updated] + ([a.deleted] if a.deleted else [])
    problems = {"missing": [], "twice": [], "deleted before S": [], "older than at S": []}
    if a.sqlite:
        sources = [(a.table, records_from_sqlite(a.sqlite, a.table, cols))]
    else:
        sources = [(f, records_from_csv(f, cols)) for f in a.csv]

    newest = {}  # id -> (version, flagged)
    for name, recs in sources:
        seen = set()
        for rec in recs:
            rid, version = rec[0], rec[1]
            flagged = a.deleted is not None and rec[2] == a.deleted_true
            if rid in seen:
                problems["twice"].append(f"{rid} in {name}")
            seen.add(rid)
            if rid not in newest or version > newest[rid][0]:
                newest[rid] = (version, flagged)
    for rid, (version, flagged) in newest.items():
        if deleted_before(rid, s_text) and not flagged:
            problems["deleted before S"].append(f"{rid} (deleted {deletions[rid]}, held at {version})")
        if rid in start["live"] and not flagged and version < start["live"][rid]:
            problems["older than at S"].append(f"{rid}: {version} < {start['live'][rid]}")
    for rid in start["live"]:
        if deleted_before(rid, e_text):
            continue
        if rid not in newest or newest[rid][1]:
            problems["missing"].append(rid)

    broken = {k: v for k, v in problems.items() if v}
    for kind, items in broken.items():
        print(f"{a.label}: {len(items)} row(s) {kind}: " + ", ".join(items[:10]) + (" ..." if len(items) > 10 else ""))
    held = sum(1 for v in newest.values() if not v[1])
    print(f"{a.label}: {'BROKEN' if broken else 'ok'}: {held} rows held; {len(start['live'])} alive at S "
          f"{a.start}, {sum(1 for i in start['live'] if deleted_before(i, e_text))} of them deleted before E {a.end}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
