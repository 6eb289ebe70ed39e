#!/usr/bin/env bash
# PGP-encrypted results end to end (issue 20): `aquaduct emulate --pgp-public-key` encrypts
# every result file of a job with `encrypted: "pgp"`; a pipeline with encrypted = "pgp" and
# [source.pgp] loads the same rows as the same job without encryption, in csv, gzip and zip.
# Against the wrong key or passphrase it exits 1 naming the file, and commits nothing.
# Keys are made here with gpg, in a throwaway GNUPGHOME; no private key is committed.
# Usage: pgp_test.sh AQUADUCT_BINARY
set -u
bin=$(realpath "$1")
work=$(mktemp -d)
export GNUPGHOME="$work/gnupg"
trap 'stop_emulators; gpgconf --kill gpg-agent >/dev/null 2>&1; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"
mkdir -m 700 "$GNUPGHOME"

make_key() {  # make_key NAME PASSPHRASE: $work/NAME.pub, $work/NAME.sec (armoured)
  gpg --batch -q --pinentry-mode loopback --passphrase "$2" \
      --quick-gen-key "$1 <$1@aquaduct.invalid>" rsa3072 default never >/dev/null 2>&1
  gpg --batch -q --pinentry-mode loopback --passphrase "$2" --quick-add-key \
      "$(gpg --batch --with-colons --list-keys "$1@aquaduct.invalid" 2>/dev/null | awk -F: '/^fpr/ {print $10; exit}')" \
      rsa3072 encr never >/dev/null 2>&1
  gpg --batch -q --export "$1@aquaduct.invalid" >"$work/$1.pub"
  gpg --batch -q --pinentry-mode loopback --passphrase "$2" --armor --export-secret-keys "$1@aquaduct.invalid" \
      >"$work/$1.sec"
}
make_key tenant "tenant pass phrase"
make_key stranger "tenant pass phrase"
check "gpg made the tenant's key pair" test -s "$work/tenant.pub" -a -s "$work/tenant.sec"

start_emulator url --scale 30 --latency-ms 20 --pgp-public-key "$work/tenant.pub" || exit 1

pipeline() {  # pipeline FILE KEY_FILE SUFFIX [FORMATS]: an encrypted and a plain job per format, csv sink out<SUFFIX>
  {
    printf '[source]\nbase_url = "%s"\n' "$url"
    printf '[source.auth]\ntype = "basic"\nusername = "aquaduct"\npassword = "aquaduct"\n'
    printf '[source.poll]\ninitial_ms = 20\nmax_ms = 200\n'
    printf '[source.retry]\nmax_attempts = 2\ninitial_ms = 10\n'
    printf '[source.pgp]\nprivate_key_file = "%s"\npassphrase = "${PGP_PASSPHRASE}"\n' "$2"
    for f in ${4:-csv gzip zip}; do
      printf '[[jobs]]\nname = "enc_%s"\nformat = "%s"\nencrypted = "pgp"\n' "$f" "$f"
      printf '[[jobs.queries]]\nname = "Account"\nquery = "select Id, Name, Balance, UpdatedDate from Account"\n'
      printf '[[jobs]]\nname = "plain_%s"\nformat = "%s"\n' "$f" "$f"
      printf '[[jobs.queries]]\nname = "Account"\nquery = "select Id, Name, Balance, UpdatedDate from Account"\n'
    done
    printf '[[sinks]]\ntype = "csv"\npath = "%s"\n' "$work/out$3"
  } >"$1"
}

pipeline "$work/good.toml" "$work/tenant.sec" good
PGP_PASSPHRASE="tenant pass phrase" "$bin" run "$work/good.toml" --state-dir "$work/state-good" \
  --report "$work/good.json" 2>"$work/good.err"
check "the encrypted pipeline exits 0 ($(tail -3 "$work/good.err"))" test $? -eq 0
for f in csv gzip zip; do
  # 30 accounts, some names with a line break inside quotes: at least 31 lines
  check "$f: the encrypted job loads rows" test "$(wc -l <"$work/outgood/enc_$f/Account.csv")" -ge 31
  check "$f: the same rows as without encryption" cmp -s "$work/outgood/enc_$f/Account.csv" "$work/outgood/plain_$f/Account.csv"
done
# The files on the wire really were encrypted: the service says so, and a file is an OpenPGP message.
enc_id=$(jq -r '.jobs[] | select(.name == "enc_gzip") | .job_id' "$work/good.json")
check "the job JSON says encrypted: pgp" \
  jq_true -r '.encrypted == "pgp"' <(curl -s -u aquaduct:aquaduct "$url/v1/batch-query/jobs/$enc_id")
file_id=$(curl -s -u aquaduct:aquaduct "$url/v1/batch-query/jobs/$enc_id" | jq -r '.batches[0].fileId')
curl -s -u aquaduct:aquaduct "$url/v1/file/$file_id" -o "$work/downloaded.pgp"
check "the result file is an OpenPGP message for the tenant's key (gpg decrypts it to gzip)" \
  bash -c "gpg --batch -q --pinentry-mode loopback --passphrase 'tenant pass phrase' -d '$work/downloaded.pgp' 2>/dev/null | gzip -t"
check "the passphrase never appears in the log" bash -c "! grep -q 'tenant pass phrase' '$work/good.err'"

refused() {  # refused NAME KEY PASSPHRASE MESSAGE: exit 1, the file named, nothing committed
  local name=$1
  pipeline "$work/$name.toml" "$2" "$name" gzip
  PGP_PASSPHRASE="$3" "$bin" run "$work/$name.toml" --state-dir "$work/state-$name" 2>"$work/$name.err"
  check "$name: exits 1" test $? -eq 1
  check "$name: the error names job, query and file, and says why" \
    grep -qE "error: job enc_gzip, query Account, file [0-9a-f]{32}: $4" "$work/$name.err"
  check "$name: no encrypted job's file is published" \
    bash -c "! ls '$work/out$name'/enc_*/Account.csv >/dev/null 2>&1"
  check "$name: no cursor for an encrypted job" bash -c "! ls '$work/state-$name'/enc_* >/dev/null 2>&1"
}
refused wrong_key "$work/stranger.sec" "tenant pass phrase" "PGP message is not encrypted for the configured private key"
refused wrong_passphrase "$work/tenant.sec" "not the pass phrase" "PGP private key matches, but the passphrase does not unlock it"

# A key file that is no key: refused before any request, naming the file.
echo "not a key" >"$work/junk.sec"
pipeline "$work/junk.toml" "$work/junk.sec" junk
PGP_PASSPHRASE=x "$bin" run "$work/junk.toml" --state-dir "$work/state-junk" 2>"$work/junk.err"
check "a key file that is no key exits 2" test $? -eq 2
check "... naming it" grep -q "private_key_file \"$work/junk.sec\": not an OpenPGP secret key" "$work/junk.err"

# encrypted = "pgp" without [source.pgp]: validate says so at FILE:LINE:COL.
grep -v '^\[source.pgp\]\|^private_key_file\|^passphrase' "$work/good.toml" >"$work/nokey.toml"
"$bin" validate "$work/nokey.toml" >"$work/nokey.out" 2>&1
check "encrypted = pgp without [source.pgp] fails validate" test $? -ne 0
check "... at FILE:LINE:COL" grep -q "nokey.toml:[0-9]*:[0-9]*: encrypted = \"pgp\" needs \[source.pgp\] private_key_file" "$work/nokey.out"

finish pgp
