#pragma once
// OpenPGP decryption as one more content decoder, in front of gzip, zip or
// csv (docs/architecture.md, "PGP-encrypted results"): the result file is the
// service's formatted file (csv, gzip or zip), encrypted. Decryption runs in
// librnp, in process, streaming: no keyring, no agent, no temporary file.
//
// librnp pulls its input and pushes its output through callbacks, so it runs
// on a helper thread, AHEAD of the caller: two bounded queues sit between
// them. put() copies ciphertext into the first (at most 1 MiB) and runs
// plaintext from the second (at most 1 MiB) through the inner decoder on the
// caller's thread, while librnp, on its own, reads the first and fills the
// second. With a spare core, librnp decrypts the next chunk while the caller
// inflates and parses the previous one: the elapsed time is that of the
// slower side, not the sum. The work is the same (CPU seconds did not fall:
// two busy cores each ran slower than one alone; bench/pgp_bench.cpp prints
// both ratios, docs/performance.md has the figures). Backpressure both
// ways: put() takes only what the ciphertext queue has room for, and blocks
// only when it can neither take input nor hand out plaintext; librnp's
// thread blocks when the plaintext queue is full (and when it has no
// ciphertext). Memory: the two queues, 2 MiB, allocated on the
// first put and kept across reset(), whatever the file's size. Destroying or
// resetting the decoder mid-stream ends the helper thread wherever it waits.
//
// INTEGRITY: the message's integrity check (MDC or AEAD tag) can only be
// checked at the end of the stream, so plaintext reaches the caller before it
// is known to be genuine. finish() sets errc::pgp_integrity (or another pgp_
// error) when the check fails: THE CALLER MUST NOT COMMIT ANYTHING FROM THE
// FILE BEFORE finish() HAS SUCCEEDED. result_pipeline commits only after
// end_file(), which calls it. A message without integrity protection (the
// old "symmetrically encrypted data" packet) is refused.
//
// put() with empty input means the input has ended (the content_decoder
// contract's flush calls): the end of the message is then decrypted.
#include "decode/content_decoder.hpp"

#include <memory>
#include <string>

namespace aquaduct::decode {

namespace detail {
struct pgp_context_pool;
std::shared_ptr<pgp_context_pool> new_pgp_context_pool();
}  // namespace detail

// A private key (binary or ASCII-armoured transferable secret key, as
// `gpg --export-secret-keys` writes it) and its passphrase (empty: none).
// Loaded once, shared by every decoder of a run. Holds the secret: never log it.
struct pgp_secret_key {
  std::string key_bytes;
  std::string passphrase;
  // librnp contexts holding this key already unlocked, kept between files:
  // unlocking (the passphrase's iterated key derivation) and the key's checks
  // cost ~0.1 s of CPU, more than decrypting 20 MB, so a run pays them once
  // per concurrent decoder, not once per file. Copies share it: do not change
  // key_bytes or passphrase after the first decoder has used them.
  std::shared_ptr<detail::pgp_context_pool> contexts = detail::new_pgp_context_pool();
};

// Checks that `key` holds a secret key librnp can read; the reason when not,
// else "". Does not check the passphrase (that needs a message).
std::string check_pgp_secret_key(const pgp_secret_key& key);

// Decrypts, then hands the plaintext to `inner` (identity, gzip or zip).
std::unique_ptr<content_decoder> make_pgp_decoder(std::unique_ptr<content_decoder> inner,
                                                  std::shared_ptr<const pgp_secret_key> key);

}  // namespace aquaduct::decode
