// PGP decryption as a content decoder (decode/pgp_decoder.hpp), on messages
// gpg encrypts at test time to keys gpg makes at test time.
#include "decode/pgp_decoder.hpp"

#include "decode/decode_error.hpp"

#include "support/decoder_drive.hpp"
#include "support/gzip_bytes.hpp"
#include "support/pgp_keys.hpp"

#include <doctest/doctest.h>

#include <thread>
#include <vector>

using namespace aquaduct::decode;
using aquaduct::test::outcome;
using aquaduct::test::pgp_keys;

namespace {

// Pieces of `piece` bytes through an output buffer of `out_size`.
outcome run(content_decoder& d, const std::string& in, std::size_t piece, std::size_t out_size) {
  return aquaduct::test::decode(d, in, piece, out_size);
}

std::string csv_text(std::size_t rows) {
  std::string s = "Account.Id,Account.Name\n";
  for (std::size_t i = 0; i < rows; ++i) s += std::to_string(i) + ",\"Name, " + std::to_string(i * 7) + "\"\n";
  return s;
}

std::shared_ptr<const pgp_secret_key> key_of(const pgp_keys& k, std::string passphrase) {
  return std::make_shared<const pgp_secret_key>(pgp_secret_key{k.secret_bytes(), std::move(passphrase)});
}

}  // namespace

TEST_CASE("pgp: csv and gzip inside, RSA and ECC keys, any input split, any output buffer") {
  for (const char* algo : {"rsa", "ecc"}) {
    CAPTURE(algo);
    const pgp_keys keys("s3cret pass", algo);
    const auto key = key_of(keys, keys.passphrase());
    CHECK(check_pgp_secret_key(*key).empty());
    const std::string plain = csv_text(3000);
    const std::string gz = aquaduct::test::gzip_bytes(plain);
    const std::string csv_msg = keys.encrypt(plain), gz_msg = keys.encrypt(gz);
    auto csv = make_pgp_decoder(make_identity_decoder(), key);
    auto gzip = make_pgp_decoder(make_gzip_decoder(), key);
    for (std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{512}, std::size_t{65536}, csv_msg.size()}) {
      for (std::size_t out_size : {std::size_t{1}, std::size_t{4096}}) {
        if (piece == 1 && out_size == 1) continue;  // covered by 7/1 in far less time
        CAPTURE(piece);
        CAPTURE(out_size);
        const outcome c = run(*csv, csv_msg, piece, out_size);
        CHECK_MESSAGE(!c.ec, c.ec.message());
        CHECK(c.out == plain);
        const outcome g = run(*gzip, gz_msg, piece, out_size);
        CHECK_MESSAGE(!g.ec, g.ec.message());
        CHECK(g.out == plain);
      }
    }
  }
}

TEST_CASE("pgp: a plaintext far larger than the decoder's buffer streams through in bounded memory") {
  const pgp_keys keys("");
  const std::string plain = csv_text(200000);  // ~5 MB, five times the decoder's 1 MiB hold
  auto d = make_pgp_decoder(make_identity_decoder(), key_of(keys, ""));
  const outcome o = run(*d, keys.encrypt(plain), 1u << 16, 256u << 10);
  CHECK_MESSAGE(!o.ec, o.ec.message());
  CHECK(o.out == plain);
}

// librnp decrypts ahead of the caller on its own thread, through two bounded
// queues: a caller that drains slowly holds back the ciphertext it may hand
// over, and a decoder reset or destroyed mid-message ends that thread
// wherever it waits (here it is left with a full plaintext queue).
TEST_CASE("pgp: ciphertext is taken only as the plaintext drains; reset or destroyed mid-message") {
  const pgp_keys keys("");
  const std::string plain = csv_text(200000);  // ~5 MB
  const std::string msg = keys.encrypt(plain);
  const auto key = key_of(keys, "");
  std::vector<char> out(4096);
  std::error_code ec;
  auto d = make_pgp_decoder(make_identity_decoder(), key);
  std::size_t taken = 0;
  std::string got;
  bool bounded = true;
  while (got.size() < (1u << 20)) {
    const auto r = d->put(std::string_view(msg).substr(taken), out, ec);
    REQUIRE_MESSAGE(!ec, ec.message());
    REQUIRE((r.consumed != 0 || r.produced != 0));
    taken += r.consumed;
    got.append(out.data(), r.produced);
    if (taken > got.size() + (3u << 20)) bounded = false;  // queues of 1 MiB each, and librnp's own buffers
  }
  CHECK(bounded);
  CHECK(taken < msg.size());  // ~5 MB: most of it still to come
  CHECK(got == plain.substr(0, got.size()));

  d->reset();  // mid-message: the same decoder then reads a whole message
  const outcome o = run(*d, msg, 65536, 65536);
  CHECK_MESSAGE(!o.ec, o.ec.message());
  CHECK(o.out == plain);

  for (std::size_t drained : {std::size_t{0}, std::size_t{1}}) {
    CAPTURE(drained);
    auto abandoned = make_pgp_decoder(make_identity_decoder(), key);
    std::size_t at = 0;
    for (std::size_t i = 0; i <= drained; ++i) {
      const auto r = abandoned->put(std::string_view(msg).substr(at), out, ec);
      CHECK(!ec);
      at += r.consumed;
    }
  }  // destroyed here, librnp's thread anywhere: the test ends, so the thread did
}

TEST_CASE("pgp: wrong key, wrong passphrase, tampered, truncated and not PGP each have their own error") {
  const pgp_keys keys("right");
  const pgp_keys other("right");
  const std::string plain = csv_text(2000);
  const std::string msg = keys.encrypt(plain);
  auto d = make_pgp_decoder(make_identity_decoder(), key_of(keys, "right"));
  REQUIRE(!run(*d, msg, 4096, 4096).ec);

  auto wrong_key = make_pgp_decoder(make_identity_decoder(), key_of(other, "right"));
  CHECK(run(*wrong_key, msg, 4096, 4096).ec == errc::pgp_no_key);

  auto wrong_pass = make_pgp_decoder(make_identity_decoder(), key_of(keys, "wrong"));
  CHECK(run(*wrong_pass, msg, 4096, 4096).ec == errc::pgp_bad_passphrase);

  // A flipped byte in the encrypted data (past the session-key packet): the
  // integrity check fails at the end, whatever plaintext came before.
  for (std::size_t at : {msg.size() / 2, msg.size() - 5}) {
    CAPTURE(at);
    std::string tampered = msg;
    tampered[at] = static_cast<char>(tampered[at] ^ 0x20);
    const outcome t = run(*d, tampered, 4096, 4096);
    CHECK(t.ec == errc::pgp_integrity);
  }

  for (std::size_t cut : {msg.size() - 1, msg.size() - 30, msg.size() / 2, std::size_t{600}}) {
    CAPTURE(cut);
    const outcome t = run(*d, msg.substr(0, cut), 4096, 4096);
    CHECK(t.ec == errc::pgp_truncated);  // the packet framing shows the message was cut
  }

  // Tampered gzip inside: the garbage breaks the gzip stream long before the
  // end, yet the verdict is the integrity check's, not gzip's.
  const std::string gz_msg = keys.encrypt(aquaduct::test::gzip_bytes(plain));
  std::string gz_tampered = gz_msg;
  gz_tampered[gz_msg.size() / 2] = static_cast<char>(gz_tampered[gz_msg.size() / 2] ^ 0x01);
  auto gz = make_pgp_decoder(make_gzip_decoder(), key_of(keys, "right"));
  CHECK(run(*gz, gz_tampered, 4096, 4096).ec == errc::pgp_integrity);
  // A genuine message whose gzip is bad keeps gzip's own verdict.
  auto not_gz = make_pgp_decoder(make_gzip_decoder(), key_of(keys, "right"));
  CHECK(run(*not_gz, msg, 4096, 4096).ec == errc::gzip_corrupt);

  const outcome junk = run(*d, plain, 4096, 4096);
  CHECK(junk.ec == errc::pgp_corrupt);

  CHECK_FALSE(check_pgp_secret_key(pgp_secret_key{"not a key", ""}).empty());
  CHECK_FALSE(check_pgp_secret_key(pgp_secret_key{[&] {
                                                    std::ifstream f(keys.public_file(), std::ios::binary);
                                                    return std::string(std::istreambuf_iterator<char>(f), {});
                                                  }(),
                                                  ""})
                  .empty());  // a public key is not a secret key
}

// pgp_secret_key::contexts hands each decoder a librnp context of its own,
// unlocked once and reused: decoders of one key at once on several threads
// (as parallel downloads run them) each get their own file's plaintext.
TEST_CASE("pgp: decoders sharing a key run at once on threads, each file decrypted right") {
  const pgp_keys keys("shared pass");
  const auto key = key_of(keys, keys.passphrase());
  std::vector<std::string> plains, msgs;
  for (int i = 0; i < 4; ++i) {
    plains.push_back(csv_text(500 + 100 * static_cast<std::size_t>(i)));
    msgs.push_back(keys.encrypt(aquaduct::test::gzip_bytes(plains.back())));
  }
  std::vector<std::string> got(4 * 3);
  std::vector<std::error_code> errs(4 * 3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto d = make_pgp_decoder(make_gzip_decoder(), key);
      for (int round = 0; round < 3; ++round) {  // the same decoder again: reset, a pooled context
        const auto i = static_cast<std::size_t>((t + round) % 4);
        const outcome o = run(*d, msgs[i], 4096, 4096);
        got[static_cast<std::size_t>(t * 3 + round)] = o.out;
        errs[static_cast<std::size_t>(t * 3 + round)] = o.ec;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) {
    for (int round = 0; round < 3; ++round) {
      CAPTURE(t);
      CAPTURE(round);
      const auto k = static_cast<std::size_t>(t * 3 + round);
      CHECK_MESSAGE(!errs[k], errs[k].message());
      CHECK(got[k] == plains[static_cast<std::size_t>((t + round) % 4)]);
    }
  }
  // A wrong passphrase for the same key bytes is still found, contexts or not.
  auto wrong = make_pgp_decoder(make_gzip_decoder(), key_of(keys, "not it"));
  CHECK(run(*wrong, msgs[0], 4096, 4096).ec == errc::pgp_bad_passphrase);
}
