#!/usr/bin/env python3
"""Judges sink content against the emulator's truth (docs/emulator.md, "The truth oracle").

The promise of a run that started at S and ended at E on a live tenant
(docs/architecture.md, "Delivery guarantee"):
  1. every row alive at S and not deleted before E is in the sink;
  2. no row is there twice;
  3. no row deleted before S is there, unless it is flagged deleted;
  4. every row's version (UpdatedDate) is at least its version at S.
Beyond the promise, it also reports an Id the tenant never had before E (an invented or
mangled row).

Usage, one sink:
  live_oracle.py --truth URL --start S --end E  --object O --label NAME
                 (--sqlite DB --table T | --csv FILE [FILE ...])
                 --id COLUMN --updated COLUMN [--deleted COLUMN [--deleted-true TEXT]]
or many sinks of one run, each judged on its own (the truth of each object is asked once):
  live_oracle.py --truth URL --start S --end E --plan FILE
where each line of FILE (`-`: stdin) holds the per-sink options above (--object to
--deleted-true), split as a shell would split them; blank lines and `#` lines are skipped.
A test that breaks a copy of a sink on purpose (to show the oracle sees it) needs a row the
promise holds for certain:
  live_oracle.py --truth URL --start S --end E --alive-throughout O
prints the first Id of O (in id order) alive at S and still alive at E.

S and E are YYYY-MM-DDTHH:MM:SSZ, as the truth endpoint takes them ("as a job starting at
that second sees the tenant"). So that the check is exact and never flaky, S is the second
the run started in, rounded DOWN (no job of the run started earlier, so every change the
truth counts before S is in every job's snapshot), and E is the second it ended in, rounded
DOWN too (no job of the run started later, so a row deleted at E or after was alive for
every job).

One table (or one csv file) holds every Id at most once. Several csv files given together
(a stateful query's full file and its incremental files) are judged as one set: no Id twice
within one file, and for each Id its newest record (by version; a deleted flag wins a tie)
counts. Prints one line per broken promise (at most 10 examples of each, with counts) and a
summary line per sink; exits 1 when any promise is broken, 2 on bad usage or input.
"""
import argparse
import csv
import json
import re
import shlex
import sqlite3
import sys
import urllib.error
import urllib.parse
import urllib.request

INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class bad_input(Exception):
    pass


def instant(text):
    if not INSTANT.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not YYYY-MM-DDTHH:MM:SSZ")
    return text


def as_version(text):
    """An instant in the form the truth and the result files use (`...+0000`)."""
    return text[:-1] + "+0000"


class truth:
    """The truth of each object at S, asked once per object."""

    def __init__(self, url, at):
        self.url, self.at, self.cache = url, at, {}

    def of(self, obj):
        if obj not in self.cache:
            q = urllib.parse.urlencode({"object": obj, "at": self.at})
            try:
                with urllib.request.urlopen(f"{self.url}/_emulator/truth?{q}", timeout=120) as r:
                    self.cache[obj] = json.load(r)
            except urllib.error.HTTPError as e:
                raise bad_input(f"the truth of {obj} at {self.at} from {self.url}: {e}: {e.read().decode(errors='replace')}")
            except OSError as e:
                raise bad_input(f"the truth of {obj} at {self.at} from {self.url}: {e}")
        return self.cache[obj]


def records_from_sqlite(db, table, cols):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise bad_input(f"{db}: {e}")
    try:
        quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
        tq = '"' + table.replace('"', '""') + '"'
        return [tuple("" if v is None else str(v) for v in row) for row in con.execute(f"select {quoted} from {tq}")]
    except sqlite3.Error as e:
        raise bad_input(f"{db}, table {table}: {e}")
    finally:
        con.close()


def export_time(text):
    """A typed sink's RFC 3339 datetime (`...+00:00`) in the export's form (`...+0000`)."""
    if len(text) >= 6 and text[-3] == ":" and text[-6] in "+-":
        return text[:-3] + text[-2:]
    return text


def records_from_csv(path, cols):
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise bad_input(f"{path}: {e}")
    if not rows:
        return []
    header = rows[0]
    missing = [c for c in cols if c not in header]
    if missing:
        raise bad_input(f"{path}: no column {missing} in header {header}")
    at = [header.index(c) for c in cols]
    out = []
    for n, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise bad_input(f"{path}: record {n} has {len(r)} fields, the header {len(header)}")
        out.append(tuple(r[i] for i in at))
    return out


def judge(a, start_truth, end_truth, s_text, e_text, label, out):
    """Judges one sink (one table, or one set of csv files); returns True when every promise holds."""
    deletions = start_truth["deleted"]  # every deletion, before and after S, with its time
    alive_at_s = start_truth["live"]  # Id -> version at S
    alive_at_e = end_truth["live"]
    deleted_before = lambda i, t: i in deletions and deletions[i] < t

    cols = [a.id, a.updated] + ([a.deleted] if a.deleted else [])
    if a.sqlite:
        sources = [(a.table, records_from_sqlite(a.sqlite, a.table, cols))]
    else:
        sources = [(f, records_from_csv(f, cols)) for f in a.csv]

    problems = {"missing": [], "twice": [], "deleted before S": [], "older than at S": [], "not of the tenant": []}
    newest = {}  # Id -> (version, flagged)
    for name, recs in sources:
        seen = set()
        for rec in recs:
            rid, version = rec[0], export_time(str(rec[1]))
            # A typed SQL sink stores the flag as a boolean (1 in SQLite).
            flagged = a.deleted is not None and str(rec[2]) in (a.deleted_true, "1" if a.sqlite else a.deleted_true)
            if rid in seen:
                problems["twice"].append(f"{rid} in {name}")
            seen.add(rid)
            # A deletion is final: its flag wins over an unflagged record of the same version.
            if rid not in newest or (version, flagged) > newest[rid]:
                newest[rid] = (version, flagged)
    for rid, (version, flagged) in newest.items():
        # No job of the run started after E, so every Id it exported was created before E.
        if rid not in alive_at_e and rid not in deletions:
            problems["not of the tenant"].append(rid)
        if flagged:
            continue
        if deleted_before(rid, s_text):
            problems["deleted before S"].append(f"{rid} (deleted {deletions[rid]}, held at {version})")
        if rid in alive_at_s and version < alive_at_s[rid]:
            problems["older than at S"].append(f"{rid}: {version} < {alive_at_s[rid]}")
    for rid in alive_at_s:
        if deleted_before(rid, e_text):
            continue  # deleted while the run ran: it may or may not be there
        if rid not in newest or newest[rid][1]:
            problems["missing"].append(rid)

    broken = {k: v for k, v in problems.items() if v}
    for kind, items in broken.items():
        print(f"{label}: {len(items)} row(s) {kind}: " + ", ".join(items[:10]) + (" ..." if len(items) > 10 else ""),
              file=out)
    held = sum(1 for v in newest.values() if not v[1])
    excused = sum(1 for i in alive_at_s if deleted_before(i, e_text))
    print(f"{label}: {'BROKEN' if broken else 'ok'}: {held} rows held; {len(alive_at_s)} alive at S, "
          f"{excused} of them deleted before E", file=out)
    return not broken


def sink_parser():
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--object", required=True)
    p.add_argument("--label")
    p.add_argument("--sqlite")
    p.add_argument("--table")
    p.add_argument("--csv", nargs="+")
    p.add_argument("--id", required=True)
    p.add_argument("--updated", required=True)
    p.add_argument("--deleted")
    p.add_argument("--deleted-true", default="true")
    return p


def parse_sink(parser, argv):
    a = parser.parse_args(argv)
    if bool(a.sqlite) == bool(a.csv) or bool(a.sqlite) != bool(a.table):
        parser.error("give either --sqlite DB --table T or --csv FILE...")
    return a


def main():
    p = argparse.ArgumentParser(
        usage="%(prog)s --truth URL --start S --end E (--plan FILE | --object O ... SINK)",
        description="Judges sink content against the emulator's truth; see the module's docstring.")
    p.add_argument("--truth", required=True)
    p.add_argument("--start", required=True, type=instant)
    p.add_argument("--end", required=True, type=instant)
    p.add_argument("--plan")
    p.add_argument("--alive-throughout", metavar="OBJECT")
    a, rest = p.parse_known_args()
    if a.start > a.end:
        p.error(f"--start {a.start} is after --end {a.end}")
    if a.alive_throughout:
        try:
            at_end = truth(a.truth, a.end).of(a.alive_throughout)["live"]
            alive = [i for i in truth(a.truth, a.start).of(a.alive_throughout)["live"] if i in at_end]
        except bad_input as e:
            print(f"live_oracle: {e}", file=sys.stderr)
            return 2
        if not alive:
            print(f"live_oracle: no {a.alive_throughout} is alive from {a.start} to {a.end}", file=sys.stderr)
            return 1
        print(min(alive))
        return 0

    sink = sink_parser()
    sink.prog = p.prog
    if a.plan:
        if rest:
            p.error(f"--plan takes no per-sink options here: {rest}")
        try:
            text = sys.stdin.read() if a.plan == "-" else open(a.plan, encoding="utf-8").read()
        except OSError as e:
            p.error(f"--plan: {e}")
        lines = [l for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
        sinks = [parse_sink(sink, shlex.split(l)) for l in lines]
        if not sinks:
            p.error(f"--plan {a.plan} names no sink")
    else:
        sinks = [parse_sink(sink, rest)]

    oracle, at_end = truth(a.truth, a.start), truth(a.truth, a.end)
    s_text, e_text = as_version(a.start), as_version(a.end)
    kept = 0
    try:
        for s in sinks:
            label = s.label or f"{s.object} in {s.sqlite or ' '.join(s.csv)}"
            kept += judge(s, oracle.of(s.object), at_end.of(s.object), s_text, e_text, label, sys.stdout)
    except bad_input as e:
        print(f"live_oracle: {e}", file=sys.stderr)
        return 2
    print(f"live_oracle: {kept} of {len(sinks)} sink(s) keep the promise (S {a.start}, E {a.end})")
    return 0 if kept == len(sinks) else 1


if __name__ == "__main__":
    sys.exit(main())
