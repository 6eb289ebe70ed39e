#!/usr/bin/env bash
# Drives every row of docs/reliability.md's "Bad input" table against the binary, read
# from the doc itself so that table and behaviour cannot drift apart. Each row runs the
# doc's base p.toml (its `format` and, for ZOQL rows, its query changed) against a fresh
# emulator with the row's fault rule armed, or against a raw TCP server answering every
# request with the row's bytes. The exit code must be the row's, the output must hold
# its line (`ID` stands for any id, `PORT` for the server's port, `<n>` for a number),
# nothing may be published under a final name, and a rerun without the fault must succeed.
# Usage: bad_input_test.sh AQUADUCT_BINARY SOURCE_DIR
set -u
bin=$(realpath "$1")
src=$(realpath "$2")
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

/usr/bin/python3 - "$bin" "$src/docs/reliability.md" "$work" <<'PY'
import json, os, re, socket, subprocess, sys, threading, urllib.request

binary, doc, work = sys.argv[1:4]
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(doc), "..", "tests", "support"))
from doc_table import doc_table
base, rows, names = doc_table(doc, "Bad input", "input")
kinds = {"HTTP": r"HTTP|Content-Length|body", "JSON": r"answer", "CSV": r"CSV", "gzip": r"gzip", "zip": r"zip", "PGP": r"PGP",
         "ZOQL": r"ZOQL", "describe": r"describe"}
failed, passed = [], 0
for kind, pattern in kinds.items():
    if not any(re.search(pattern, n) for n in names):
        failed.append(f"the table has no {kind} row")

pgp_home = os.path.join(work, "gnupg")  # throwaway keys for the `pgp` rows, made here by gpg
os.makedirs(pgp_home, mode=0o700)
pgp_env = dict(os.environ, GNUPGHOME=pgp_home)
def pgp_key(name):  # (public key file, armoured secret key file), passphrase "right pass"
    gpg = ["gpg", "--batch", "-q", "--pinentry-mode", "loopback", "--passphrase", "right pass"]
    uid = f"{name}@aquaduct.invalid"
    subprocess.run(gpg + ["--quick-gen-key", uid, "rsa3072", "default", "never"], env=pgp_env, check=True)
    fpr = [l.split(":")[9] for l in subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys", uid], env=pgp_env,
           capture_output=True, text=True).stdout.splitlines() if l.startswith("fpr")][0]
    subprocess.run(gpg + ["--quick-add-key", fpr, "rsa3072", "encr", "never"], env=pgp_env, check=True)
    pub, sec = os.path.join(work, name + ".pub"), os.path.join(work, name + ".sec")
    subprocess.run(gpg + ["--export", "-o", pub, uid], env=pgp_env, check=True)
    subprocess.run(gpg + ["--armor", "--export-secret-keys", "-o", sec, uid], env=pgp_env, check=True)
    return pub, sec
pgp_keys = {}
if any(re.search(r"\| pgp `", r) for r in rows):
    pgp_keys = {"tenant": pgp_key("tenant"), "stranger": pgp_key("stranger")}

def emulator(*extra):
    p = subprocess.Popen([binary, "emulate", "--port", "0", "--scale", "20", "--latency-ms", "20", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline().strip()
    assert line.startswith("listening on "), line
    return p, line[len("listening on "):]

def raw_server(reply):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    def serve():
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            with c:
                try:
                    c.recv(65536)
                    c.sendall(reply)
                except OSError:
                    pass
    threading.Thread(target=serve, daemon=True).start()
    return s, s.getsockname()[1]

typed_query = "select Id, Balance, UpdatedDate from Account"

def published(out_dir):  # files under their final name (not .-prefixed temporaries), rows committed to sqlite
    files = [os.path.join(d, f) for d, _, fs in os.walk(out_dir) for f in fs if not f.startswith(".")]
    db = os.path.join(out_dir, "typed.db")
    if db not in files:
        return files
    files.remove(db)
    import sqlite3
    con = sqlite3.connect(db)
    try:
        if con.execute("select count(*) from sqlite_master where name = 'billing__Account'").fetchone()[0]:
            n = con.execute("select count(*) from billing__Account").fetchone()[0]
            if n:
                files.append(f"{db}: billing__Account with {n} rows")
    finally:
        con.close()
    return [f for f in files if not f.startswith(db + "-")]  # its journal

def run(d, toml):
    open(os.path.join(d, "p.toml"), "w").write(toml)
    try:
        r = subprocess.run([binary, "run", "p.toml", "--state-dir", "state"], cwd=d, capture_output=True, text=True,
                           timeout=120)
        return r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired:
        return None, "(timed out after 120 s)"

for n, row in enumerate(rows):
    cells = [c.strip() for c in row.strip().strip("|").split(" | ")]
    if len(cells) != 5:
        failed.append(f"row {n + 1}: {len(cells)} cells, not 5: {row}")
        continue
    name, made_by, fmt, code, expected = cells
    expected = re.findall(r"`([^`]*)`", expected)[0]
    how, what = made_by.split(" ", 1)
    what = re.findall(r"`([^`]*)`", what)[0]
    d = os.path.join(work, f"row{n + 1}")
    os.makedirs(d)
    toml = base.replace('format = "csv"', f'format = "{fmt}"')
    emu, url, server = None, None, None
    if how == "server":
        server, port = raw_server(what.encode().decode("unicode_escape").encode("latin-1"))
        url = f"http://127.0.0.1:{port}"
        toml = toml.replace("[source]\n", "[source]\ndescribe = false\n", 1)  # its bytes answer the job calls
    elif how == "pgp":  # encrypted results: the key, the passphrase or a fault rule, as JSON
        spec = json.loads(what)
        emu, url = emulator("--pgp-public-key", pgp_keys["tenant"][0])
        if "fault" in spec:
            urllib.request.urlopen(url + "/_emulator/faults", data=json.dumps({"rules": [spec]}).encode())
        key_file = pgp_keys[spec.get("key", "tenant")][1] if spec.get("key") != "junk" else os.path.join(d, "junk.sec")
        if spec.get("key") == "junk":
            open(key_file, "w").write("not a key\n")
        toml = toml.replace("[[jobs]]\n", f'[source.pgp]\nprivate_key_file = "{key_file}"\n'
                            f'passphrase = "{spec.get("passphrase", "right pass")}"\n[[jobs]]\n', 1)
        toml = toml.replace(f'format = "{fmt}"', f'format = "{fmt}"\nencrypted = "pgp"')
        how = "rule" if "fault" in spec else how
    else:
        emu, url = emulator()
        if how == "rule":
            urllib.request.urlopen(url + "/_emulator/faults", data=json.dumps({"rules": [json.loads(what)]}).encode())
        elif how == "query":
            toml = re.sub(r'query = ".*"', f'query = "{what}"', toml)
        elif how == "typed":  # a rule, with the typed query and an sqlite sink (the doc's text says which)
            urllib.request.urlopen(url + "/_emulator/faults", data=json.dumps({"rules": [json.loads(what)]}).encode())
            toml = re.sub(r'query = ".*"', f'query = "{typed_query}"', toml)
            toml = toml.replace('type = "csv"\npath = "out"', 'type = "sqlite"\npath = "out/typed.db"')
        else:
            failed.append(f"{name}: cannot read '{made_by}'")
            continue
    toml = toml.replace("http://127.0.0.1:8080", url)
    rc, out = run(d, toml)
    pattern = re.escape(expected).replace("ID", "[0-9a-f]+").replace("PORT", "[0-9]+").replace(re.escape("<n>"), "[0-9]+")
    problems = []
    if str(rc) != code:
        problems.append(f"exit {rc}, the table says {code}")
    if not any(re.fullmatch(pattern, l) for l in out.splitlines()):
        problems.append(f"no line '{expected}'")
    if published(os.path.join(d, "out")):
        problems.append(f"files published: {published(os.path.join(d, 'out'))}")
    if emu and how == "rule":  # the fault fired once: the same run again goes through
        rc2, out2 = run(d, toml)
        if rc2 != 0:
            problems.append(f"the rerun without the fault exits {rc2}:\n{out2}")
    if emu:
        emu.terminate()
        emu.wait()
    if server:
        server.close()
    if problems:
        failed.append(f"{name}: " + "; ".join(problems) + "\n--- output:\n" + out)
    else:
        passed += 1

if pgp_keys:
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=pgp_env)
for f in failed:
    print("FAILED:", f)
print(f"bad input: {passed} rows passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
PY
