#include "decode/pgp_decoder.hpp"

#include "decode/decode_error.hpp"

#include <rnp/rnp.h>
#include <rnp/rnp_err.h>

#include <stdlib.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <span>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace aquaduct::decode {

namespace {

constexpr std::size_t plain_limit = 1u << 20;  // plaintext held before librnp waits for the caller
constexpr std::size_t feed_step = 64u << 10;   // ciphertext handed to librnp per turn

struct ffi_handle {
  rnp_ffi_t ffi = nullptr;
  ~ffi_handle() {
    if (ffi) rnp_ffi_destroy(ffi);
  }
};

struct input_handle {
  rnp_input_t in = nullptr;
  ~input_handle() {
    if (in) rnp_input_destroy(in);
  }
};

struct output_handle {
  rnp_output_t out = nullptr;
  ~output_handle() {
    if (out) rnp_output_destroy(out);
  }
};

// librnp prints its internal diagnostics on stderr unless RNP_LOG_CONSOLE is
// "0"; our errors say what went wrong, in our log format. Set once, before
// librnp first reads it (a user's own setting is kept: RNP_LOG_CONSOLE=1
// brings them back).
void quiet_librnp() {
  static std::once_flag once;
  std::call_once(once, [] { ::setenv("RNP_LOG_CONSOLE", "0", 0); });
}

// A fresh librnp context holding `key`; the reason when the key cannot be read.
std::string load_key(ffi_handle& h, const pgp_secret_key& key) {
  quiet_librnp();
  if (rnp_ffi_create(&h.ffi, "GPG", "GPG") != RNP_SUCCESS) return "librnp could not start";
  input_handle in;
  if (rnp_input_from_memory(&in.in, reinterpret_cast<const std::uint8_t*>(key.key_bytes.data()),
                            key.key_bytes.size(), false) != RNP_SUCCESS)
    return "librnp could not read the key";
  if (rnp_load_keys(h.ffi, "GPG", in.in, RNP_LOAD_SAVE_SECRET_KEYS) != RNP_SUCCESS)
    return "not an OpenPGP secret key";
  std::size_t secret = 0;
  if (rnp_get_secret_key_count(h.ffi, &secret) != RNP_SUCCESS || secret == 0) return "it holds no secret key";
  return {};
}

// Unlocks every secret key and subkey `h` holds with `passphrase`, so that
// decrypting never asks for it. A key that will not unlock stays locked: the
// decrypt then asks the password provider, and the error says which it was.
void unlock_all(ffi_handle& h, const std::string& passphrase) {
  rnp_identifier_iterator_t it = nullptr;
  if (rnp_identifier_iterator_create(h.ffi, &it, "fingerprint") != RNP_SUCCESS) return;
  const char* fpr = nullptr;
  while (rnp_identifier_iterator_next(it, &fpr) == RNP_SUCCESS && fpr != nullptr) {
    rnp_key_handle_t k = nullptr;
    if (rnp_locate_key(h.ffi, "fingerprint", fpr, &k) != RNP_SUCCESS || k == nullptr) continue;
    bool secret = false, locked = false;
    if (rnp_key_have_secret(k, &secret) == RNP_SUCCESS && secret &&
        rnp_key_is_locked(k, &locked) == RNP_SUCCESS && locked)
      (void)rnp_key_unlock(k, passphrase.c_str());
    rnp_key_handle_destroy(k);
  }
  rnp_identifier_iterator_destroy(it);
}

}  // namespace

namespace detail {

// Idle librnp contexts holding one key, unlocked (pgp_secret_key::contexts).
// At most `keep` are kept; a context is returned only after a decrypt that
// succeeded, so a failure never leaves a context in an unknown state behind.
struct pgp_context_pool {
  static constexpr std::size_t keep = 16;
  std::mutex mu;
  std::vector<rnp_ffi_t> idle;
  ~pgp_context_pool() {
    for (rnp_ffi_t f : idle) rnp_ffi_destroy(f);
  }
};

std::shared_ptr<pgp_context_pool> new_pgp_context_pool() { return std::make_shared<pgp_context_pool>(); }

}  // namespace detail

namespace {

// A context holding `key`, unlocked when its passphrase is right: an idle one
// of the pool, or a fresh one. Null when the key cannot be read.
std::unique_ptr<ffi_handle> acquire_context(const pgp_secret_key& key) {
  if (key.contexts) {
    std::lock_guard lock(key.contexts->mu);
    if (!key.contexts->idle.empty()) {
      auto h = std::make_unique<ffi_handle>();
      h->ffi = key.contexts->idle.back();
      key.contexts->idle.pop_back();
      return h;
    }
  }
  auto h = std::make_unique<ffi_handle>();
  if (!load_key(*h, key).empty()) return nullptr;
  unlock_all(*h, key.passphrase);
  return h;
}

void release_context(const pgp_secret_key& key, std::unique_ptr<ffi_handle> h) {
  if (!h || !key.contexts) return;
  rnp_ffi_set_pass_provider(h->ffi, nullptr, nullptr);
  std::lock_guard lock(key.contexts->mu);
  if (key.contexts->idle.size() < detail::pgp_context_pool::keep)
    key.contexts->idle.push_back(std::exchange(h->ffi, nullptr));
}

// Follows the OpenPGP packet framing of the ciphertext as it passes (RFC 4880
// §4.2: old and new formats, partial body lengths), only to tell a message
// cut short from one whose bytes are all there but fail to decrypt: librnp
// reports both as a read error.
class packet_framing {
 public:
  void reset() { *this = packet_framing{}; }

  void pass(std::string_view bytes) {
    for (std::size_t i = 0; i < bytes.size();) {
      if (body_left_ > 0) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(body_left_, bytes.size() - i));
        body_left_ -= n;
        i += n;
        if (body_left_ == 0 && !partial_) state_ = state::tag;
        else if (body_left_ == 0) state_ = state::length;
        continue;
      }
      const auto c = static_cast<unsigned char>(bytes[i++]);
      switch (state_) {
        case state::tag:
          if ((c & 0x80) == 0) {
            state_ = state::broken;
          } else if (c & 0x40) {
            state_ = state::length;
          } else {  // old format: the length's size in the tag
            const unsigned type = c & 3u;
            if (type == 3) {
              state_ = state::broken;  // indeterminate: runs to the end, nothing to check
            } else {
              need_ = type == 0 ? 1 : type == 1 ? 2 : 4;
              value_ = 0;
              state_ = state::old_length;
            }
          }
          partial_ = false;
          break;
        case state::old_length:
          value_ = value_ << 8 | c;
          if (--need_ == 0) start_body(value_, false);
          break;
        case state::length:
          if (c < 192) start_body(c, false);
          else if (c < 224) {
            value_ = (c - 192u) << 8;
            state_ = state::two_octet;
          } else if (c == 255) {
            need_ = 4;
            value_ = 0;
            state_ = state::four_octet;
          } else {
            start_body(std::uint64_t{1} << (c & 0x1f), true);
          }
          break;
        case state::two_octet: start_body(value_ + c + 192, false); break;
        case state::four_octet:
          value_ = value_ << 8 | c;
          if (--need_ == 0) start_body(value_, false);
          break;
        case state::body:
        case state::broken: break;
      }
    }
  }

  // Every packet the bytes began has ended (and there was one).
  bool complete() const { return state_ == state::tag && seen_; }

 private:
  enum class state { tag, old_length, length, two_octet, four_octet, body, broken };
  void start_body(std::uint64_t n, bool partial) {
    seen_ = true;
    partial_ = partial;
    body_left_ = n;
    state_ = n > 0 ? state::body : partial ? state::length : state::tag;
  }
  state state_ = state::tag;
  std::uint64_t body_left_ = 0, value_ = 0;
  unsigned need_ = 0;
  bool partial_ = false, seen_ = false;
};

class pgp_decoder final : public content_decoder {
 public:
  pgp_decoder(std::unique_ptr<content_decoder> inner, std::shared_ptr<const pgp_secret_key> key)
      : inner_(std::move(inner)), key_(std::move(key)) {}

  ~pgp_decoder() override { stop(); }

  decode_result put(std::string_view in, std::span<char> out, std::error_code& ec) override {
    ec.clear();
    decode_result r;
    for (;;) {
      // Plaintext first, through the inner decoder. When the inner decoder
      // fails, the rest of the message is still decrypted (and dropped): a
      // tampered message must be reported as tampered, not as the garbage
      // it decrypts to, so its error waits for the integrity check.
      if (inner_error_) pos_ = plain_.size();
      while (pos_ < plain_.size() && r.produced < out.size()) {
        const decode_result d = inner_->put(std::string_view(plain_).substr(pos_), out.subspan(r.produced), ec);
        pos_ += d.consumed;
        r.produced += d.produced;
        if (ec) {
          inner_error_ = ec;
          ec.clear();
          pos_ = plain_.size();
          break;
        }
        if (d.consumed == 0 && d.produced == 0) break;
      }
      if (r.produced > 0 || pos_ < plain_.size()) return r;
      plain_.clear();
      pos_ = 0;
      // librnp gave up before the end of the input (a wrong key is known from
      // the first packet): say so now rather than read the rest.
      if (done_ && !result_checked_ && result_ != RNP_SUCCESS) {
        result_checked_ = true;
        fail(classify());
      }
      if (failed_) {
        ec = failure_;
        return r;
      }
      if (r.consumed < in.size()) {
        if (inner_error_ && r.produced == 0 && r.consumed > 0) return r;  // progress: keep the caller feeding
        std::string_view chunk = in.substr(r.consumed, std::min(feed_step, in.size() - r.consumed));
        if (total_in_ == 0) first_byte_ = static_cast<unsigned char>(chunk.front());
        const std::size_t before = chunk.size();
        turn(chunk, false);
        framing_.pass(in.substr(r.consumed, before - chunk.size()));
        r.consumed += before - chunk.size();
        total_in_ += before - chunk.size();
        continue;
      }
      if (!in.empty()) return r;  // all of `in` taken, its plaintext passed on
      // The input has ended: the rest of the message, then the inner flush.
      if (!done_) {
        std::string_view none;
        turn(none, true);
        continue;
      }
      if (!result_checked_) {
        result_checked_ = true;
        if (result_ != RNP_SUCCESS) {
          fail(classify());
          ec = failure_;
          return r;
        }
      }
      if (inner_error_) {  // the message is genuine: the inner format's own error stands
        failed_ = true;
        failure_ = inner_error_;
        ec = failure_;
        return r;
      }
      const decode_result d = inner_->put({}, out, ec);
      r.produced += d.produced;
      return r;
    }
  }

  void finish(std::error_code& ec) override {
    ec.clear();
    if (failed_) {
      ec = failure_;
      return;
    }
    if (!done_ || !result_checked_ || pos_ < plain_.size()) {
      // finish() without the flush calls: the end of the message was never seen.
      ec = errc::pgp_truncated;
      return;
    }
    inner_->finish(ec);
  }

  void reset() override {
    stop();
    inner_->reset();
    plain_.clear();
    pos_ = 0;
    total_in_ = 0;
    first_byte_ = 0;
    framing_.reset();
    started_ = done_ = eof_ = abandon_ = failed_ = result_checked_ = password_asked_ = false;
    result_ = RNP_SUCCESS;
    failure_.clear();
    inner_error_.clear();
  }

  std::uint64_t total_in() const noexcept override { return total_in_; }

 private:
  enum class side { caller, rnp };

  // Hands `chunk` (or the end of input) to librnp and waits until it gives
  // the turn back: it wants more input, holds plain_limit of plaintext, or is
  // done. `chunk` keeps what librnp has not read yet.
  void turn(std::string_view& chunk, bool eof) {
    if (done_) {  // bytes after the end of the message: nothing reads them
      chunk = {};
      return;
    }
    if (!started_) start();
    std::unique_lock lock(mu_);
    input_ = chunk;
    if (eof) eof_ = true;
    side_ = side::rnp;
    cv_.notify_all();
    cv_.wait(lock, [this] { return side_ == side::caller; });
    chunk = input_;
    input_ = {};
  }

  void start() {
    started_ = true;
    worker_ = std::thread([this] { run(); });
  }

  // The helper thread: one rnp_decrypt over the whole message.
  void run() {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return side_ == side::rnp; });
    }
    rnp_result_t rc = RNP_ERROR_GENERIC;
    if (auto ffi = acquire_context(*key_)) {
      rnp_ffi_set_pass_provider(ffi->ffi, &pgp_decoder::password, this);
      {
        input_handle in;
        output_handle out;
        if (rnp_input_from_callback(&in.in, &pgp_decoder::read, nullptr, this) == RNP_SUCCESS &&
            rnp_output_to_callback(&out.out, &pgp_decoder::write, nullptr, this) == RNP_SUCCESS)
          rc = rnp_decrypt(ffi->ffi, in.in, out.out);
      }
      if (rc == RNP_SUCCESS) release_context(*key_, std::move(ffi));
    }
    std::lock_guard lock(mu_);
    result_ = rc;
    done_ = true;
    side_ = side::caller;
    cv_.notify_all();
  }

  static bool read(void* self_ptr, void* buf, std::size_t len, std::size_t* got) {
    auto* self = static_cast<pgp_decoder*>(self_ptr);
    std::unique_lock lock(self->mu_);
    while (self->input_.empty() && !self->eof_ && !self->abandon_) {
      self->side_ = side::caller;
      self->cv_.notify_all();
      self->cv_.wait(lock, [self] { return self->side_ == side::rnp; });
    }
    if (self->abandon_) return false;
    const std::size_t n = std::min(len, self->input_.size());
    if (n) std::memcpy(buf, self->input_.data(), n);
    self->input_.remove_prefix(n);
    *got = n;
    return true;
  }

  static bool write(void* self_ptr, const void* buf, std::size_t len) {
    auto* self = static_cast<pgp_decoder*>(self_ptr);
    std::unique_lock lock(self->mu_);
    if (self->abandon_) return false;
    self->plain_.append(static_cast<const char*>(buf), len);
    if (self->plain_.size() >= plain_limit) {
      self->side_ = side::caller;
      self->cv_.notify_all();
      self->cv_.wait(lock, [self] { return self->side_ == side::rnp; });
    }
    return !self->abandon_;
  }

  static bool password(rnp_ffi_t, void* self_ptr, rnp_key_handle_t, const char*, char buf[], std::size_t buf_len) {
    auto* self = static_cast<pgp_decoder*>(self_ptr);
    self->password_asked_ = true;  // the helper thread's own flag until done_
    const std::string& p = self->key_->passphrase;
    if (p.size() + 1 > buf_len) return false;
    std::memcpy(buf, p.data(), p.size());
    buf[p.size()] = '\0';
    return true;
  }

  errc classify() const {
    switch (result_) {
      case RNP_ERROR_NO_SUITABLE_KEY:
      case RNP_ERROR_BAD_PASSWORD:
      case RNP_ERROR_KEY_NOT_FOUND:
        return password_asked_ ? errc::pgp_bad_passphrase : errc::pgp_no_key;
      case RNP_ERROR_READ:
      case RNP_ERROR_EOF:
      case RNP_ERROR_NOT_ENOUGH_DATA:
      case RNP_ERROR_SHORT_BUFFER:
      case RNP_ERROR_BAD_FORMAT:
      case RNP_ERROR_NOT_SUPPORTED:
        // An OpenPGP packet's first byte has its high bit set; armour starts with '-'.
        if (total_in_ == 0 || ((first_byte_ & 0x80) == 0 && first_byte_ != '-')) return errc::pgp_corrupt;
        // Every packet whole, yet unreadable: the bytes were changed, not cut.
        return framing_.complete() ? errc::pgp_integrity : errc::pgp_truncated;
      default:  // a failed MDC or AEAD check, or a message that ended inside a packet
        return framing_.complete() ? errc::pgp_integrity : errc::pgp_truncated;
    }
  }

  void fail(errc e) {
    failed_ = true;
    failure_ = make_error_code(e);
  }

  // Ends the helper thread, whatever it is waiting for.
  void stop() {
    if (!worker_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      abandon_ = true;
      side_ = side::rnp;
      cv_.notify_all();
    }
    worker_.join();
  }

  std::unique_ptr<content_decoder> inner_;
  std::shared_ptr<const pgp_secret_key> key_;
  std::string plain_;  // decrypted, not yet through the inner decoder (<= plain_limit + one write)
  std::size_t pos_ = 0;
  std::uint64_t total_in_ = 0;
  unsigned char first_byte_ = 0;
  packet_framing framing_;
  bool failed_ = false, result_checked_ = false;
  std::error_code failure_;
  std::error_code inner_error_;  // the inner decoder failed: reported once the message is verified

  std::mutex mu_;
  std::condition_variable cv_;
  side side_ = side::caller;
  std::string_view input_;
  bool started_ = false, eof_ = false, abandon_ = false, done_ = false, password_asked_ = false;
  rnp_result_t result_ = RNP_SUCCESS;
  std::thread worker_;
};

}  // namespace

std::string check_pgp_secret_key(const pgp_secret_key& key) {
  quiet_librnp();
  ffi_handle ffi;
  return load_key(ffi, key);
}

std::unique_ptr<content_decoder> make_pgp_decoder(std::unique_ptr<content_decoder> inner,
                                                  std::shared_ptr<const pgp_secret_key> key) {
  return std::make_unique<pgp_decoder>(std::move(inner), std::move(key));
}

}  // namespace aquaduct::decode
