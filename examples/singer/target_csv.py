#!/usr/bin/env python3
"""A tiny Singer target: one CSV file per stream, and the last STATE in a file.

    aquaduct run examples/singer.toml | python3 examples/singer/target_csv.py --out singer-out

It reads Singer messages (https://hub.meltano.com/singer/spec), one JSON object per
line, from stdin:

  SCHEMA  opens OUT/<stream>.csv with a header of the schema's properties, in order;
  RECORD  appends a row to its stream's file (null -> empty field, true/false as is);
  STATE   is kept; once stdin ends, every file is complete and the last STATE is
          written to the state file (default OUT/state.json) and echoed on stdout,
          as Singer targets do, so a scheduler can hand it to the next run.

Files are written under a temporary name and renamed when stdin ends, so a broken
pipe never leaves a half-written CSV under its final name. Anything malformed ends
the target with exit code 1 and a message naming the input line.

Only the standard library: real targets (target-postgres, target-snowflake, ...) read
the same stream the same way: `aquaduct run p.toml | target-postgres --config c.json`.
"""
import argparse
import csv
import json
import os
import sys


def fail(line_no, message):
    print(f"target_csv: stdin line {line_no}: {message}", file=sys.stderr)
    sys.exit(1)


def field(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def safe_name(stream):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stream).lstrip(".") or "_"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="directory for <stream>.csv (default: .)")
    parser.add_argument("--state", help="where the last STATE goes (default: OUT/state.json)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    state_path = args.state or os.path.join(args.out, "state.json")

    streams = {}  # stream -> (file, writer, columns, final path)
    state = None
    for line_no, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except json.JSONDecodeError as e:
            fail(line_no, f"not JSON: {e}")
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "SCHEMA":
            stream = msg.get("stream")
            columns = list(msg.get("schema", {}).get("properties", {}))
            if not stream or not columns:
                fail(line_no, "SCHEMA without a stream or properties")
            if stream in streams:
                if streams[stream][2] != columns:
                    fail(line_no, f"stream {stream}: a second SCHEMA with other columns")
                continue
            final = os.path.join(args.out, safe_name(stream) + ".csv")
            f = open(final + ".part", "w", newline="", encoding="utf-8")
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(columns)
            streams[stream] = (f, writer, columns, final)
        elif kind == "RECORD":
            stream = msg.get("stream")
            if stream not in streams:
                fail(line_no, f"RECORD for stream {stream!r} before its SCHEMA")
            _, writer, columns, _ = streams[stream]
            record = msg.get("record", {})
            unknown = set(record) - set(columns)
            if unknown:
                fail(line_no, f"stream {stream}: properties not in its SCHEMA: {sorted(unknown)}")
            writer.writerow([field(record.get(c)) for c in columns])
        elif kind == "STATE":
            state = msg.get("value")
        # other message types (ACTIVATE_VERSION, BATCH, ...) are not needed here

    for f, _, _, final in streams.values():
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(final + ".part", final)
    if state is not None:
        with open(state_path + ".part", "w", encoding="utf-8") as f:
            json.dump(state, f)
            f.write("\n")
        os.replace(state_path + ".part", state_path)
        print(json.dumps(state), flush=True)
    print(f"target_csv: {len(streams)} stream(s) written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
