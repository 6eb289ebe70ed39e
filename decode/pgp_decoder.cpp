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

// The two queues between the caller and librnp's thread (pgp_decoder.hpp).
constexpr std::size_t cipher_capacity = 1u << 20;  // ciphertext queued for librnp
constexpr std::size_t plain_capacity = 1u << 20;   // plaintext queued for the caller
// librnp's thread is woken for this much ciphertext (or the end of input), and,
// when the plaintext queue was full, once this much room is free: each wake
// then moves tens of KiB, not the few bytes a caller's put may carry.
constexpr std::size_t read_batch = 64u << 10;
constexpr std::size_t room_wake = plain_capacity / 4;

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

// A ring of bytes between one writing and one reading thread. Its indices
// change only under the decoder's mutex; the bytes themselves are copied
// outside it, each side in the region it was handed (the writer's free region
// and the reader's filled region never overlap, and neither moves until its
// own side calls push or pop).
class byte_ring {
 public:
  explicit byte_ring(std::size_t capacity) : capacity_(capacity) {}

  // The bytes are allocated on first use, untouched until written, and kept
  // across reset(); memory is the capacity at most.
  void allocate() {
    if (!bytes_) bytes_.reset(new char[capacity_]);
  }
  void clear() { head_ = size_ = 0; }

  std::size_t size() const { return size_; }
  std::size_t room() const { return capacity_ - size_; }
  // The oldest bytes, as far as they run without wrapping.
  std::string_view filled() const { return {bytes_.get() + head_, std::min(size_, capacity_ - head_)}; }
  // Free space after the newest byte, as far as it runs without wrapping.
  std::span<char> free_space() const {
    const std::size_t tail = (head_ + size_) % capacity_;
    return {bytes_.get() + tail, std::min(room(), capacity_ - tail)};
  }
  void pop(std::size_t n) {
    head_ = (head_ + n) % capacity_;
    size_ -= n;
  }
  void push(std::size_t n) { size_ += n; }

 private:
  std::unique_ptr<char[]> bytes_;
  std::size_t capacity_, head_ = 0, size_ = 0;
};

class pgp_decoder final : public content_decoder {
 public:
  pgp_decoder(std::unique_ptr<content_decoder> inner, std::shared_ptr<const pgp_secret_key> key)
      : inner_(std::move(inner)), key_(std::move(key)) {}

  ~pgp_decoder() override { stop(); }

  decode_result put(std::string_view in, std::span<char> out, std::error_code& ec) override {
    ec.clear();
    decode_result r;
    if (failed_) {
      ec = failure_;
      return r;
    }
    if (!started_) start();
    const bool end = in.empty();
    for (;;) {
      // Ciphertext in, as much as the queue has room for; or the end of input.
      if (!feed(in, r.consumed, end)) {
        ec = failure_;
        return r;
      }
      // Plaintext out, through the inner decoder, as much as `out` takes.
      const bool pending = drain(out.subspan(r.produced), r.produced);
      if (r.produced > 0 || pending || (!end && r.consumed > 0)) return r;
      // No progress without librnp: wait until it writes plaintext, makes
      // room for the rest of `in`, or ends.
      std::unique_lock lock(mu_);
      if (plain_.size() > 0) continue;
      if (done_) {
        if (end) break;
        continue;  // bytes after the message: feed() drops them
      }
      const std::size_t left = in.size() - r.consumed;
      caller_wants_room_ = left == 0 ? 0 : std::min(left, cipher_capacity / 4);
      caller_waiting_ = true;
      cv_caller_.wait(lock, [this] {
        return plain_.size() > 0 || done_ || (caller_wants_room_ > 0 && cipher_.room() >= caller_wants_room_);
      });
      caller_waiting_ = false;
    }
    // The input has ended, librnp is done, its plaintext all passed on.
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
    const decode_result d = inner_->put({}, out.subspan(r.produced), ec);
    r.produced += d.produced;
    return r;
  }

  void finish(std::error_code& ec) override {
    ec.clear();
    if (failed_) {
      ec = failure_;
      return;
    }
    bool whole = false;
    {
      std::lock_guard lock(mu_);
      whole = eof_ && done_ && plain_.size() == 0;
    }
    if (!whole || !result_checked_) {
      // finish() without the flush calls: the end of the message was never seen.
      ec = errc::pgp_truncated;
      return;
    }
    inner_->finish(ec);
  }

  void reset() override {
    stop();
    inner_->reset();
    cipher_.clear();
    plain_.clear();
    total_in_ = 0;
    first_byte_ = 0;
    framing_.reset();
    started_ = done_ = eof_ = abandon_ = failed_ = result_checked_ = password_asked_ = false;
    caller_waiting_ = false;
    caller_wants_room_ = 0;
    rnp_wait_ = rnp_wait::none;
    rnp_wants_ = 0;
    result_ = RNP_SUCCESS;
    failure_.clear();
    inner_error_.clear();
  }

  std::uint64_t total_in() const noexcept override { return total_in_; }

 private:
  // What the helper thread is blocked on, if anything.
  enum class rnp_wait { none, input, room };

  // Queues what of `in` past `at` the ciphertext queue has room for (all of
  // it once librnp has finished: bytes after the message are read by no
  // one), advancing `at`; with `end`, marks the end of input. False, with
  // the failure set, when librnp has failed and all it wrote has been passed
  // on: a wrong key is known from the first packet, so it is said now
  // rather than after the rest has been read.
  bool feed(std::string_view in, std::size_t& at, bool end) {
    std::unique_lock lock(mu_);
    if (done_ && result_ != RNP_SUCCESS && plain_.size() == 0 && !result_checked_) {
      lock.unlock();
      result_checked_ = true;
      fail(classify());
      return false;
    }
    if (end) {
      if (!eof_) {
        eof_ = true;
        if (rnp_wait_ == rnp_wait::input) cv_rnp_.notify_one();
      }
      return true;
    }
    if (done_) {
      count_in(in.substr(at));
      at = in.size();
      return true;
    }
    while (at < in.size()) {
      const std::span<char> room = cipher_.free_space();
      if (room.empty()) break;
      const std::size_t n = std::min(room.size(), in.size() - at);
      lock.unlock();
      std::memcpy(room.data(), in.data() + at, n);
      count_in(in.substr(at, n));
      lock.lock();
      cipher_.push(n);
      at += n;
    }
    if (rnp_wait_ == rnp_wait::input && cipher_.size() >= rnp_wants_) cv_rnp_.notify_one();
    return true;
  }

  // Runs queued plaintext through the inner decoder into `out`, adding to
  // `produced`. When the inner decoder fails, the rest of the message is
  // still decrypted (and dropped): a tampered message must be reported as
  // tampered, not as the garbage it decrypts to, so its error waits for the
  // integrity check. True when plaintext is left that `out` had no room for.
  bool drain(std::span<char> out, std::size_t& produced) {
    std::size_t written = 0;
    for (;;) {
      std::string_view plain;
      {
        std::lock_guard lock(mu_);
        plain = plain_.filled();
      }
      if (plain.empty()) break;
      std::size_t used = inner_error_ ? plain.size() : 0;
      while (used < plain.size() && written < out.size()) {
        std::error_code ec;
        const decode_result d = inner_->put(plain.substr(used), out.subspan(written), ec);
        used += d.consumed;
        written += d.produced;
        if (ec) {
          inner_error_ = ec;
          used = plain.size();
          break;
        }
        if (d.consumed == 0 && d.produced == 0) break;
      }
      {
        std::lock_guard lock(mu_);
        plain_.pop(used);
        if (rnp_wait_ == rnp_wait::room && plain_.room() >= rnp_wants_) cv_rnp_.notify_one();
      }
      if (used < plain.size()) {
        produced += written;
        return true;
      }
    }
    produced += written;
    return false;
  }

  // The ciphertext's bytes as the caller hands them over, in order.
  void count_in(std::string_view bytes) {
    if (bytes.empty()) return;
    if (total_in_ == 0) first_byte_ = static_cast<unsigned char>(bytes.front());
    framing_.pass(bytes);
    total_in_ += bytes.size();
  }

  void start() {
    started_ = true;
    cipher_.allocate();
    plain_.allocate();
    worker_ = std::thread([this] { run(); });
  }

  // The helper thread: one rnp_decrypt over the whole message.
  void run() {
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
    cv_caller_.notify_all();
  }

  // librnp's input: waits for read_batch bytes of ciphertext (or what it
  // asked for, if less), or the end of input.
  static bool read(void* self_ptr, void* buf, std::size_t len, std::size_t* got) {
    auto* self = static_cast<pgp_decoder*>(self_ptr);
    *got = 0;
    if (len == 0) return true;
    std::unique_lock lock(self->mu_);
    self->rnp_wants_ = std::min(len, read_batch);
    if (self->cipher_.size() < self->rnp_wants_ && !self->eof_ && !self->abandon_) {
      self->rnp_wait_ = rnp_wait::input;
      self->cv_rnp_.wait(lock, [self] {
        return self->cipher_.size() >= self->rnp_wants_ || self->eof_ || self->abandon_;
      });
      self->rnp_wait_ = rnp_wait::none;
    }
    if (self->abandon_) return false;
    const std::string_view queued = self->cipher_.filled();
    const std::size_t n = std::min(len, queued.size());
    lock.unlock();
    if (n) std::memcpy(buf, queued.data(), n);
    lock.lock();
    self->cipher_.pop(n);
    if (self->caller_waiting_ && self->caller_wants_room_ > 0 && self->cipher_.room() >= self->caller_wants_room_)
      self->cv_caller_.notify_one();
    *got = n;  // 0: the end of input
    return true;
  }

  // librnp's output: queues the plaintext, waiting for room when the queue
  // is full (until room_wake bytes are free, so that the two threads do not
  // wake each other for every few bytes).
  static bool write(void* self_ptr, const void* buf, std::size_t len) {
    auto* self = static_cast<pgp_decoder*>(self_ptr);
    const char* bytes = static_cast<const char*>(buf);
    std::unique_lock lock(self->mu_);
    while (len > 0 && !self->abandon_) {
      self->rnp_wants_ = std::min(len, room_wake);
      if (self->plain_.room() < self->rnp_wants_) {
        self->rnp_wait_ = rnp_wait::room;
        self->cv_rnp_.wait(lock, [self] { return self->plain_.room() >= self->rnp_wants_ || self->abandon_; });
        self->rnp_wait_ = rnp_wait::none;
        continue;
      }
      const std::span<char> room = self->plain_.free_space();
      const std::size_t n = std::min(len, room.size());
      lock.unlock();
      std::memcpy(room.data(), bytes, n);
      lock.lock();
      self->plain_.push(n);
      bytes += n;
      len -= n;
      if (self->caller_waiting_) self->cv_caller_.notify_one();
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

  // Read by the caller once done_ is set (librnp has finished).
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

  // Ends the helper thread, whatever it is waiting for: librnp's next read
  // or write fails, and rnp_decrypt returns.
  void stop() {
    if (!worker_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      abandon_ = true;
      cv_rnp_.notify_all();
    }
    worker_.join();
  }

  // The caller's thread only.
  std::unique_ptr<content_decoder> inner_;
  std::shared_ptr<const pgp_secret_key> key_;
  std::uint64_t total_in_ = 0;
  unsigned char first_byte_ = 0;
  packet_framing framing_;
  bool started_ = false, failed_ = false, result_checked_ = false;
  std::error_code failure_;
  std::error_code inner_error_;  // the inner decoder failed: reported once the message is verified

  // Shared with the helper thread, under mu_ (the rings' bytes: see byte_ring).
  std::mutex mu_;
  std::condition_variable cv_caller_;  // the caller waits: for plaintext, room for ciphertext, or the end
  std::condition_variable cv_rnp_;     // the helper waits: for ciphertext (or its end), or room for plaintext
  byte_ring cipher_{cipher_capacity};  // caller -> librnp
  byte_ring plain_{plain_capacity};    // librnp -> caller
  bool caller_waiting_ = false;
  std::size_t caller_wants_room_ = 0;  // 0: the caller waits for plaintext or the end only
  rnp_wait rnp_wait_ = rnp_wait::none;
  std::size_t rnp_wants_ = 0;  // the ciphertext (input) or free plaintext room (room) the helper waits for
  bool eof_ = false, abandon_ = false, done_ = false, password_asked_ = false;
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
