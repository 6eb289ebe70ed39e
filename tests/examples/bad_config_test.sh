#!/usr/bin/env bash
# Drives every row of docs/config.md's "Bad configs and their errors" table against the
# binary, read from the doc itself so that table and behaviour cannot drift apart: for each
# row, p.toml is the doc's base pipeline with the row's change, the row's command runs
# as written (`aquaduct` = the binary under test) in that directory, and the exit code and
# the line shown must be what the binary gives. The emulator the table assumes on port
# 8080 runs on a free port instead, substituted in p.toml and in the expected line.
# Usage: bad_config_test.sh AQUADUCT_BINARY SOURCE_DIR
set -u
bin=$(realpath "$1")
src=$(realpath "$2")
work=$(mktemp -d)
trap 'kill "${EMU_PID:-}" 2>/dev/null; rm -rf "$work"' EXIT

coproc EMU { exec "$bin" emulate --port 0; }
EMU_PID=$EMU_PID
read -t 30 -r line <&"${EMU[0]}"
url=${line#listening on }
if [ -z "$url" ]; then echo "FAILED: the emulator did not start"; exit 1; fi

# Each row's command sees these; a secret must never be printed.
export ZUORA_CLIENT_ID=aquaduct ZUORA_CLIENT_SECRET=never-printed-4f7c
mkdir -p "$work/bin"
ln -s "$bin" "$work/bin/aquaduct"

/usr/bin/python3 - "$src/docs/config.md" "$work" "$url" <<'PY'
import os, re, subprocess, sys

doc, work, url = sys.argv[1:4]
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(doc), "..", "tests", "support"))
from doc_table import doc_table
# the base pipeline: a complete file (its fence says so: "```toml p.toml")
base, rows, names = doc_table(doc, "Bad configs and their errors", "mistake")
base = base.splitlines()

# The mistakes issue 8 asks the table for: each must be a row.
required = ["a missing file", "bad TOML", "an unknown key", "a wrong type", "a job name of 33 characters",
            "offset_s = 4000", "partner without project", "an unreachable base_url", "bad credentials"]
failed = [f"the table has no row '{n}'" for n in required if n not in names]
passed = 0
env = dict(os.environ, PATH=os.path.join(work, "bin") + ":" + os.environ["PATH"])
secrets = [os.environ["ZUORA_CLIENT_SECRET"]]

# the base pipeline itself is fine
os.makedirs(os.path.join(work, "base"))
open(os.path.join(work, "base", "p.toml"), "w").write("\n".join(base) + "\n")
r = subprocess.run(["aquaduct", "validate", "p.toml"], cwd=os.path.join(work, "base"), env=env, capture_output=True, text=True)
if r.returncode != 0:
    failed.append("the base p.toml does not validate:\n" + r.stdout + r.stderr)

def spans(cell):
    return re.findall(r"`([^`]*)`", cell)

for n, row in enumerate(rows):
    cells = [c.strip() for c in row.strip().strip("|").split(" | ")]
    if len(cells) != 5:
        failed.append(f"row {n + 1}: {len(cells)} cells, not 5: {row}")
        continue
    name, change, command, code, expected = cells
    command, expected = spans(command)[0], spans(expected)[0].replace("http://127.0.0.1:8080", url)
    d = os.path.join(work, f"row{n + 1}")
    os.makedirs(d)
    lines = [l.replace("http://127.0.0.1:8080", url) for l in base]
    m = re.match(r"line (\d+) → (.*)", change)
    if m:
        i = int(m.group(1)) - 1
        lines[i:i + 1] = spans(m.group(2))
    elif change not in ("unchanged", "no p.toml"):
        failed.append(f"{name}: cannot read the change '{change}'")
        continue
    if change != "no p.toml":
        open(os.path.join(d, "p.toml"), "w").write("\n".join(lines) + "\n")
    # secrets a row's command sets itself must not be printed either
    row_secrets = secrets + re.findall(r"SECRET=(\S+)", command)
    try:
        r = subprocess.run(["bash", "-c", command], cwd=d, env=env, capture_output=True, text=True, timeout=120)
        out, rc = r.stdout + r.stderr, r.returncode
    except subprocess.TimeoutExpired:
        out, rc = "(timed out after 120 s)", None
    problems = []
    if str(rc) != code:
        problems.append(f"exit {rc}, the table says {code}")
    if expected not in out.splitlines():
        problems.append(f"no line '{expected}'")
    problems += [f"the secret '{s}' was printed" for s in row_secrets if s in out]
    if problems:
        failed.append(f"{name}: " + "; ".join(problems) + "\n--- output:\n" + out)
    else:
        passed += 1

for f in failed:
    print("FAILED:", f)
print(f"bad configs: {passed} rows passed, {len(failed)} failed")
sys.exit(1 if failed or passed < len(required) else 0)
PY
status=$?
kill -TERM "$EMU_PID"
wait "$EMU_PID"
EMU_PID=
exit "$status"
